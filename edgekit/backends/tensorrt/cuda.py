"""CUDA through cuda-python's runtime bindings: device facts, streams and device memory.

Calls return ``(error, value…)`` tuples; :func:`call` turns a failed one into a
``CudaError`` that names the call. Nothing here touches torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np


class CudaError(RuntimeError):
    """A CUDA runtime call failed."""


@functools.cache
def cudart() -> Any:
    """The runtime bindings: ``cuda.bindings.runtime`` (cuda-python 12.6+) or ``cuda.cudart``.
    Resolved once: every copy and check of ``Runtime.run`` asks for it."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        from cuda import cudart as runtime  # older cuda-python
    return runtime


def call(what: str, result: Any) -> Any:
    """Checks a cuda-python result tuple; returns its value (or values), raises on error."""
    rt = cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(err)
        message = text.decode() if isinstance(text, bytes) else str(text)
        raise CudaError(f"{what} failed: {getattr(err, 'name', err)}: {message}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class GpuInfo:
    """What an engine is tied to: the GPU model and its compute capability."""

    name: str
    compute_capability: str  # "9.0"
    memory_bytes: int = 0

    @property
    def slug(self) -> str:
        """A file-name-safe form of the GPU name: ``NVIDIA H200`` → ``nvidia-h200``."""
        return slugify(self.name)


def slugify(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(part for part in out.split("-") if part) or "gpu"


def gpu_info(device: int = 0) -> GpuInfo:
    rt = cudart()
    props = call(f"cudaGetDeviceProperties({device})", rt.cudaGetDeviceProperties(device))
    name = props.name.split(b"\0", 1)[0].decode() if isinstance(props.name, bytes) else str(props.name)
    return GpuInfo(name=name.strip(), compute_capability=f"{props.major}.{props.minor}",
                   memory_bytes=int(props.totalGlobalMem))


class Stream:
    """One CUDA stream on one device; the Runtime that owns it runs everything on it."""

    def __init__(self, device: int = 0) -> None:
        rt = cudart()
        self.device = device
        call(f"cudaSetDevice({device})", rt.cudaSetDevice(device))
        self.handle = call("cudaStreamCreate", rt.cudaStreamCreate())

    def synchronize(self) -> None:
        call("cudaStreamSynchronize", cudart().cudaStreamSynchronize(self.handle))

    @property
    def ptr(self) -> int:
        return int(self.handle)

    def close(self) -> None:
        if self.handle is not None:
            cudart().cudaStreamDestroy(self.handle)
            self.handle = None


class DeviceBuffer:
    """Device memory that grows on demand (reallocated only when a larger size is asked for)."""

    def __init__(self) -> None:
        self.ptr = 0
        self.capacity = 0

    def ensure(self, nbytes: int) -> int:
        if nbytes > self.capacity:
            self.free()
            rt = cudart()
            self.ptr = int(call(f"cudaMalloc({nbytes})", rt.cudaMalloc(max(nbytes, 1))))
            self.capacity = nbytes
        return self.ptr

    def upload(self, array: np.ndarray, stream: Stream) -> int:
        ptr = self.ensure(array.nbytes)
        if array.nbytes:
            rt = cudart()
            call("cudaMemcpyAsync (host to device)", rt.cudaMemcpyAsync(
                ptr, array.ctypes.data, array.nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.handle))
        return ptr

    def download(self, out: np.ndarray, stream: Stream) -> np.ndarray:
        if out.nbytes:
            rt = cudart()
            call("cudaMemcpyAsync (device to host)", rt.cudaMemcpyAsync(
                out.ctypes.data, self.ptr, out.nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.handle))
        return out

    def free(self) -> None:
        if self.ptr:
            cudart().cudaFree(self.ptr)
        self.ptr = 0
        self.capacity = 0
