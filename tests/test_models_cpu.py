"""Real models through the whole cpu pipeline: export, simplify, build, parity, reload, run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit
from examples.zoo import SMALL_MODELS


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_model_compiles_for_cpu_and_matches_torch(name: str, tmp_path) -> None:
    module, example, dynamic = SMALL_MODELS[name]()
    art = edgekit.compile(module, example, target="cpu", dynamic=dynamic, out=tmp_path / f"{name}.edgekit")
    assert art.parity.passed, art.parity.failures
    assert art.manifest["source"]["exporter"] in ("dynamo", "torchscript")
    assert (art.path / "golden.npz").is_file() and (art.path / "parity.json").is_file()

    rt = edgekit.load(art.path)
    assert rt.backend == "onnxruntime" and rt.target == "cpu"
    assert [s.name for s in rt.inputs] == list(art.manifest["signature"]["inputs"][i]["name"]
                                                 for i in range(len(example)))
    # A batch size the export never saw: the dynamic axis must really be dynamic.
    bigger = tuple(torch.cat([t, t, t]) for t in example)
    feed = {s.name: t.numpy() for s, t in zip(rt.inputs, bigger)}
    got = rt.run(feed)
    with torch.no_grad():
        want = module(*bigger)
    want = want if isinstance(want, tuple) else (want,)
    assert list(got) == rt.output_names
    for w, g in zip(want, got.values()):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-3)
    assert rt.selfcheck().passed


def test_dynamic_batch_runs_at_several_sizes(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["cnn"]()
    art = edgekit.compile(module, example, dynamic=["x:0"], out=tmp_path / "dyn.edgekit")
    rt = edgekit.load(art.path)
    assert rt.inputs[0].shape[0] == "batch"
    assert art.manifest["signature"]["outputs"][0]["shape"] == ["batch", 10]
    for batch in (1, 2, 5, 16):
        x = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            want = module(x).numpy()
        np.testing.assert_allclose(rt.run({"x": x.numpy()})["output"], want, atol=1e-4, rtol=1e-3)


def test_sequence_axis_named_and_dynamic(tmp_path) -> None:
    module, example, dynamic = SMALL_MODELS["transformer"]()
    art = edgekit.compile(module, example, dynamic=dynamic, out=tmp_path / "t.edgekit")
    rt = edgekit.load(art.path)
    assert rt.inputs[0].shape == ("batch", "seq")
    tokens = torch.randint(0, 100, (3, 40))
    with torch.no_grad():
        want = module(tokens).numpy()
    np.testing.assert_allclose(rt.run({"tokens": tokens.numpy()})["output"], want, atol=1e-4, rtol=1e-3)


def test_static_model_rejects_other_batch(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["mlp"]()
    art = edgekit.compile(module, example, out=tmp_path / "static.edgekit")
    rt = edgekit.load(art.path)
    assert rt.inputs[0].shape == (4, 32)
    with pytest.raises(edgekit.InputError, match="axis 0"):
        rt.run({"x": np.zeros((5, 32), np.float32)})


def test_digits_example_keeps_accuracy(digits_bundle) -> None:
    report = edgekit.check(digits_bundle)
    assert report.passed
    import json

    parity = json.loads((digits_bundle / "parity.json").read_text())["reports"]["cpu"]
    assert parity["accuracy"]["samples"] == 360
    assert parity["accuracy"]["reference"] > 95.0
    assert abs(parity["accuracy"]["drop"]) < 1e-9
