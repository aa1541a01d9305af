"""Does ``--precision auto`` pick a candidate within 5 % of the fastest one that passes parity?

    python benchmarks/auto_choice.py [--models resnet18,...] [--repeats 3] [--out FILE]

For every suite model of benchmarks/run.py: ``compile --target auto --precision auto`` (on a CPU
host: cpu and intel-cpu, every precision the host computes natively) with the suite's seeded
calibration and eval data; then, independently of auto's own measurement, every candidate is
rebuilt with the same options and timed ``--repeats`` times with auto's own method
(``bench_bundles``: each candidate in its own child process, warm-up 5, at most 100 calls or 2 s,
batch 1, backend default threads), in a rotating order. A candidate's figure is the median of its
repeated p50s; the ratio is auto's pick over the fastest passing candidate. Prints (and with
--out writes) a Markdown table with the load average beside each model's figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edgekit  # noqa: E402
from benchmarks._models import compile_at, zoo_data  # noqa: E402
from benchmarks.run import MODELS  # noqa: E402
from edgekit.bench import BenchOptions, bench_bundles  # noqa: E402
from edgekit.targets import get_target  # noqa: E402

AUTO_TIMING = BenchOptions(warmup=5, iterations=100, time_budget_s=2.0)  # as edgekit/auto.py measures


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def time_candidates(bundles: list[str], repeats: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(target, precision) -> parity and every repeat's p50, the bundle order rotating each repeat."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(repeats):
        shift = i % len(bundles)
        for row in bench_bundles(bundles[shift:] + bundles[:shift], None, AUTO_TIMING):
            entry = found.setdefault((row.target, row.precision), {"parity": row.parity, "p50s": []})
            entry["p50s"].append(row.p50_ms)
    for entry in found.values():
        entry["p50_ms"] = statistics.median(entry["p50s"])
    return found


def auto_pick(model: Any, example: Any, dynamic: list[str], out: Path) -> dict[str, Any]:
    calib, evals = zoo_data(model, example)
    art = edgekit.compile(model, example, target="auto", precision="auto", dynamic=dynamic,
                          calibration=calib, eval_data=evals, out=out, force=True)
    return art.manifest["selection"]


def bench_model(key: str, repeats: int) -> tuple[str, list[str]]:
    label, make = MODELS[key]
    model, example, dynamic = make()
    before = load()
    with tempfile.TemporaryDirectory(prefix="auto-choice-") as tmp:
        selection = auto_pick(model, example, dynamic, Path(tmp) / "auto.edgekit")
        bundles = []
        for p in selection["precisions"]:
            runnable = [t for t in selection["targets"] if p in get_target(t).precisions]
            if runnable:
                bundles.append(str(compile_at(model, example, p, Path(tmp) / f"{p}.edgekit",
                                              target=",".join(runnable), dynamic=dynamic).path))
        timed = time_candidates(bundles, repeats)
    winner = (selection["winner"]["target"], selection["winner"]["precision"])
    passing = {k: v for k, v in timed.items() if v["parity"] == "pass"}
    fastest = min(passing, key=lambda k: passing[k]["p50_ms"])
    ratio = timed[winner]["p50_ms"] / passing[fastest]["p50_ms"]
    own = {(r["target"], r["precision"]): r for r in selection["candidates"] if r.get("p50_ms") is not None}
    own_passing = [r["p50_ms"] for r in own.values() if r.get("parity") == "pass"]
    own_ratio = own[winner]["p50_ms"] / min(own_passing)
    cells = ", ".join(f"{t} {p} {v['p50_ms']:.3g}{'' if v['parity'] == 'pass' else ' (FAIL)'}"
                      for (t, p), v in sorted(timed.items(), key=lambda kv: kv[1]["p50_ms"]))
    row = (f"| {label} | {' '.join(winner)} | {' '.join(fastest)} | **{ratio:.3f}** | {own_ratio:.3f} | "
           f"{cells} | {before}; {load()} |")
    return row, [selection["why"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS), help=f"some of: {', '.join(MODELS)}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lines = [f"`python benchmarks/auto_choice.py --models {args.models} --repeats {args.repeats}`", "",
             "| model | auto picked | fastest passing (re-timed) | picked / fastest (re-timed) | "
             "picked / fastest (auto's own timing) | candidates, median p50 ms of the repeats | load average "
             "(1, 5, 15 min) before; after |", "|---|---|---|---|---|---|---|"]
    notes = []
    for key in args.models.split(","):
        print(f"== {key}", file=sys.stderr)
        row, why = bench_model(key, args.repeats)
        lines.append(row)
        notes += [f"- {key}: auto said: {w}" for w in why]
        print(row, file=sys.stderr)
        if args.out:
            args.out.write_text("\n".join(lines + [""] + notes) + "\n")
    print("\n".join(lines + [""] + notes))


if __name__ == "__main__":
    main()
