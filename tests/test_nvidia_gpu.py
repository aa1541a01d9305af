"""nvidia-gpu on a real GPU with TensorRT: build, run and pass parity at fp32 / fp16 / int8, the
engine cache on a second load, the profile and thread rules. Skipped, with the reason, elsewhere."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit
from edgekit.backends.tensorrt.probe import probe
from edgekit.errors import InputError
from examples.zoo import SMALL_MODELS

REASON = probe()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(REASON is not None, reason=f"nvidia-gpu unavailable: {REASON}")]

# The CNN and the transformer encoder at their example shapes (batch dynamic in both), and an MLP
# whose batch range is given explicitly: the three shapes of model the issue asks for.
MODELS = {
    "cnn": (SMALL_MODELS["cnn"], None),
    "transformer": (SMALL_MODELS["transformer"], None),
    "dynamic_batch": (SMALL_MODELS["mlp"], ["x:0:1:4:64"]),
}


def _data(example: tuple[torch.Tensor, ...], names: list[str], n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        record = {}
        for name, t in zip(names, example):
            a = t.numpy()
            record[name] = (rng.integers(0, int(a.max()) + 1, size=a.shape).astype(a.dtype)
                            if np.issubdtype(a.dtype, np.integer) else rng.standard_normal(a.shape).astype(a.dtype))
        records.append(record)
    return records


def _compile(name: str, precision: str, out: Path) -> tuple[edgekit.Artifact, tuple]:
    make, dynamic = MODELS[name]
    module, example, default_dynamic = make()
    import inspect

    names = list(inspect.signature(module.forward).parameters)[: len(example)]
    art = edgekit.compile(module, example, target="nvidia-gpu", precision=precision,
                          dynamic=dynamic or default_dynamic, eval_data=_data(example, names, 16, 2),
                          calibration=_data(example, names, 32, 1) if precision == "int8" else None, out=out)
    return art, (module, example)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_build_run_and_pass_parity(name: str, precision: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}-{precision}.edgekit"
    art, (module, example) = _compile(name, precision, out)
    assert art.parity.passed, art.parity.failures
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["targets"][0]
    assert entry["files"]["engine"].startswith("nvidia-gpu/") and entry["files"]["engine"].endswith(".plan")
    assert entry["engine_key"]["precision"] == precision

    with edgekit.load(out) as rt:
        assert (rt.target, rt.backend, rt.engine_source) == ("nvidia-gpu", "tensorrt", "bundle")
        assert rt.selfcheck().passed
        bigger = tuple(torch.cat([t, t, t]) for t in example)  # a batch the parity data did not use
        got = rt.run({s.name: t.numpy() for s, t in zip(rt.inputs, bigger)})
        with torch.no_grad():
            want = module(*bigger)
        want = want if isinstance(want, tuple) else (want,)
        for w, g in zip(want, got.values()):
            cos = float(np.dot(g.ravel(), w.numpy().ravel()) /
                        (np.linalg.norm(g) * np.linalg.norm(w.numpy()) + 1e-12))
            assert cos > (0.9999 if precision == "fp32" else 0.99)


def test_outside_the_profile_is_an_input_error(tmp_path: Path) -> None:
    out = tmp_path / "mlp.edgekit"
    _compile("dynamic_batch", "fp32", out)
    with edgekit.load(out) as rt:
        spec = rt.inputs[0]
        too_big = np.zeros((65, *spec.shape[1:]), dtype=spec.dtype)
        with pytest.raises(InputError, match=r"takes \[1\.\.64"):
            rt.run({spec.name: too_big})


def test_other_gpu_key_rebuilds_once_into_the_cache_then_reuses_it(tmp_path: Path, caplog) -> None:
    out = tmp_path / "cnn.edgekit"
    _compile("cnn", "fp16", out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["targets"][0]["engine_key"]["gpu"] = "NVIDIA Some Other GPU"  # as if built elsewhere
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    cache = tmp_path / "cache"

    with caplog.at_level(logging.WARNING, logger="edgekit.tensorrt"):
        first = edgekit.load(out, cache_dir=cache)
        second = edgekit.load(out, cache_dir=cache)
    assert (first.engine_source, second.engine_source) == ("build", "cache")
    assert first.engine_path == second.engine_path and first.engine_path.parent == cache
    assert sum("building a TensorRT engine" in r.getMessage() for r in caplog.records) == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing written into the bundle
    feed = {s.name: np.ones([d if isinstance(d, int) else 2 for d in s.shape], s.dtype) for s in first.inputs}
    for name, value in first.run(feed).items():
        np.testing.assert_array_equal(value, second.run(feed)[name])
    assert second.selfcheck().passed
    first.close()
    second.close()


def test_thread_binding(tmp_path: Path) -> None:
    out = tmp_path / "cnn.edgekit"
    _compile("cnn", "fp32", out)
    rt = edgekit.load(out)
    feed = {s.name: np.ones([d if isinstance(d, int) else 1 for d in s.shape], s.dtype) for s in rt.inputs}
    errors: list[BaseException] = []

    def call() -> None:
        try:
            rt.run(feed)
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=call)
    worker.start()
    worker.join()
    assert len(errors) == 1 and isinstance(errors[0], InputError) and "thread_safe=True" in str(errors[0])

    from tests.conftest import assert_thread_safe

    shared = edgekit.load(out, thread_safe=True)
    assert_thread_safe(shared, [feed, {k: v * 2 for k, v in feed.items()}])
    rt.close()
    shared.close()
