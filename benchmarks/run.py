"""The benchmark suite: common edge workloads, every way to run them, one table per model.

    python benchmarks/run.py [--threads N] [--time-budget S] [--models a,b] [--throughput]
                             [--out benchmarks/RESULTS.md]

Models: ResNet-18- and MobileNetV2-shaped CNNs at 1x3x224x224, a BERT-mini-shaped encoder
(4 layers, 256 wide, 128 tokens), the digits example and an LSTM tagger. For each: torch eager
fp32, bare onnxruntime fp32, bare OpenVINO fp32 (its defaults), and edgekit's bundles at fp32,
fp16, int8-dynamic, int8 on every available target and bf16 on intel-cpu where the CPU computes
it — measured in one run, with ratios to torch eager, achieved GFLOP/s and their share of the
host's peak for the precision's compute (benchmarks/peak.py says how the peak is computed),
int8's pay-off verdict per target, and with --throughput samples/s through run_many at batch 1
and at the best batch. Writes a Markdown table with the machine's description.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import edgekit  # noqa: E402
from benchmarks._models import compile_at  # noqa: E402
from benchmarks.flops import count_flops  # noqa: E402
from benchmarks.peak import compute_precision, host_peak  # noqa: E402
from edgekit.bench import BenchOptions, bench_bundles  # noqa: E402
from edgekit.hostinfo import fingerprint  # noqa: E402
from edgekit.native import native_precisions  # noqa: E402
from examples.zoo import TransformerEncoder, make_lstm, make_mobilenetv2, make_resnet18  # noqa: E402

PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8", *(["bf16"] if "bf16" in native_precisions() else []))


def bert_mini() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[str]]:
    torch.manual_seed(0)
    model = TransformerEncoder(vocab=30522 // 8, dim=256, heads=4, layers=4, max_len=128, classes=2).eval()
    return model, (torch.randint(0, 30522 // 8, (1, 128)),), []


def digits() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[str]]:
    from examples.digits.model import pretrained

    return pretrained(), (torch.zeros(1, 1, 8, 8),), []


def _time(fn, budget: float) -> float:
    for _ in range(5):
        fn()
    times, deadline = [], time.perf_counter() + budget
    while len(times) < 200 and (len(times) < 10 or time.perf_counter() < deadline):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def baselines(model, example, onnx_path: Path, threads: int, budget: float) -> dict[str, float]:
    import onnxruntime as ort

    torch.set_num_threads(threads)
    args = [t for t in example]
    feed = {i.name: t.numpy() for i, t in zip(ort.InferenceSession(str(onnx_path)).get_inputs(), example)}

    def eager():
        with torch.inference_mode():
            return model(*args)

    results = {"torch eager fp32": _time(eager, budget)}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    results["bare onnxruntime fp32"] = _time(lambda: session.run(None, feed), budget)
    try:
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        compiled = ov.Core().compile_model(str(onnx_path), "CPU", config)
        request = compiled.create_infer_request()
        # OpenVINO's default on CPUs with bf16 is to compute in bf16: that row is held to the bf16 peak.
        computes = "bf16" if compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "bf16" else "fp32"
        results[f"bare OpenVINO fp32 (its defaults: computes {computes})"] = _time(
            lambda: request.infer(list(feed.values())), budget)
    except ImportError:
        pass
    return results


MODELS = {
    "resnet18": ("ResNet-18-shaped, 1x3x224x224", make_resnet18),
    "mobilenetv2": ("MobileNetV2-shaped (depthwise), 1x3x224x224", make_mobilenetv2),
    "bert-mini": ("BERT-mini-shaped encoder, 128 tokens", bert_mini),
    "digits": ("digits CNN, 1x1x8x8", digits),
    "lstm": ("LSTM tagger (recurrent), 3x7x12", make_lstm),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--time-budget", type=float, default=3.0)
    parser.add_argument("--models", default=",".join(MODELS), help=f"some of: {', '.join(MODELS)}")
    parser.add_argument("--throughput", action="store_true", help="also bench every bundle in throughput mode")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    host = fingerprint()
    peak = host_peak(args.threads)
    peaks = peak.peaks
    lines = ["# edgekit benchmark results", "",
             f"Machine: {host['cpu']}, {host['cores']} cores ({', '.join(host['isa'])}), {host['os']}, "
             f"Python {host['python']}; " + ", ".join(f"{k} {v}" for k, v in host["libraries"].items()),
             f"Run: `python benchmarks/run.py --threads {args.threads} --models {args.models}"
             f"{' --throughput' if args.throughput else ''}`, batch 1, {args.threads} threads, "
             f"median latency; {time.strftime('%Y-%m-%d')}.",
             f"{peak.describe()} (benchmarks/peak.py); "
             "'% peak' compares each "
             "row's effective GFLOP/s (FLOPs a direct convolution/GEMM would do, benchmarks/flops.py, over "
             "latency) with the peak of the precision its compute runs in (fp16 computes in f32 on CPUs): "
             "above 100 % means the backend did less work than direct (Winograd, ...), not a wrong peak.",
             "Zoo models have random weights and int8 is calibrated on seeded random inputs "
             "(benchmarks/_models.py): the parity column shows the rule's verdict on random data.", ""]
    for key in args.models.split(","):
        label, make = MODELS[key]
        print(f"== {label}", file=sys.stderr)
        lines += bench_model(label, make, args, peaks)
        print("\n".join(lines[-30:]), file=sys.stderr)
        args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


def bench_model(label: str, make: object, args: argparse.Namespace, peaks: dict[str, float]) -> list[str]:
    from edgekit.targets import TARGETS, get_target

    targets = [t for t in TARGETS if get_target(t).probe() is None]
    model, example, dynamic = make()
    with tempfile.TemporaryDirectory() as tmp:
        arts = {p: compile_at(model, example, p, Path(tmp) / f"{p}.edgekit",
                              target=",".join(t for t in targets if p in get_target(t).precisions),
                              dynamic=dynamic) for p in PRECISIONS}
        fp32_onnx = arts["fp32"].path / "model.onnx"
        specs = edgekit.load(arts["fp32"].path).inputs
        flops = count_flops(fp32_onnx, {s.name: tuple(t.shape) for s, t in zip(specs, example)})
        base = baselines(model, example, fp32_onnx, args.threads, args.time_budget)
        options = BenchOptions(warmup=5, iterations=200, time_budget_s=args.time_budget, threads=args.threads)
        rows = bench_bundles([str(a.path) for a in arts.values()], None, options)
        thru = bench_bundles([str(a.path) for a in arts.values()], None,
                             BenchOptions(warmup=5, iterations=50, time_budget_s=args.time_budget,
                                          mode="throughput")) if args.throughput else []
    eager = base["torch eager fp32"]
    lines = [f"## {label} — {flops / 1e9:.4g} GFLOP per inference", "",
             "| contender | p50 ms | vs torch eager | effective GFLOP/s (direct-conv FLOPs) | % peak | parity |",
             "|---|---|---|---|---|---|"]
    for contender, ms in base.items():
        role = "reference" if contender.startswith("torch") else ""
        computes = "bf16" if "computes bf16" in contender else "fp32"
        lines.append(f"| {contender} | {ms:.3f} | {ms / eager:.3f}x | {flops / ms / 1e6:.1f} | "
                     f"{100 * flops / ms / 1e6 / peaks[computes]:.1f} | {role} |")
    for r in rows:
        gflops = flops / r.p50_ms / 1e6
        lines.append(f"| edgekit {r.target} {r.precision} | {r.p50_ms:.3f} | {r.p50_ms / eager:.3f}x | {gflops:.1f} | "
                     f"{100 * gflops / peaks[compute_precision(r.precision)]:.1f} | {r.parity} ({r.key_metric}) |")
    lines += ["", *payoff_lines(arts.get("int8")), ""]
    if thru:
        lines += ["| throughput mode (run_many, all cores) | samples/s batch 1 | best batch | samples/s best "
                  "| effective GFLOP/s |", "|---|---|---|---|---|"]
        lines += [f"| edgekit {r.target} {r.precision} | {r.throughput_batch1_per_s:.0f} | {r.best_batch} | "
                  f"{r.best_batch_per_s:.0f} | {flops * r.best_batch_per_s / 1e9:.1f} |" for r in thru]
        lines.append("")
    return lines


def payoff_lines(art: object) -> list[str]:
    """int8's verdict per target, as its build recorded it (edgekit/compiler/payoff.py)."""
    if art is None:
        return []
    found = []
    for t in art.manifest["targets"]:
        s = t.get("speed") or {}
        if "pays_off" in s:
            floats = ", ".join(f"{p} {v:.3g} ms" for p, v in s["floats_ms"].items())
            verdict = "pays for itself" if s["pays_off"] else f"**does not pay for itself** (ship {s['best_float']})"
            found.append(f"- int8 on {t['name']}: {s['ms']:.3g} ms vs {floats} at build time: {verdict}")
    return found


if __name__ == "__main__":
    main()
