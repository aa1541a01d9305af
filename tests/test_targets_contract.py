"""The contract every CPU target passes: same tiny models, signature round-trip, run, fp32 parity,
reload from disk, reject a bad option, report a missing dependency."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import edgekit
from edgekit.errors import InputError, TargetUnavailable
from edgekit.targets import TARGETS, get_target
from examples.zoo import SMALL_MODELS

CPU_TARGETS = [t for t in TARGETS if t != "nvidia-gpu"]


def _available(name: str) -> str:
    reason = get_target(name).probe()
    if reason is not None:
        pytest.skip(f"target {name} unavailable here: {reason}")
    return name


@pytest.fixture(params=CPU_TARGETS)
def target(request) -> str:
    return _available(request.param)


@pytest.mark.parametrize("model_name", sorted(SMALL_MODELS))
def test_contract(target: str, model_name: str, tmp_path) -> None:
    module, example, dynamic = SMALL_MODELS[model_name]()
    out = tmp_path / f"{model_name}.edgekit"
    art = edgekit.compile(module, example, target=target, dynamic=dynamic, out=out)
    assert art.parity.passed, art.parity.failures
    assert list(art.reports) == [target]

    rt = edgekit.load(out, target=target)
    assert rt.target == target
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s.to_dict() for s in rt.inputs] == manifest["signature"]["inputs"]
    assert [s.to_dict() for s in rt.outputs] == manifest["signature"]["outputs"]

    bigger = tuple(torch.cat([t, t, t]) for t in example)  # a batch size the export never saw
    got = rt.run({s.name: t.numpy() for s, t in zip(rt.inputs, bigger)})
    with torch.no_grad():
        want = module(*bigger)
    want = want if isinstance(want, tuple) else (want,)
    assert list(got) == rt.output_names
    for w, g in zip(want, got.values()):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-3)
    assert rt.selfcheck().passed
    rt.close()


def test_bad_option_rejected(target: str, digits_bundle) -> None:
    with pytest.raises(InputError, match="do not apply|has no target"):
        edgekit.load(digits_bundle, target="cpu", no_such_option=1)


def test_missing_dependency_reported(target: str, monkeypatch, tmp_path) -> None:
    from edgekit.runtimes import runtime_class

    cls = runtime_class(target)
    monkeypatch.setattr(cls, "probe", staticmethod(lambda: "backend is not installed (pip install it)"))
    module, example, _ = SMALL_MODELS["mlp"]()
    with pytest.raises(TargetUnavailable, match="pip install"):
        edgekit.compile(module, example, target=target, out=tmp_path / "x.edgekit")
    assert not (tmp_path / "x.edgekit").exists()
