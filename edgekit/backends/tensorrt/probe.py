"""Can this host build and run TensorRT engines? And if not, exactly what is missing.

The driver is probed through ``libcuda`` with ctypes (``cuInit`` + ``cuDeviceGetCount``),
so the answer needs neither TensorRT nor cuda-python installed, and says all that is
missing at once rather than one thing per attempt.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

from edgekit.deps import module_missing

INSTALL_HINT = "pip install 'edgekit[tensorrt]'"
DRIVER_LIBRARY = "libcuda.so.1"


@dataclass(frozen=True)
class Facts:
    """What the probe found; :func:`diagnose` turns it into a reason."""

    tensorrt: bool
    cuda_python: bool
    driver_problem: str | None  # None: a driver and at least one GPU


def diagnose(facts: Facts) -> str | None:
    """None when everything is there; else one line naming every missing piece and how to get it."""
    missing = [name for name, present in (("tensorrt", facts.tensorrt), ("cuda-python", facts.cuda_python))
               if not present]
    parts = []
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        parts.append(f"{' and '.join(missing)} {verb} not installed ({INSTALL_HINT})")
    if facts.driver_problem:
        parts.append(facts.driver_problem)
    return "; ".join(parts) or None


def cuda_python_missing() -> bool:
    """cuda-python ships ``cuda.bindings`` (12.6+) or the older ``cuda.cudart``."""
    return module_missing("cuda.bindings") and module_missing("cuda.cudart")


@functools.lru_cache(maxsize=1)
def driver_problem() -> str | None:
    """None when the NVIDIA driver loads and sees a GPU; else what is wrong, in words."""
    try:
        lib = ctypes.CDLL(DRIVER_LIBRARY)
    except OSError:
        return f"no NVIDIA driver ({DRIVER_LIBRARY} not found): this host has no usable NVIDIA GPU"
    code = lib.cuInit(0)
    if code != 0:
        return f"the NVIDIA driver does not start (cuInit: {_error_name(lib, code)})"
    count = ctypes.c_int(0)
    code = lib.cuDeviceGetCount(ctypes.byref(count))
    if code != 0:
        return f"the NVIDIA driver cannot count GPUs (cuDeviceGetCount: {_error_name(lib, code)})"
    if count.value == 0:
        return "the NVIDIA driver sees no GPU"
    return None


def _error_name(lib: ctypes.CDLL, code: int) -> str:
    name = ctypes.c_char_p()
    try:
        if lib.cuGetErrorName(code, ctypes.byref(name)) == 0 and name.value:
            return f"{name.value.decode()} ({code})"
    except AttributeError:
        pass
    return f"error {code}"


def probe() -> str | None:
    """None when the ``nvidia-gpu`` target can build and run here, else why not."""
    return diagnose(Facts(tensorrt=not module_missing("tensorrt"), cuda_python=not cuda_python_missing(),
                          driver_problem=driver_problem()))
