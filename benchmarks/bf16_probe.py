"""Which reduced float precisions this CPU really executes, and how fast: measured, not assumed.

    python benchmarks/bf16_probe.py [--threads N]

1. OpenVINO's CPU plugin on a ResNet-18-shaped CNN (1x3x224x224): ``INFERENCE_PRECISION_HINT``
   f32 vs bf16 vs f16, with the precision each Convolution really ran in (runtime model), and
   the plugin's ``OPTIMIZATION_CAPABILITIES``.
2. onnxruntime's CPU execution provider on a bf16 graph (MatMul and Conv in bfloat16): does the
   session load, and if it does, how fast is it against fp32?
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import openvino as ov  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from benchmarks._timing import measure, median  # noqa: E402
from edgekit.hostinfo import _cpuinfo  # noqa: E402
from examples.zoo import make_resnet18  # noqa: E402


def openvino_rows(onnx_path: Path, x: np.ndarray, threads: int) -> None:
    core = ov.Core()
    print(f"OpenVINO {ov.__version__} CPU OPTIMIZATION_CAPABILITIES: "
          f"{core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES')}")
    runs, precisions = {}, {}
    for hint in ("f32", "bf16", "f16"):
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint}
        try:
            compiled = core.compile_model(str(onnx_path), "CPU", config)
        except RuntimeError as err:
            print(f"  {hint}: refused: {str(err).splitlines()[0]}")
            continue
        got = compiled.get_property("INFERENCE_PRECISION_HINT")
        conv = {str(op.get_rt_info()["runtimePrecision"].astype(str))
                for op in compiled.get_runtime_model().get_ordered_ops()
                if "layerType" in op.get_rt_info() and op.get_rt_info()["layerType"].astype(str) == "Convolution"}
        precisions[hint] = f"asked {hint}, plugin says {got}, Convolution runs {sorted(conv)}"
        request = compiled.create_infer_request()
        runs[hint] = (lambda r=request: r.infer({0: x}))
    samples = measure(runs)
    base = median(samples["f32"])
    for hint, values in samples.items():
        print(f"  {hint:5s} {median(values):8.2f} ms  {median(values) / base:.2f}x f32   {precisions[hint]}")


def bf16_graph(kind: str) -> onnx.ModelProto:
    """x (fp32) -> Cast bf16 -> MatMul/Conv with bf16 weights -> Cast fp32."""
    rng = np.random.default_rng(0)
    if kind == "MatMul":
        w = rng.standard_normal((512, 512)).astype(np.float32)
        shape_in, shape_out, op = [64, 512], [64, 512], helper.make_node("MatMul", ["xb", "w"], ["yb"])
    else:
        w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
        shape_in, shape_out = [1, 64, 56, 56], [1, 64, 56, 56]
        op = helper.make_node("Conv", ["xb", "w"], ["yb"], pads=[1, 1, 1, 1])
    init = helper.make_tensor("w", TensorProto.BFLOAT16, w.shape,
                              vals=(w.view(np.uint32) >> 16).astype(np.uint16).tobytes(), raw=True)
    nodes = [helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BFLOAT16), op,
             helper.make_node("Cast", ["yb"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape_out)], [init])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def onnxruntime_rows(tmp: Path, threads: int) -> None:
    print(f"onnxruntime {ort.__version__} CPUExecutionProvider, bf16 compute graphs:")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    for kind in ("MatMul", "Conv"):
        path = tmp / f"{kind}-bf16.onnx"
        onnx.save(bf16_graph(kind), str(path))
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own Fail / NotImplemented
            print(f"  {kind} bf16: session refused: {str(err).strip().splitlines()[0][:200]}")
            continue
        shape = session.get_inputs()[0].shape
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        t = measure({"bf16": lambda s=session, x=x: s.run(None, {"x": x})})
        print(f"  {kind} bf16: loads, {median(t['bf16']):.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    flags = _cpuinfo()[1]
    print(f"CPU flags: {', '.join(sorted(f for f in flags if 'bf16' in f or 'fp16' in f or 'amx' in f)) or 'none'}")
    model, example, _ = make_resnet18()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        path = tmp / "resnet18.onnx"
        torch.onnx.export(model, example, str(path), input_names=["x"], output_names=["y"], dynamo=False)
        print(f"ResNet-18-shaped CNN, 1x3x224x224, {args.threads} threads, batch 1; medians of interleaved runs")
        openvino_rows(path, example[0].numpy(), args.threads)
        onnxruntime_rows(tmp, args.threads)


if __name__ == "__main__":
    main()
