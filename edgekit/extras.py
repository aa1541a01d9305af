"""Optional extras checked before any work starts: a missing one is an install hint, not a
ModuleNotFoundError traceback after a long benchmark."""

from __future__ import annotations

from edgekit.deps import module_missing
from edgekit.errors import TargetUnavailable

COMPILE_MODULES = ("onnx", "onnxsim", "onnxscript", "torch")
COMPILE_HINT = "pip install 'edgekit[compile]'"
PLOT_HINT = "pip install 'edgekit[compile]' (or: pip install matplotlib)"


def require_compile(purpose: str = "compiling") -> None:
    """Raises TargetUnavailable naming the missing packages of the ``[compile]`` extra."""
    missing = [m for m in COMPILE_MODULES if module_missing(m)]
    if missing:
        raise TargetUnavailable(f"{purpose} needs {', '.join(missing)}, not installed here", note=COMPILE_HINT)


def require_plotting(purpose: str = "plotting") -> None:
    if module_missing("matplotlib"):
        raise TargetUnavailable(f"{purpose} needs matplotlib, not installed here", note=PLOT_HINT)
