"""bf16: intel-cpu computes it where the CPU has the instructions; cpu (onnxruntime) refuses it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import edgekit
from edgekit.compiler.inputs import parse_input
from edgekit.native import native_precisions, unsupported_reason
from edgekit.targets import get_target
from tests.conftest import run_cli

no_openvino = get_target("intel-cpu").probe() is not None
no_bf16 = unsupported_reason("bf16")
needs_bf16 = pytest.mark.skipif(no_openvino or no_bf16 is not None,
                                reason=f"needs openvino and a bf16 CPU: {no_bf16 or 'openvino missing'}")


def test_host_detection_reads_the_isa_flags() -> None:
    assert unsupported_reason("bf16", flags={"avx2", "avx512f"}) is not None
    assert "AVX512_BF16" in unsupported_reason("bf16", flags={"avx512f"})
    assert unsupported_reason("bf16", flags={"avx512_bf16"}) is None
    assert unsupported_reason("bf16", flags={"amx_bf16"}) is None
    assert unsupported_reason("bf16", flags={"avx512_bf16"}, capabilities=["FP32", "INT8"]) is not None
    assert native_precisions({"avx512_bf16"}) == ["bf16"]
    assert native_precisions({"avx512_fp16", "amx_bf16"}) == ["bf16", "fp16-exec"]


def test_cpu_target_refuses_bf16_with_exit_2(tmp_path) -> None:
    import torch

    from examples.digits.model import pretrained

    model = tmp_path / "m.onnx"
    torch.onnx.export(pretrained(), (torch.zeros(1, 1, 8, 8),), str(model), input_names=["image"], dynamo=False)
    result = run_cli("compile", str(model), "--target", "cpu", "--precision", "bf16", "--out",
                     str(tmp_path / "m.edgekit"))
    assert result.returncode == 2, result.stderr
    assert "cannot run precision 'bf16'" in result.stderr and "onnxruntime" in result.stderr
    assert not (tmp_path / "m.edgekit").exists()


@pytest.fixture(scope="module")
def bf16_bundle(tmp_path_factory, digits_data):
    import torch

    from examples.digits.model import pretrained

    out = tmp_path_factory.mktemp("bf16") / "digits.edgekit"
    return edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), target="intel-cpu", precision="bf16",
                           dynamic=["image:0"], eval_data=digits_data["test"], out=out)


@needs_bf16
def test_digits_cnn_bf16_passes_and_records_bf16_execution(bf16_bundle) -> None:
    assert bf16_bundle.passed, bf16_bundle.parity.summary()
    acc = bf16_bundle.reports["intel-cpu"].accuracy
    assert acc.samples == 360 and abs(acc.drop) <= 0.5
    manifest = json.loads((bf16_bundle.path / "manifest.json").read_text())
    assert manifest["precision"] == "bf16"
    entry = manifest["targets"][0]
    assert entry["execution_precision"] == "bf16"
    assert "bf16" in entry["execution"]["Convolution"], entry["execution"]
    assert manifest["quantization"]["portable"] == "fp32"
    # The portable graph stays fp32: no bf16 tensor anywhere.
    graph = onnx.load(str(bf16_bundle.path / "model.onnx")).graph
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in graph.initializer if t.data_type in (1, 10, 16))
    rt = edgekit.load(bf16_bundle.path)
    assert rt.config["INFERENCE_PRECISION_HINT"] == "bf16"
    assert rt.selfcheck().passed
    out = rt.run({"image": np.zeros((2, 1, 8, 8), np.float32)})[rt.output_names[0]]
    assert out.shape[0] == 2 and np.isfinite(out).all()
    rt.close()


def cancelling_model(path, d: int = 32) -> None:
    """x -> [x, -x] -> (C+E)x - Cx -> ReLU -> head. The middle MatMul's weights hold a small E on
    top of a large C: bf16 weights (8 mantissa bits) lose E entirely, f32 keeps it. One layer
    that only f32 can compute, between two that bf16 handles."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    dup = np.concatenate([np.eye(d), -np.eye(d)], 1).astype(np.float32)
    big, small = 100 * rng.standard_normal((d, d)), 0.1 * rng.standard_normal((d, d))
    cancel = np.concatenate([big + small, big], 0).astype(np.float32)
    head = rng.standard_normal((d, 10)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "dup"], ["xx"], name="dup"),
             helper.make_node("MatMul", ["xx", "cancel"], ["h"], name="cancel"),
             helper.make_node("Relu", ["h"], ["hr"], name="relu"),
             helper.make_node("MatMul", ["hr", "head"], ["y"], name="head")]
    graph = helper.make_graph(nodes, "cancelling", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
                              [numpy_helper.from_array(a, n) for a, n in ((dup, "dup"), (cancel, "cancel"),
                                                                          (head, "head"))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@needs_bf16
def test_bf16_fallback_keeps_the_one_sensitive_layer_in_f32(tmp_path) -> None:
    cancelling_model(tmp_path / "m.onnx")
    common = {"target": "intel-cpu", "precision": "bf16", "inputs": ["x:8x32"]}
    plain = edgekit.compile(str(tmp_path / "m.onnx"), out=tmp_path / "plain.edgekit", fallback=False, **common)
    assert not plain.passed  # the class: one layer bf16 cannot compute
    art = edgekit.compile(str(tmp_path / "m.onnx"), out=tmp_path / "m.edgekit", **common)
    assert art.passed, art.parity.summary()
    entry = art.manifest["targets"][0]
    assert entry["kept_f32"] == ["h"]
    # The kept layer runs in f32; the others still compute in bf16, so the speed stays.
    assert entry["execution"]["FullyConnected"] == ["bf16", "f32"], entry["execution"]
    assert art.manifest["quantization"]["history"][0]["passed"] is False
    assert any("kept 1 layer(s) in f32" in n for n in art.parity.notes)
    rt = edgekit.load(art.path)
    assert rt.selfcheck().passed
    rt.close()


def test_matrix_cell_whose_target_refuses_bf16_fails_alone(tmp_path) -> None:
    """A model x bf16 group on cpu,intel-cpu: cpu refuses bf16, and intel-cpu still builds in it."""
    from edgekit.compiler.options import CompileOptions
    from edgekit.matrix.compiler import Cell, run_group
    from edgekit.matrix.plan import ModelPlan

    cancelling_model(tmp_path / "m.onnx")
    cells = [Cell("m", "bf16", "cpu"), Cell("m", "bf16", "intel-cpu")]
    plan = ModelPlan("m", str(tmp_path / "m.onnx"), CompileOptions(inputs=(parse_input("x:8x32"),)))
    cpu, intel = run_group(plan, cells, 0, tmp_path / "out")
    assert cpu.status == "error" and "cannot run precision 'bf16'" in cpu.message and cpu.bundle is None
    if no_openvino:
        assert intel.status == "no-worker"
    elif no_bf16 is not None:
        assert intel.status == "error" and "AVX512_BF16" in intel.message
    else:  # built alone in the group's one compile, with the bf16 fallback
        assert intel.status == "passed", intel.message
        assert intel.bundle == "cells/m/bf16/intel-cpu.edgekit"
