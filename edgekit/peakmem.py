"""A process's own peak resident memory.

``ru_maxrss`` is the wrong figure for a child started by fork+exec from a big parent: Linux
folds the forked copy of the parent's address space into it at exec, so every child of a
578 MB parent reports at least 578 MB. ``VmHWM`` (the high-water mark of this process's
own address space, which exec replaces) is the child's alone.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory in MB (10^6 bytes) of ``pid`` (default: this process).

    Reads ``VmHWM`` from ``/proc/<pid>/status``; where there is no ``/proc`` (macOS), falls
    back to ``ru_maxrss``, which is right only for a process that did not exec from a big parent.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # the kernel reports kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    if pid != "self":
        raise OSError(f"no peak memory figure for process {pid}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1e6 if sys.platform == "darwin" else maxrss * 1024 / 1e6  # bytes on macOS, KiB on Linux
