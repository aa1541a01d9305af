"""nvidia-gpu latency: edgekit's TensorRT bundles at fp32 / fp16 / int8 against torch CUDA eager
on the same GPU, numpy in and numpy out for everyone (host-device copies included).

    python benchmarks/gpu_latency.py [--model resnet18|mobilenetv2|transformer] [--rounds N] [--json]

Prints one table: median and p90 latency per contender and its ratio to torch CUDA eager fp32.
Exits 0 with a one-line reason where there is no GPU or no TensorRT.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._models import compile_at  # noqa: E402
from benchmarks._timing import measure, median, percentile  # noqa: E402

MODELS = {"resnet18": "make_resnet18", "mobilenetv2": "make_mobilenetv2", "transformer": "make_transformer"}


def run(model_name: str, rounds: int, precisions: list[str]) -> list[dict[str, object]]:
    import torch

    import edgekit
    from examples import zoo

    module, example, dynamic = getattr(zoo, MODELS[model_name])()
    feed_np = [t.numpy() for t in example]
    contenders, parity, runtimes = {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for precision in precisions:  # compiled (exported, calibrated) on the CPU, built for this GPU
            art = compile_at(module, example, precision, Path(tmp) / f"{precision}.edgekit",
                             target="nvidia-gpu", dynamic=dynamic)
            rt = edgekit.load(art.path)
            runtimes.append(rt)
            name = f"edgekit nvidia-gpu {precision}"
            feed = {s.name: a for s, a in zip(rt.inputs, feed_np)}
            contenders[name] = (lambda r=rt, f=feed: r.run(f))
            parity[name] = "pass" if art.parity.passed else "FAIL"
        cuda_module = module.to("cuda").eval()

        def torch_eager() -> object:
            with torch.no_grad():
                out = cuda_module(*(torch.from_numpy(a).to("cuda") for a in feed_np))
            return out.cpu().numpy()  # synchronises, as a numpy-returning runtime must

        contenders = {"torch CUDA eager fp32": torch_eager, **contenders}
        samples = measure(contenders, warmup=20, rounds=rounds, per_round=50)
        for rt in runtimes:
            rt.close()
    base = median(samples["torch CUDA eager fp32"])
    return [{"model": model_name, "contender": name, "p50_ms": round(median(s), 4),
             "p90_ms": round(percentile(s, 90), 4), "vs_torch_cuda": round(median(s) / base, 3),
             "parity": parity.get(name, "reference")} for name, s in samples.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precisions", default="fp32,fp16,int8")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from edgekit.backends.tensorrt.probe import probe

    reason = probe()
    if reason is not None:
        print(f"gpu_latency: not run: nvidia-gpu unavailable: {reason}")
        return 0
    rows = run(args.model, args.rounds, args.precisions.split(","))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<12} {'contender':<26} {'p50 ms':>9} {'p90 ms':>9} {'vs torch':>9}  parity")
    for r in rows:
        print(f"{r['model']:<12} {r['contender']:<26} {r['p50_ms']:>9.3f} {r['p90_ms']:>9.3f} "
              f"{r['vs_torch_cuda']:>8.3f}x  {r['parity']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
