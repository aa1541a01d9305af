"""Runs a bundle's ``nvidia-gpu`` target: a TensorRT engine, numpy in and numpy out.

Device memory and the stream go through cuda-python, not torch. The engine comes from
the bundle when it was built for this GPU and TensorRT version; otherwise from the
user cache, built there from the bundle's ``model.onnx`` the first time (said once,
as a warning on the ``edgekit.tensorrt`` logger) and checked against the bundle's golden
samples before it is used: nobody checked parity on this GPU when the bundle was built.

A runtime owns one execution context and one CUDA stream, and is bound to the thread
that created it: a call from another thread is an error, unless it was loaded with
``thread_safe=True``, which serialises calls behind a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.backends.tensorrt.cuda import CudaError, DeviceBuffer, Stream, call, cudart, gpu_info
from edgekit.backends.tensorrt.engine import (
    LOG,
    EngineCache,
    EngineChoice,
    build_engine,
    choose_engine,
    engine_key,
    make_logger,
    tensorrt_version,
)
from edgekit.backends.tensorrt.probe import probe
from edgekit.bundle import sha256_file
from edgekit.cache import user_cache_dir
from edgekit.errors import BundleError, InputError, ParityError, TargetUnavailable
from edgekit.layout import Layout
from edgekit.runtimes.base import Runtime

if TYPE_CHECKING:
    from edgekit.bundle import Bundle

_ANNOUNCED: set[str] = set()  # rebuilds already announced in this process


class TensorRtRuntime(Runtime):
    """TensorRT behind the Runtime API, on one GPU, one stream, one execution context."""

    backend = "tensorrt"
    probe = staticmethod(probe)
    options = ("cache_dir", "device", "thread_safe")

    def __init__(self, bundle: Bundle, target: str = "nvidia-gpu", threads: int | None = None,
                 cache_dir: str | Path | None = None, device: int = 0, thread_safe: bool = False) -> None:
        import tensorrt as trt

        super().__init__(bundle.target_inputs(target), bundle.outputs, target, bundle)
        entry = bundle.target(target)
        profiles = _profiles(entry, bundle)
        onnx_file = bundle.target_file(target, "onnx")
        onnx_sha = (bundle.manifest["files"].get(entry["files"]["onnx"]) or {}).get("sha256") or sha256_file(onnx_file)
        try:
            self._stream = Stream(int(device))
            gpu = gpu_info(int(device))
        except CudaError as err:
            raise TargetUnavailable(f"CUDA device {device} cannot be used: {err}") from err
        host_key = engine_key(gpu, tensorrt_version(), bundle.precision, profiles, onnx_sha)
        cache = EngineCache(Path(cache_dir) if cache_dir is not None else user_cache_dir("tensorrt"))
        bundle_engine = bundle.target_file(target, "engine") if "engine" in entry["files"] else None
        choice = choose_engine(entry.get("engine_key"), bundle_engine, host_key, cache)
        self.gpu = gpu
        self._logger = make_logger()
        self._trt_runtime = trt.Runtime(self._logger)
        engine, choice, plan = self._open_engine(choice, cache, host_key, onnx_file, profiles)
        self.engine_source = choice.source  # "bundle", "cache" or "build"
        self.engine_path = choice.path
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise TargetUnavailable(f"TensorRT could not create an execution context on {gpu.name}",
                                    note="usually too little free GPU memory; see the edgekit.tensorrt log")
        self._bind_io(trt)
        self._owner = threading.get_ident()
        self._lock = threading.Lock() if thread_safe else None
        self._allocator: Any = None
        if choice.source == "build":
            self._verify_rebuild()
            cache.store(host_key, plan)

    def _open_engine(self, choice: EngineChoice, cache: EngineCache, key: dict[str, Any], onnx_file: Path,
                     profiles: dict[str, dict[str, list[int]]]) -> tuple[Any, EngineChoice, bytes]:
        """The chosen engine, deserialized; built into the cache when none fits (or none deserializes).
        Returns the engine, where it came from, and the new plan's bytes when one was built."""
        if choice.source != "build":
            engine = self._trt_runtime.deserialize_cuda_engine(choice.path.read_bytes())
            if engine is not None:
                return engine, choice, b""
            # Same key, yet this TensorRT will not read it: rebuild rather than fail.
            choice = EngineChoice("build", cache.plan_path(key),
                                  f"TensorRT {key['tensorrt']} could not deserialize {choice.path.name}")
        _announce(choice.path.stem, f"building a TensorRT engine for {self.gpu.name} from {onnx_file.name} into "
                  f"{cache.root} (the bundle's engine does not fit: {choice.reason}); later loads reuse it")
        plan = build_engine(onnx_file, profiles, cache.timing_cache_path(key))
        engine = self._trt_runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise TargetUnavailable(f"TensorRT could not load the engine it just built for {self.gpu.name}",
                                    note="see the edgekit.tensorrt log")
        return engine, choice, plan

    def _verify_rebuild(self) -> None:
        """A rebuilt engine was never parity-checked: it must pass the bundle's golden samples
        before it is cached and used."""
        if self.bundle is None or Layout.GOLDEN not in self.bundle.manifest.get("files", {}):
            return
        report = self.selfcheck(raise_on_failure=False)
        if not report.passed:
            self.close()
            raise ParityError(f"the TensorRT engine rebuilt for {self.gpu.name} fails the bundle's golden samples: "
                              f"{report.summary()}", report)

    @classmethod
    def from_bundle(cls, bundle: Bundle, target: str, threads: int | None = None, **options: Any) -> TensorRtRuntime:
        return cls(bundle, target, threads, **options)

    # -- set-up -------------------------------------------------------------
    def _bind_io(self, trt: Any) -> None:
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if set(inputs) != {s.name for s in self.inputs} or not set(self.output_names) <= set(outputs):
            raise BundleError(f"the TensorRT engine's inputs {inputs} and outputs {outputs} do not match the "
                              f"bundle's signature")
        shape_inputs = [n for n in inputs if engine.is_shape_inference_io(n)]
        if shape_inputs:
            raise BundleError(f"input(s) {', '.join(shape_inputs)} are TensorRT shape tensors, which edgekit's "
                              "runtime does not feed")
        self._dtypes = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
        self._ranges = {}
        for name in inputs:
            if any(d < 0 for d in engine.get_tensor_shape(name)):
                lo, _, hi = engine.get_tensor_profile_shape(name, 0)
                self._ranges[name] = (tuple(lo), tuple(hi))
        self._extra_outputs = [n for n in outputs if n not in self.output_names]
        self._buffers = {n: DeviceBuffer() for n in names}

    # -- running --------------------------------------------------------------
    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self._lock is None:
            if threading.get_ident() != self._owner:
                raise InputError(
                    "this TensorRT runtime is bound to the thread that loaded it, and was called from another",
                    note="load it in each thread, or with thread_safe=True to share one (calls then take turns)",
                )
            return super().run(inputs)
        with self._lock:
            return super().run(inputs)

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The signature's checks, plus the engine's profile: sizes outside it are refused up front."""
        feed = super().check_inputs(inputs)
        for name, (lo, hi) in self._ranges.items():
            shape = feed[name].shape
            if any(not a <= s <= b for s, a, b in zip(shape, lo, hi)):
                span = [f"{a}" if a == b else f"{a}..{b}" for a, b in zip(lo, hi)]
                raise InputError(
                    f"input '{name}' has shape {list(shape)}; this TensorRT engine takes [{', '.join(span)}]",
                    note=f"the range is fixed when the engine is built: compile with --dynamic {name}:AXIS:MIN:OPT:MAX",
                )
        return feed

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return self._execute(feed)
        except CudaError as err:  # the device, not the inputs: out of memory, a lost GPU …
            raise TargetUnavailable(f"the GPU failed while running: {err}") from err

    def _execute(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if threading.get_ident() != self._owner:  # thread_safe: the CUDA runtime's device is per thread
            call("cudaSetDevice", cudart().cudaSetDevice(self._stream.device))
        ctx, stream = self._context, self._stream
        staged = []  # host arrays must outlive the asynchronous copies
        for name, value in feed.items():
            value = np.ascontiguousarray(value, dtype=self._dtypes[name])
            staged.append(value)
            if not ctx.set_input_shape(name, value.shape):
                raise ValueError(f"TensorRT refused shape {list(value.shape)} for input '{name}'")
            ctx.set_tensor_address(name, self._buffers[name].upload(value, stream))
        shapes = {n: tuple(ctx.get_tensor_shape(n)) for n in (*self.output_names, *self._extra_outputs)}
        dynamic = [n for n, s in shapes.items() if any(d < 0 for d in s)]
        if dynamic:
            self._output_allocator().shapes.clear()
        for name, shape in shapes.items():
            if name in dynamic:
                ctx.set_output_allocator(name, self._output_allocator())
            else:
                nbytes = int(np.prod(shape, dtype=np.int64)) * self._dtypes[name].itemsize
                ctx.set_tensor_address(name, self._buffers[name].ensure(nbytes))
        if not ctx.execute_async_v3(stream.ptr):
            raise RuntimeError("TensorRT's execute_async_v3 failed; see the edgekit.tensorrt log")
        if dynamic:  # data-dependent shapes are stated only to the allocator, once the engine has run
            stream.synchronize()
            unknown = [n for n in dynamic if n not in self._allocator.shapes]
            if unknown:
                raise RuntimeError(f"TensorRT did not report the shape of output(s) {', '.join(unknown)}")
            shapes.update({n: self._allocator.shapes[n] for n in dynamic})
        results = {}
        for name in self.output_names:
            out = np.empty(shapes[name], dtype=self._dtypes[name])
            results[name] = self._buffers[name].download(out, stream)
        stream.synchronize()
        return {s.name: _as_dtype(results[s.name], s.dtype) for s in self.outputs}

    def _output_allocator(self) -> Any:
        if self._allocator is None:
            self._allocator = _make_output_allocator(self._buffers)
        return self._allocator

    def close(self) -> None:
        super().close()
        for buffer in getattr(self, "_buffers", {}).values():
            buffer.free()
        self._context = None
        self._engine = None
        if getattr(self, "_stream", None) is not None:
            self._stream.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: CUDA may already be gone
            pass


def _as_dtype(value: np.ndarray, dtype: str) -> np.ndarray:
    """Engines may carry int64 as int32 or bool as uint8; hand back the signature's dtype."""
    return value if value.dtype == np.dtype(dtype) else value.astype(dtype)


def _profiles(entry: dict[str, Any], bundle: Bundle) -> dict[str, dict[str, list[int]]]:
    profiles = entry.get("profiles") or {}
    valid = isinstance(profiles, dict) and all(
        isinstance(p, dict) and all(isinstance(p.get(k), list) and all(isinstance(d, int) for d in p[k])
                                    for k in ("min", "opt", "max"))
        for p in profiles.values()
    )
    if not valid:
        raise BundleError(f"bundle {bundle.path.name}: the nvidia-gpu target's profiles are malformed")
    return profiles


def _announce(key: str, message: str) -> None:
    if key not in _ANNOUNCED:
        _ANNOUNCED.add(key)
        LOG.warning("%s", message)


def _make_output_allocator(buffers: dict[str, Any]) -> Any:
    """Device memory for outputs whose shape depends on the data (NonZero, NMS …)."""
    import tensorrt as trt

    class _OutputAllocator(trt.IOutputAllocator):
        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)
            self.shapes: dict[str, tuple[int, ...]] = {}

        def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
            return buffers[tensor_name].ensure(size)

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int,
                                    stream: int) -> int:
            return buffers[tensor_name].ensure(size)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            self.shapes[tensor_name] = tuple(shape)

    return _OutputAllocator()
