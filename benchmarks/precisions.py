"""cpu target: fp32 vs int8 vs int8-dynamic vs fp16 — latency, size on disk, parity, one table.

    python benchmarks/precisions.py [--threads N]

ResNet-18-shaped CNN (1x3x224x224) and a small transformer encoder (batch 1, 128 tokens),
random weights; int8 calibrated on seeded random inputs (see benchmarks/_models.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import edgekit  # noqa: E402
from benchmarks._models import compile_at  # noqa: E402
from benchmarks._timing import measure, median  # noqa: E402
from examples.zoo import TransformerEncoder, make_resnet18  # noqa: E402

PRECISIONS = ("fp32", "int8", "int8-dynamic", "fp16")


def transformer() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(0)
    model = TransformerEncoder(vocab=1000, dim=128, heads=4, layers=4, max_len=128).eval()
    return model, (torch.randint(0, 1000, (1, 128)),)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    resnet, resnet_ex, _ = make_resnet18()
    models = {"ResNet-18-shaped": (resnet, resnet_ex), "transformer encoder": transformer()}
    print(f"cpu target (onnxruntime), {args.threads} threads, batch 1; median of interleaved runs")
    print(f"{'model':<21}{'precision':<14}{'p50 ms':>9}{'vs fp32':>9}{'size MB':>9}"
          f"{'min cos':>10}{'top-1 agr':>10}{'parity':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (model, example) in models.items():
            runtimes, rows = {}, {}
            for precision in PRECISIONS:
                art = compile_at(model, example, precision, Path(tmp) / f"{precision}.edgekit")
                rt = edgekit.load(art.path, accept_failed=True, threads=args.threads)
                feed = {rt.inputs[0].name: example[0].numpy()}
                runtimes[precision] = (lambda r, f: lambda: r.run(f))(rt, feed)
                m = art.parity.outputs[0]
                rows[precision] = ((art.path / "model.onnx").stat().st_size / 1e6,
                                   m.min_cosine, m.top1_agreement, art.parity.passed)
            samples = measure(runtimes, rounds=5, per_round=10)
            base = median(samples["fp32"])
            for precision in PRECISIONS:
                size, cos, top1, passed = rows[precision]
                med = median(samples[precision])
                print(f"{label:<21}{precision:<14}{med:>9.2f}{med / base:>8.2f}x{size:>9.2f}{cos:>10.5f}"
                      f"{'' if top1 is None else f'{top1:.3f}':>10}{'pass' if passed else 'FAIL':>8}")


if __name__ == "__main__":
    main()
