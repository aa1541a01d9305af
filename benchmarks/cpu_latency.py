"""cpu target latency vs torch eager and a bare onnxruntime session, on a ResNet-18-shaped CNN.

    python benchmarks/cpu_latency.py [--threads N] [--rounds R]

Same inputs, same thread count, interleaved rounds. Prints medians and ratios from one run.
Targets (issue 2): bundle <= 0.5x torch eager, bundle <= 1.03x bare onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

import edgekit  # noqa: E402
from benchmarks._timing import measure, median, percentile  # noqa: E402
from examples.zoo import make_resnet18  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, example, _ = make_resnet18()
    x = example[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        art = edgekit.compile(model, example, out=Path(tmp) / "resnet18.edgekit")
        assert art.parity.passed, art.parity.failures
        rt = edgekit.load(art.path, threads=args.threads)

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        bare = ort.InferenceSession(str(art.path / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        tx = torch.from_numpy(x)

        def torch_eager() -> object:
            with torch.inference_mode():
                return model(tx)

        contenders = {
            "torch eager": torch_eager,
            "bare onnxruntime": lambda: bare.run(None, {"x": x}),
            "edgekit cpu bundle": lambda: rt.run({"x": x}),
        }
        samples = measure(contenders, rounds=args.rounds, per_round=args.per_round)

    base = median(samples["torch eager"])
    ort_med = median(samples["bare onnxruntime"])
    print(f"ResNet-18-shaped CNN, 1x3x224x224 fp32, {args.threads} threads, "
          f"{args.rounds}x{args.per_round} interleaved runs each; torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}")
    print(f"{'contender':<22}{'p50 ms':>9}{'p90 ms':>9}{'vs torch':>10}{'vs bare ORT':>13}")
    for name, values in samples.items():
        med = median(values)
        print(f"{name:<22}{med:>9.2f}{percentile(values, 90):>9.2f}{med / base:>9.3f}x{med / ort_med:>12.3f}x")
    ratio_torch = median(samples["edgekit cpu bundle"]) / base
    ratio_ort = median(samples["edgekit cpu bundle"]) / ort_med
    print(f"bundle/torch eager = {ratio_torch:.3f} (target <= 0.5); "
          f"bundle/bare onnxruntime = {ratio_ort:.3f} (target <= 1.03)")
    _ = np  # numpy is the runtime's only other dependency


if __name__ == "__main__":
    main()
