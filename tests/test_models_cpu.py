"""cpu-target journeys beyond the contract: dynamic axes at many sizes, static shapes, real data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit
from examples.zoo import SMALL_MODELS


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
