"""Calibration once (issue 15, class 5): recipes sharing a calibration method share one calibration,
and the cached ranges give the graph onnxruntime's own calibration gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch

from edgekit.compiler import calibcache
from edgekit.compiler.options import QuantConfig
from edgekit.compiler.quantize import preprocess, quantize
from edgekit.compiler.recipes import run_outputs
from examples.digits.model import pretrained


@pytest.fixture()
def digits_conv(tmp_path, digits_data):
    path = tmp_path / "d.onnx"
    torch.onnx.export(pretrained(), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, input_names=["image"],
                      dynamic_axes={"image": {0: "n"}})
    source, _ = preprocess(path, tmp_path)
    with np.load(digits_data["train"]) as d:
        images = d["image"][:64].astype(np.float32)
    return source, [{"image": images[i:i + 8]} for i in range(0, 64, 8)]


def _graph_bytes(path) -> list[bytes]:
    model = onnx.load(str(path))
    return [n.SerializeToString() for n in model.graph.node] + sorted(
        t.SerializeToString() for t in model.graph.initializer)


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_cached_ranges_give_the_uncached_graph(tmp_path, digits_conv, method) -> None:
    source, feeds = digits_conv
    calibcache.clear()
    config = QuantConfig(method=method)
    plain = quantize(source, tmp_path / "plain.onnx", "int8", config, feeds, tmp_path, calib_cache=False)
    cached = quantize(source, tmp_path / "cached.onnx", "int8", config, feeds, tmp_path)
    assert calibcache.STATS.calibrations == 1
    assert plain.quantized_nodes == cached.quantized_nodes and plain.quantized_nodes
    if method == "minmax":  # histograms are merged chunk by chunk (memory), so only minmax is bit-identical
        assert _graph_bytes(plain.path) == _graph_bytes(cached.path)
    a, b = run_outputs(plain.path, feeds), run_outputs(cached.path, feeds)
    for x, y in zip(a, b):
        for name in x:
            if method == "minmax":
                np.testing.assert_array_equal(x[name], y[name])
            else:
                cos = float(np.sum(x[name] * y[name]) / np.linalg.norm(x[name]) / np.linalg.norm(y[name]))
                assert cos > 0.999


def test_recipes_sharing_a_method_calibrate_once(tmp_path, digits_conv) -> None:
    source, feeds = digits_conv
    calibcache.clear()
    base = QuantConfig()
    recipes = [base, replace(base, symmetric_activations=True), replace(base, op_types=("Conv", "Gemm")),
               replace(base, exclude=("/conv1/Conv",)), replace(base, per_channel=not base.per_channel)]
    for i, config in enumerate(recipes):
        quantize(source, tmp_path / f"r{i}.onnx", "int8", config, feeds, tmp_path)
    assert (calibcache.STATS.calibrations, calibcache.STATS.reuses) == (1, len(recipes) - 1)
    quantize(source, tmp_path / "p.onnx", "int8", replace(base, method="percentile"), feeds, tmp_path)
    assert calibcache.STATS.calibrations == 2
    # Other calibration data is another key: a cache hit there would be wrong ranges.
    quantize(source, tmp_path / "o.onnx", "int8", base, [{"image": f["image"] * 2} for f in feeds], tmp_path)
    assert calibcache.STATS.calibrations == 3


def test_search_stops_at_a_clearly_better_recipe_that_passes(tmp_path, digits_conv, digits_data) -> None:
    """The configured recipe (per-tensor weights, every op quantized) fails a strict rule; the first
    candidate that cuts the calibration error 4x (per-channel weights) and passes on eval ends the
    search at once instead of after every recipe (issue 15: fast to find)."""
    from edgekit.backends.onnxruntime.runtime import OnnxRuntime
    from edgekit.compiler.recipes import Tried, all_ops, candidates, search
    from edgekit.data.sources import Batch
    from edgekit.parity.compare import compare
    from edgekit.parity.metrics import rule_for

    source, feeds = digits_conv
    with np.load(digits_data["test"]) as d:
        evals = [Batch({"image": d["image"][i:i + 60]}, None, 60) for i in range(0, 120, 60)]
    reference = OnnxRuntime(source).run
    rule = rule_for("int8", min_mean_cosine=0.9998)  # the configured recipe: 0.99966

    def check(path):
        names = [o.name for o in onnx.load(str(path)).graph.output]
        return compare(reference, OnnxRuntime(path).run, iter(evals), names, "int8", rule, data_description="test",
                       reference_description="fp32", candidate_description="int8").report

    def quantize_recipe(cfg, tag):
        return quantize(source, tmp_path / f"{tag}.onnx", "int8", cfg, feeds, tmp_path), cfg

    calibcache.clear()
    bad = QuantConfig(per_channel=False, op_types=all_ops(), method="entropy")
    base_result, _ = quantize_recipe(bad, "base")
    base_report = check(base_result.path)
    assert not base_report.passed, base_report.summary()
    base = Tried("as configured", result=base_result, config=bad, report=base_report)
    found = search(source, base, feeds, quantize_recipe, check, lambda line: None, time_budget_s=300)
    rows = [t.to_dict() for t in found.table]
    assert found.winner is not base and found.winner.eval_passed, rows
    assert found.winner.calib_error <= 0.25 * base.calib_error and "passed on eval after" in found.stopped, rows
    assert len(found.table) - 1 < len(candidates(source, bad)), rows  # stopped before the last recipe
    assert calibcache.STATS.calibrations <= 2  # entropy once (+ percentile if it came before the stop)
