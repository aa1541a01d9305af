"""``edgekit bench``: measure every target × precision of one or more bundles, in one table.

Each candidate runs in its own child process: first-load time and peak resident memory are
then that candidate's alone, and no backend's idle worker threads spin beside another's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import progress
from edgekit.errors import BundleError, EdgekitError, InputError
from edgekit.layout import Layout
from edgekit.peakmem import peak_rss_mb
from edgekit.textable import Table
from edgekit.timing import sample_latencies, summarize, threads_label

COLUMNS = ("bundle", "target", "precision", "size_mb", "parity", "key_metric", "p50_ms", "p90_ms", "p99_ms",
           "throughput_per_s", "batch", "first_load_ms", "peak_rss_mb", "speedup_vs_torch",
           "mode", "throughput_batch1_per_s", "best_batch", "best_batch_per_s", "latency_batch", "threads",
           "p50_ci_ms")
TABLE_COLUMNS = ("bundle", "target", "precision", "MB", "parity", "key metric", "p50 ms", "p90 ms", "p99 ms",
                 "thru/s", "load ms", "RSS MB", "vs torch")


@dataclass(frozen=True)
class BenchOptions:
    warmup: int = 10
    iterations: int = 200
    time_budget_s: float = 10.0
    batch: int = 8
    threads: int | None = None
    mode: str = "latency"  # "throughput": load(mode="throughput"), samples/s through run_many


@dataclass
class BenchRow:
    bundle: str
    target: str
    precision: str
    size_mb: float
    parity: str
    key_metric: str
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput_per_s: float
    batch: int
    first_load_ms: float
    peak_rss_mb: float
    speedup_vs_torch: float | None = None
    mode: str = "latency"
    throughput_batch1_per_s: float | None = None  # --mode throughput: run_many at batch 1
    best_batch: int | None = None  # --mode throughput: the batch size with the most samples/s
    best_batch_per_s: float | None = None
    latency_batch: int = 1  # p50/p90/p99 are per batch-1 call; throughput runs at ``batch``
    threads: int | None = None  # None: each backend's default
    p50_ci_ms: float | None = None  # half-width of the p50's 95 % confidence interval (timing.median_ci)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bench_feeds(bundle: Any, batch: int, target: str | None = None
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """A batch-1 feed from the golden samples, and a batch-``batch`` one where the batch axis is dynamic."""
    from edgekit.parity.golden import GOLDEN_FILE, load_golden

    specs = bundle.target_inputs(target) if target else bundle.inputs
    pairs = load_golden(bundle.file(GOLDEN_FILE), [s.name for s in specs], [s.name for s in bundle.outputs])
    feed = pairs[0][0].feed
    one, many, size = {}, {}, batch
    for spec in specs:
        arr = feed[spec.name]
        dynamic_batch = bool(spec.shape) and isinstance(spec.shape[0], str)
        one[spec.name] = arr[:1] if dynamic_batch else arr
        if dynamic_batch:
            reps = -(-batch // max(arr.shape[0], 1))
            many[spec.name] = np.concatenate([arr] * reps)[:batch]
        else:
            many[spec.name] = arr
            size = arr.shape[0] if spec.shape else 1
    return one, many, size


def _batch_feed(bundle: Any, batch: int, target: str) -> dict[str, np.ndarray] | None:
    """A feed of ``batch`` samples, or None when the model's batch size is fixed at another."""
    _, many, size = bench_feeds(bundle, batch, target)
    return many if size == batch else None


def measure(bundle: str, target: str, options: BenchOptions) -> dict[str, Any]:
    """Runs in the child: load, time batch-1 latency and batch-N throughput, report peak RSS."""
    from edgekit.runtimes import load

    start = time.perf_counter()
    extra = {"mode": options.mode} if options.mode != "latency" else {}
    rt = load(bundle, target, accept_failed=True, threads=options.threads, **extra)
    first_load = (time.perf_counter() - start) * 1e3
    one, many, size = bench_feeds(rt.bundle, options.batch, target)
    latencies = sample_latencies(lambda: rt.run(one), options.warmup, options.iterations, options.time_budget_s)
    rt.run(many)
    runs, t = 0, time.perf_counter()
    while runs < max(3, options.iterations // 10) and (runs < 3 or time.perf_counter() - t < options.time_budget_s / 2):
        rt.run(many)
        runs += 1
    throughput = size * runs / (time.perf_counter() - t)
    found: dict[str, Any] = {}
    if options.mode == "throughput":
        from edgekit.timing import measure_throughput

        found = measure_throughput(rt, lambda b: one if b == 1 else _batch_feed(rt.bundle, b, target),
                                   options.time_budget_s)
        throughput, size = found["best_batch_per_s"], found["best_batch"]
    return {
        **found, **summarize(latencies), "latency_batch": 1, "threads": options.threads,
        "throughput_per_s": throughput, "batch": size, "first_load_ms": first_load,
        "peak_rss_mb": peak_rss_mb(),
    }


def _child(bundle: str, target: str, options: BenchOptions) -> dict[str, Any]:
    payload = json.dumps({"bundle": bundle, "target": target, "options": asdict(options)})
    proc = subprocess.run([sys.executable, "-m", "edgekit.bench", payload], capture_output=True, text=True,
                          timeout=600 + 3 * options.time_budget_s)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        reason = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise InputError(f"benchmarking {Path(bundle).name} on {target} failed: {reason}")
    return json.loads(lines[-1])


def _key_metric(report: dict[str, Any]) -> str:
    if report.get("accuracy"):
        a = report["accuracy"]
        return f"accuracy {a['candidate']:.2f}% (drop {a['drop']:.2f})"
    outputs = report.get("outputs") or []
    if report.get("precision") == "fp32":
        return f"max abs {max(float(o['max_abs']) for o in outputs):.3g}" if outputs else ""
    return f"min cosine {min(float(o['min_cosine']) for o in outputs):.6f}" if outputs else ""


def bench_bundles(bundles: list[str], targets: list[str] | None, options: BenchOptions,
                  torch_ms: float | None = None, log: Any = None) -> list[BenchRow]:
    """One row per bundle × target (all of a bundle's targets this host can run, or ``targets``)."""
    from edgekit.archive import bundle_folder
    from edgekit.bundle import read_bundle
    from edgekit.runtimes import runtime_class

    say = progress.reporter(log)
    plan = []
    for path in bundles:
        b = read_bundle(bundle_folder(path))
        names = [t for t in b.target_names if targets is None or t in targets]
        for name in names:
            reason = runtime_class(name).probe()
            if reason is None:
                plan.append((b, name))
            else:
                say(f"skipping {b.path.name} on {name}: {reason}")
    if not plan:
        raise InputError("nothing to benchmark: no bundle target can run on this host")
    parity = {}
    rows = []
    for i, (b, name) in enumerate(plan, 1):
        say(f"benchmarking {b.path.name} on {name} ({i}/{len(plan)})")
        progress.count(i, len(plan), "bench candidates")
        found = _child(str(b.path), name, options)
        if b.path not in parity:
            try:
                parity[b.path] = json.loads(b.file(Layout.PARITY_JSON).read_text())["reports"]
            except (BundleError, OSError):  # a `pack --slim` bundle: only the manifest's verdict
                passed = (b.manifest.get("parity") or {}).get("passed")
                parity[b.path] = {t: {"passed": passed, "precision": b.precision} for t in b.target_names}
        report = parity[b.path].get(name, {})
        files = b.manifest["files"]
        size = sum(files[p]["size"] for p in b.target(name)["files"].values())
        rows.append(BenchRow(
            bundle=b.path.name, target=name, precision=b.precision, size_mb=size / 1e6,
            parity="pass" if report.get("passed") else "FAIL", key_metric=_key_metric(report),
            p50_ms=found["p50_ms"], p90_ms=found["p90_ms"], p99_ms=found["p99_ms"],
            throughput_per_s=found["throughput_per_s"], batch=found["batch"], first_load_ms=found["first_load_ms"],
            peak_rss_mb=found["peak_rss_mb"],
            speedup_vs_torch=None if torch_ms is None else torch_ms / found["p50_ms"],
            mode=options.mode, **{k: found.get(k) for k in ("throughput_batch1_per_s", "best_batch",
                                                             "best_batch_per_s")},
            latency_batch=found.get("latency_batch", 1), threads=options.threads, p50_ci_ms=found.get("p50_ci_ms"),
        ))
    return rows


def torch_latency(model: Any, weights: str | None, feed: dict[str, np.ndarray], options: BenchOptions,
                  allow_pickle: bool = False) -> float:
    """Median torch eager latency on the same batch-1 inputs and thread count."""
    import torch

    from edgekit.models.loader import load_source

    source = load_source(model, weights, allow_pickle)
    if not source.is_torch:
        raise InputError("--against for bench must be a torch model (the speed-up is over torch eager)")
    if options.threads:
        torch.set_num_threads(options.threads)
    module = source.module.module() if source.kind == "torch.export" else source.module
    args = [torch.from_numpy(np.ascontiguousarray(v)) for v in feed.values()]
    with torch.inference_mode():
        times = sample_latencies(lambda: module(*args), options.warmup, options.iterations, options.time_budget_s)
    return float(summarize(times)["p50_ms"])


def format_table(rows: list[BenchRow]) -> str:
    """The table as plain aligned text (no cell cut), then its notes."""
    return "\n".join([table(rows).plain(), *table_notes(rows)])


def table(rows: list[BenchRow]) -> Table:
    """One line per candidate: the columns a terminal shows (``--json``/``--csv`` have every field)."""
    cells = [[r.bundle, r.target, r.precision, f"{r.size_mb:.2f}", r.parity, r.key_metric, f"{r.p50_ms:.3f}",
              f"{r.p90_ms:.3f}", f"{r.p99_ms:.3f}", f"{r.throughput_per_s:.0f}", f"{r.first_load_ms:.0f}",
              f"{r.peak_rss_mb:.0f}", "" if r.speedup_vs_torch is None else f"{r.speedup_vs_torch:.2f}x"]
             for r in rows]
    return Table.of(TABLE_COLUMNS, cells, right=[3, *range(6, 13)])


def table_notes(rows: list[BenchRow]) -> list[str]:
    """What the numbers mean: batch, threads, throughput mode."""
    lines = [f"throughput mode, {r.bundle} {r.target} {r.precision}: {r.throughput_batch1_per_s or 0:.0f} samples/s "
             f"at batch 1, {r.best_batch_per_s:.0f} at batch {r.best_batch} (best)"
             for r in rows if r.mode == "throughput" and r.best_batch_per_s is not None]
    if rows:
        batches = sorted({r.batch for r in rows})
        lines.append(f"p50/p90/p99: per call at batch {rows[0].latency_batch}; thru/s: at batch "
                     f"{', '.join(map(str, batches))}; {threads_label(rows[0].threads)}; RSS: each candidate's "
                     "own peak (its own process)")
    return lines


def write_csv(rows: list[BenchRow], path: str | Path) -> None:
    import csv

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        for r in rows:
            writer.writerow(r.to_dict())


def plot(rows: list[BenchRow], path: str | Path) -> None:
    """Latency per candidate: p50 bars with p90/p99 whiskers, coloured by parity verdict, the key
    parity metric beside each; host, threads and batch in the title."""
    import matplotlib

    from edgekit.hostinfo import fingerprint

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # an SVG chart keeps its labels as text
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.6))
    labels = [f"{r.bundle} · {r.target} · {r.precision}" for r in rows]
    ys = list(range(len(rows)))[::-1]
    colours = ["#2b8a3e" if r.parity == "pass" else "#c92a2a" for r in rows]
    ax.barh(ys, [r.p50_ms for r in rows], color=colours, alpha=0.8, height=0.6)
    for y, r, c in zip(ys, rows, colours):
        ax.plot([r.p50_ms, r.p90_ms], [y, y], color="black", linewidth=1.2)
        ax.plot([r.p90_ms, r.p99_ms], [y, y], color="black", linewidth=0.6, linestyle=":")
        ax.plot([r.p90_ms], [y], marker="|", color="black", markersize=10)
        ax.plot([r.p99_ms], [y], marker="|", color="black", markersize=6)
        ax.annotate(f" {r.parity}: {r.key_metric}", (r.p99_ms, y), va="center", fontsize=7, color=c)
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlabel("latency per call, ms (bar: p50; whiskers: p90, p99)")
    low, high = min(r.p50_ms for r in rows), max(r.p99_ms for r in rows)
    if low > 0 and high / low > 20:  # a slow tail or candidates of different magnitudes: keep every bar visible
        ax.set_xscale("log")
        ax.set_xlim(low / 2, high * 6)
        ax.set_xlabel("latency per call, ms, log scale (bar: p50; whiskers: p90, p99)")
    else:
        ax.set_xlim(0, high * 1.8)
    threads = threads_label(rows[0].threads) if rows else ""
    host = fingerprint()
    batch = rows[0].latency_batch if rows else 1
    ax.set_title(f"{host['cpu'] or host['machine']} ({host['cores']} cores), batch {batch}, "
                 f"{threads}; green passes parity, red fails", fontsize=9)
    fig.savefig(str(path), bbox_inches="tight")
    plt.close(fig)


def _worker(payload: str) -> int:
    args = json.loads(payload)
    try:
        result = measure(args["bundle"], args["target"], BenchOptions(**args["options"]))
    except EdgekitError as err:
        sys.stderr.write(f"error: {err}\n")  # the parent reads the child's streams, not a terminal
        return 2
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
