"""onnxsim, run in a child process and then checked numerically.

onnxsim is C++ and can crash or exhaust memory on unusual graphs; a child process
keeps that from taking edgekit down. Its result is used only when onnxruntime
gives the same outputs as on the unsimplified graph.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit import onnxio
from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.errors import one_line
from edgekit.parity.metrics import OutputAccumulator, rule_for

TIMEOUT_S = 600


@dataclass
class SimplifyResult:
    path: Path
    applied: bool
    detail: str


def simplify(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]]) -> SimplifyResult:
    """Simplifies ``src`` into ``dst``; returns ``src`` itself when that is not safe."""
    if onnxio.uses_external_data(src):
        return SimplifyResult(src, False, "skipped: onnxsim cannot hold a model over 2 GB")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgekit.compiler.simplify", str(src), str(dst)],
            capture_output=True, text=True, timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return SimplifyResult(src, False, f"skipped: onnxsim ran over {TIMEOUT_S} s")
    if proc.returncode != 0 or not dst.is_file():
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit code {proc.returncode}"]
        return SimplifyResult(src, False, f"skipped: onnxsim failed ({lines[-1][:300]})")
    before = OnnxRuntime(src, optimization="basic")
    rule = rule_for("fp32")
    after = None
    for feed in feeds:
        want = before._run(feed)
        try:
            after = after or OnnxRuntime(dst, optimization="basic")
            got = after._run(feed)
        except Exception as err:  # the simplified graph no longer runs at this shape
            shape = {k: list(v.shape) for k, v in feed.items()}
            return SimplifyResult(src, False, f"discarded: simplified graph fails at input shape {shape} "
                                  f"({one_line(err, 200)})")
        for name in before.output_names:
            acc = OutputAccumulator(name, rule)
            acc.add(want[name], got.get(name, np.empty(0)), None)
            metrics = acc.result()
            if not metrics.passed:
                return SimplifyResult(src, False, "discarded: simplified graph changed output "
                                      f"'{name}' ({'; '.join(metrics.failures)})")
    return SimplifyResult(dst, True, f"applied; outputs identical within fp32 tolerance on {len(feeds)} input(s)")


def _main(src: str, dst: str) -> int:
    import onnx
    import onnxsim

    model = onnx.load(src)
    simplified, ok = onnxsim.simplify(model, check_n=0)
    if not ok:
        sys.stderr.write("onnxsim reported that its result is not valid\n")  # read by the parent process
        return 1
    # onnxsim rebuilds the model; keep the producer's metadata_props.
    onnxio.set_metadata(simplified, onnxio.metadata(model))
    onnx.save_model(simplified, dst)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
