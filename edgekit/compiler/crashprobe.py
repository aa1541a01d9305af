"""Crash isolation: does onnxruntime survive opening a graph edgekit made?

Some graphs that converters produce are valid ONNX yet crash onnxruntime's session creation
with a segfault (seen: an fp16 Transpose after an LSTM at optimisation level *all*). In-process,
that kills the user's compile — and, in a bundle, the user's app at ``load``. Opening the graph
once in a child process first turns the crash into an answer that edgekit can act on.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

_OPEN = ("import sys, onnxruntime as o\n"
         "so = o.SessionOptions()\n"
         "so.graph_optimization_level = o.GraphOptimizationLevel.ORT_ENABLE_ALL\n"
         "so.log_severity_level = 4\n"
         "o.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])\n")


def session_crash(path: Path, timeout_s: float = 300.0) -> str | None:
    """None when a child process opens ``path`` in onnxruntime (level all, as runtimes do) without
    dying from a signal; else what killed it. An ordinary load error is not a crash: the
    in-process load reports it with its context."""
    try:
        proc = subprocess.run([sys.executable, "-c", _OPEN, str(path)], capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"onnxruntime did not finish opening it within {timeout_s:.0f} s"
    if proc.returncode >= 0:
        return None
    try:
        name = signal.Signals(-proc.returncode).name
    except ValueError:
        name = f"signal {-proc.returncode}"
    return f"onnxruntime crashed ({name}) creating a session on it"
