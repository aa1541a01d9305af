"""Opt-in: wall time of one ResNet-50 int8 compile with 128 calibration samples (issue 15, class 5).

    python benchmarks/int8_resnet50.py [--targets cpu,intel-cpu] [--src DIR] [--work DIR]

Builds a ResNet-50-shaped torch model here (torchvision is not importable: bottleneck blocks
written below, random-init weights, BatchNorm statistics from digits images upsampled to
3x224x224), exports it once to ONNX, writes 128 calibration and 32 evaluation samples, and
times ``edgekit compile --precision int8`` per target in a child process (search included).
``--src`` runs the edgekit source tree found there instead (a checkout of an older commit:
before/after figures with the same model files). Prints one line per target and the load.
``--quantize-only`` times one recipe's quantization with and without compiler/calibcache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def resnet50():  # noqa: ANN201  (torch is imported lazily: --help needs no torch)
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.body(x) + self.skip(x))

    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                               nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


def images(count: int, offset: int) -> np.ndarray:
    """Digits images upsampled to 3x224x224 (nearest), ImageNet-like scale."""
    from sklearn.datasets import load_digits

    digits = (load_digits().images[offset:offset + count] / 16.0).astype(np.float32)
    big = digits.repeat(28, axis=1).repeat(28, axis=2)[:, None]
    return ((np.repeat(big, 3, axis=1) - 0.45) / 0.25).astype(np.float32)


def prepare(work: Path) -> tuple[Path, Path, Path]:
    """The model (BatchNorm statistics from real images), calibration and eval data, once."""
    import torch

    model_path, calib, evals = work / "resnet50.onnx", work / "calib.npz", work / "eval.npz"
    if model_path.exists():
        return model_path, calib, evals
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = resnet50()
    net.train()
    with torch.no_grad():
        for start in range(0, 256, 32):  # BatchNorm running statistics from real-ish images
            net(torch.from_numpy(images(32, 400 + start)))
    net.eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), str(model_path), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    np.savez(calib, image=images(128, 0))
    np.savez(evals, image=images(32, 200))
    return model_path, calib, evals


def compile_seconds(src: Path, model: Path, calib: Path, evals: Path, target: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "edgekit.cli", "compile", str(model), "--target", target, "--precision", "int8",
           "--calib", str(calib), "--calib-samples", "128", "--eval", str(evals), "--out", str(out), "--force"]
    began = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    seconds = time.monotonic() - began
    lines = (done.stdout + done.stderr).strip().splitlines()
    verdict = "pass" if done.returncode == 0 else f"exit {done.returncode}: {lines[-1] if lines else ''}"
    progress = [line for line in lines if "recipe" in line or "quantiz" in line or "calibrat" in line]
    return {"target": target, "seconds": round(seconds, 1), "verdict": verdict, "exit": done.returncode,
            "progress": progress[-12:]}


def quantize_seconds(model: Path, calib: Path, work: Path) -> dict:
    """One minmax recipe quantized three ways in this process: onnxruntime calibrating itself (as
    every recipe did before compiler/calibcache), the first cached call (calibrates), a second
    recipe on the cached ranges."""
    from dataclasses import replace

    from edgekit.compiler import calibcache
    from edgekit.compiler.options import QuantConfig
    from edgekit.compiler.quantize import preprocess, quantize

    scratch = work / "quantize-only"
    scratch.mkdir(exist_ok=True)
    source, _ = preprocess(model, scratch)
    with np.load(calib) as data:
        images = data["image"]
    feeds = [{"image": images[i:i + 8]} for i in range(0, len(images), 8)]
    config, found = QuantConfig(), {}
    for label, cfg, cached in (("onnxruntime calibrates (before)", config, False),
                               ("cached: first recipe (calibrates once)", config, True),
                               ("cached: another recipe (reuses)", replace(config, symmetric_activations=True), True)):
        began = time.monotonic()
        quantize(source, scratch / "q.onnx", "int8", cfg, feeds, scratch, calib_cache=cached)
        found[label] = round(time.monotonic() - began, 1)
    found["calibrations"] = calibcache.STATS.calibrations
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="cpu,intel-cpu")
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgekit-resnet50"))
    parser.add_argument("--quantize-only", action="store_true",
                        help="time one recipe's quantization with and without the calibration cache")
    args = parser.parse_args()
    model, calib, evals = prepare(args.work)
    if args.quantize_only:
        sys.stdout.write(json.dumps({**quantize_seconds(model, calib, args.work), "load": os.getloadavg()[0]}) + "\n")
        return
    for target in args.targets.split(","):
        load = os.getloadavg()[0]
        row = compile_seconds(args.src.resolve(), model, calib, evals, target, args.work / f"out-{target}.edgekit")
        row["load_before"] = round(load, 2)
        row["load_after"] = round(os.getloadavg()[0], 2)
        sys.stdout.write(json.dumps(row) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
