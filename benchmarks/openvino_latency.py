"""intel-cpu (OpenVINO) vs cpu (onnxruntime) vs torch eager vs bare OpenVINO, batch 1.

    python benchmarks/openvino_latency.py [--threads N]

ResNet-18- and MobileNetV2-shaped CNNs at 1x3x224x224. "bare OpenVINO" compiles the very
same ONNX file edgekit ships (fp32, or the QDQ int8 file), once with OpenVINO's defaults
(which run float layers in bf16 on CPUs that have it) and once with f32 forced, as
edgekit does. Also first-load (compile) and cached-load times of the intel-cpu bundle.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openvino as ov  # noqa: E402
import torch  # noqa: E402

import edgekit  # noqa: E402
from benchmarks._models import compile_at  # noqa: E402
from benchmarks._timing import measure, median  # noqa: E402
from examples.zoo import make_mobilenetv2, make_resnet18  # noqa: E402


def bare_openvino(onnx_path: Path, threads: int, f32: bool) -> ov.CompiledModel:
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    if f32:
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return ov.Core().compile_model(str(onnx_path), "CPU", config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"batch 1, {args.threads} threads, openvino {ov.__version__}; medians of interleaved runs")
    for label, make in (("ResNet-18-shaped", make_resnet18), ("MobileNetV2-shaped", make_mobilenetv2)):
        bench_model(label, make, args.threads)


def bench_model(label: str, make: object, threads: int) -> None:
    model, example, _ = make()
    x = example[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        arts = {p: compile_at(model, example, p, Path(tmp) / f"{p}.edgekit", target="cpu,intel-cpu")
                for p in ("fp32", "int8")}
        cache = Path(tmp) / "ovcache"
        start = time.perf_counter()
        edgekit.load(arts["int8"].path, target="intel-cpu", cache_dir=cache, accept_failed=True)
        first_load = time.perf_counter() - start
        start = time.perf_counter()
        edgekit.load(arts["int8"].path, target="intel-cpu", cache_dir=cache, accept_failed=True)
        cached_load = time.perf_counter() - start
        rts = {f"edgekit intel-cpu {p}": edgekit.load(a.path, target="intel-cpu", accept_failed=True,
                                                      threads=threads) for p, a in arts.items()}
        rts["edgekit cpu fp32"] = edgekit.load(arts["fp32"].path, target="cpu", threads=threads)
        contenders = {name: (lambda r: lambda: r.run({"x": x}))(rt) for name, rt in rts.items()}
        for p, a in arts.items():
            for f32 in (False, True):
                compiled = bare_openvino(a.path / "model.onnx", threads, f32)
                request = compiled.create_infer_request()
                name = f"bare OpenVINO {p}{' (f32)' if f32 else ' (defaults)'}"
                contenders[name] = (lambda r: lambda: r.infer({0: x}))(request)

        def torch_eager() -> object:
            with torch.inference_mode():
                return model(example[0])

        contenders["torch eager fp32"] = torch_eager
        samples = measure(contenders, rounds=5, per_round=10)
    base = median(samples["edgekit cpu fp32"])
    print(f"\n{label}: intel-cpu int8 bundle first load {first_load * 1e3:.0f} ms, cached load "
          f"{cached_load * 1e3:.0f} ms")
    print(f"{'contender':<32}{'p50 ms':>9}{'vs cpu fp32':>13}")
    for name, values in samples.items():
        print(f"{name:<32}{median(values):>9.2f}{median(values) / base:>12.3f}x")
    ours, bare = median(samples["edgekit intel-cpu int8"]), median(samples["bare OpenVINO int8 (f32)"])
    print(f"intel-cpu int8 / cpu fp32 = {ours / base:.3f} (target <= 0.36); "
          f"/ bare OpenVINO int8 (f32) = {ours / bare:.3f}; "
          f"/ bare OpenVINO int8 (defaults) = {ours / median(samples['bare OpenVINO int8 (defaults)']):.3f}")


if __name__ == "__main__":
    main()
