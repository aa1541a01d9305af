"""int8-dynamic for recurrent models (issue 15, class 7): does it pay on cpu and intel-cpu?

    python benchmarks/int8_recurrent.py [--targets cpu,intel-cpu] [--work DIR]

Digits read as 8 rows of 8 pixels by an LSTM (hidden 48, as in benchmarks/int8.py), a GRU
(hidden 48) and a wider LSTM (hidden 256), trained here for a few epochs. Each is compiled
at fp32 and int8-dynamic for every target (onnxruntime's quantize_dynamic turns LSTM into
com.microsoft DynamicQuantizeLSTM; GRU has no dynamic kernel and keeps float), then timed by
``edgekit.bench.bench_bundles`` in child processes (batch-1 p50, the backend's default
threads). Prints a markdown table with the verdict per row (int8-dynamic must be 5% faster
than fp32, compiler/payoff.MIN_GAIN).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import edgekit  # noqa: E402
from benchmarks.int8 import train  # noqa: E402
from edgekit.bench import BenchOptions, bench_bundles  # noqa: E402
from edgekit.compiler.payoff import MIN_GAIN  # noqa: E402
from examples.digits.data import write  # noqa: E402


class Rows(nn.Module):
    def __init__(self, cell: type[nn.Module], hidden: int) -> None:
        super().__init__()
        self.rnn = cell(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(image.reshape(image.shape[0], 8, 8))
        return self.head(out[:, -1])


MODELS = {"digits LSTM h48": (nn.LSTM, 48), "digits GRU h48": (nn.GRU, 48), "digits LSTM h256": (nn.LSTM, 256)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="cpu,intel-cpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgekit-recurrent"))
    parser.add_argument("--reuse", action="store_true", help="keep bundles already built in --work")
    args = parser.parse_args()
    targets = args.targets.split(",")
    _, test = write(args.work / "data")
    lines = ["| model | target | fp32 p50 ms | int8-dynamic p50 ms | ratio | parity | verdict |",
             "|---|---|---|---|---|---|---|"]
    for name, (cell, hidden) in MODELS.items():
        model = train(Rows(cell, hidden), epochs=8)
        bundles = {}
        for precision in ("fp32", "int8-dynamic"):
            for target in targets:  # one bundle per target: one target's refusal must not hide the other
                out = args.work / f"{name.replace(' ', '-')}-{precision}-{target}.edgekit"
                if not (args.reuse and out.exists()):
                    try:
                        edgekit.compile(model, (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], precision=precision,
                                        target=target, eval_data=test, out=out, force=True)
                    except edgekit.EdgekitError as err:
                        lines.append(f"| {name} | {target} | {precision} not built: {err.message[:160]} |")
                        continue
                bundles[(precision, target)] = str(out)
        by = {}
        for (_, target), bundle in bundles.items():
            for r in bench_bundles([bundle], [target], BenchOptions(time_budget_s=5.0)):
                by[(r.precision, r.target)] = r
        for target in targets:
            if ("fp32", target) not in by or ("int8-dynamic", target) not in by:
                continue
            fp32, dyn = by[("fp32", target)], by[("int8-dynamic", target)]
            ratio = dyn.p50_ms / fp32.p50_ms
            verdict = "pays" if ratio < 1 - MIN_GAIN else "does not pay (ship fp32)"
            lines.append(f"| {name} | {target} | {fp32.p50_ms:.4f} | {dyn.p50_ms:.4f} | {ratio:.2f}x | "
                         f"{dyn.parity} | {verdict} |")
    sys.stdout.write("\n".join(lines) + f"\n\nload average at the end: {os.getloadavg()[0]:.2f}\n")


if __name__ == "__main__":
    main()
