"""``edgekit bench``: latency tables of bundles (or of MODEL built at several precisions)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from edgekit.cli._common import is_bundle, lower, open_bundle, option_decorators
from edgekit.cli._display import echo_out, logging_options
from edgekit.cli._help import SectionedCommand, examples
from edgekit.compiler.options import PRECISION_METAVAR, TARGET_METAVAR
from edgekit.errors import InputError
from edgekit.runtimes.base import MODES

# compile options that bench takes too
BENCH_SHARED = ("weights", "input", "dynamic", "calib", "eval", "allow-pickle")
BENCH_HELP = {"input": "For a MODEL, as in compile.", "dynamic": "For a MODEL, as in compile.",
              "calib": "For a MODEL at int8, as in compile.", "eval": "For a MODEL, as in compile."}


@click.command("bench", cls=SectionedCommand,
               epilog=examples(
    "edgekit bench fp32.edgekit int8.edgekit",
    "edgekit bench model.onnx --precisions fp32,int8-dynamic --targets cpu,intel-cpu",
    "edgekit bench model.edgekit --csv bench.csv --plot bench.png"))
@click.argument("items", nargs=-1, required=True, metavar="BUNDLE…|MODEL")
@click.option("--targets", "--target", "targets", callback=lower, metavar=TARGET_METAVAR.replace("|auto]", "]"),
              help="Targets to measure (default: every one the bundles have / this host runs).")
@click.option("--precisions", "--precision", "precisions", default="fp32", callback=lower,
              metavar=PRECISION_METAVAR.replace("|auto]", "][,…]"),
              show_default=True, help="For a MODEL: precisions to build.")
@click.option("--against", metavar="MODEL", help="torch model for the speed-up column (a MODEL is its own).")
@option_decorators(BENCH_SHARED, BENCH_HELP)
@click.option("--batch", default=8, show_default=True, type=int, help="Batch size of the throughput column.")
@click.option("--warmup", default=10, show_default=True, type=int,
              help="Untimed runs before each candidate is timed.")
@click.option("--iterations", default=200, show_default=True, type=int, help="Timed batch-1 runs at most.")
@click.option("--time-budget", default=10.0, show_default=True, type=float, help="Seconds per candidate at most.")
@click.option("--threads", type=int, help="Intra-op threads for every backend and torch.")
@click.option("--mode", type=click.Choice(list(MODES)), default="latency", show_default=True,
              help="throughput: load in throughput mode; samples/s at batch 1 and at the best batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False), help="Write the table as CSV.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write a latency-vs-parity chart.")
@logging_options
def bench_cmd(items: tuple[str, ...], targets: str | None, precisions: str, against: str | None,
              batch: int, warmup: int, iterations: int, time_budget: float, threads: int | None, mode: str,
              as_json: bool, csv_file: str | None, plot_file: str | None, **params: Any) -> None:
    """Measure bundles (or build MODEL at --targets x --precisions): one row per target x precision."""
    import tempfile

    from edgekit import bench

    options = _bench_options(batch, warmup, iterations, time_budget, threads, mode, csv_file, plot_file)
    if (len(items) == 1 and not is_bundle(items[0])) or against:
        from edgekit import extras

        extras.require_compile("bench MODEL" if not against else "bench --against")
    target_list = [t.strip() for t in targets.split(",")] if targets else None
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        bundles, reference = list(items), against
        if len(items) == 1 and not is_bundle(items[0]):
            reference = reference or items[0]
            bundles = _build_candidates(items[0], target_list, precisions, Path(tmp), params)
        bundles = [str(open_bundle(b).path) if b.endswith(".zip") else b for b in bundles]  # packed ones too
        torch_ms = None
        if reference is not None:
            feed, _, _ = bench.bench_feeds(open_bundle(bundles[0]), batch)
            torch_ms = bench.torch_latency(reference, params["weights"], feed, options, params["allow_pickle"])
        rows = bench.bench_bundles(bundles, target_list, options, torch_ms)
    if csv_file:
        bench.write_csv(rows, csv_file)
    if plot_file:
        bench.plot(rows, plot_file)
    if as_json:
        echo_out(json.dumps({"torch_eager_p50_ms": torch_ms, "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        if torch_ms is not None:
            click.echo(f"torch eager p50: {torch_ms:.3f} ms (batch 1, same inputs and threads)")
        from edgekit.cli._tables import show

        show([bench.table(rows), *bench.table_notes(rows)])


def _bench_options(batch: int, warmup: int, iterations: int, time_budget: float, threads: int | None, mode: str,
                   csv_file: str | None, plot_file: str | None) -> Any:
    """Checks the numbers and output paths before any work; the typed ``BenchOptions``."""
    import math

    from edgekit import bench
    from edgekit.safeio import check_output_path

    if batch < 1 or iterations < 1 or warmup < 0 or not (math.isfinite(time_budget) and time_budget > 0):
        raise InputError("--batch and --iterations must be >= 1, --warmup >= 0, "
                         "--time-budget a finite number > 0")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be >= 1 (got {threads})")
    for path_value, flag in ((csv_file, "--csv"), (plot_file, "--plot")):
        if path_value:
            check_output_path(path_value, flag)
    if plot_file:
        from edgekit import extras

        extras.require_plotting("bench --plot")
    return bench.BenchOptions(warmup, iterations, time_budget, batch, threads, mode=mode)


def _build_candidates(model: str, target_list: list[str] | None, precisions: str, tmp: Path,
                      params: dict[str, Any]) -> list[str]:
    """Compiles MODEL once per precision into ``tmp``; the bundle paths."""
    from edgekit.api import compile as compile_api
    from edgekit.compiler.options import cli_keywords

    bundles = []
    for precision in [p.strip() for p in precisions.split(",") if p.strip()]:
        logging.getLogger("edgekit.cli").info("building %s for %s", precision, ",".join(target_list or ["cpu"]))
        art = compile_api(model, target=target_list or "cpu", precision=precision,
                          out=tmp / f"{precision}.edgekit", **cli_keywords(params, BENCH_SHARED))
        bundles.append(str(art.path))
    return bundles
