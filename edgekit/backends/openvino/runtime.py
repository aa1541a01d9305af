"""Runs a bundle's ``intel-cpu`` target: OpenVINO IR on the CPU plugin.

The compiled model is cached in a user cache folder (never inside the bundle, which
may be read-only), so a second load skips compilation. Each thread gets its own
infer request, reused across calls: requests are not thread-safe, compiled models are.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.cache import user_cache_dir
from edgekit.deps import module_missing
from edgekit.onnxtypes import EXOTIC_DTYPES
from edgekit.runtimes.base import Runtime, check_mode

if TYPE_CHECKING:
    from edgekit.bundle import Bundle

INSTALL_HINT = "pip install 'edgekit[openvino]' (or: pip install openvino)"
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
# OpenVINO's CPU plugin computes floating-point layers in bf16 by default on CPUs that
# have it, which an fp32 artifact's parity would not survive. The bundle's graph decides
# the precision instead: f32 for float layers (fp16 weights are widened, as OpenVINO does
# on CPUs without fp16 compute); QDQ layers still execute in int8. A bf16 bundle asks for
# bf16, and layers its IR marks as precision-sensitive stay f32.
INFERENCE_PRECISION = {"fp32": "f32", "fp16": "f32", "int8": "f32", "int8-dynamic": "f32", "bf16": "bf16"}


def probe() -> str | None:
    if module_missing("openvino"):
        return f"openvino is not installed ({INSTALL_HINT})"
    return None


def compile_config(precision: str, hint: str = "LATENCY", threads: int | None = None,
                   cache_dir: Path | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
    if precision in INFERENCE_PRECISION:
        config["INFERENCE_PRECISION_HINT"] = INFERENCE_PRECISION[precision]
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    return config


def layer_precisions(compiled: Any, layers: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Which precisions each executed layer type runs in (``runtimePrecision`` of the runtime model)."""
    found: dict[str, set[str]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        if layers is None or layer in layers:
            precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
            found.setdefault(layer, set()).add(precision)
    return {k: sorted(v) for k, v in sorted(found.items())}


def _warn_if_not_native(precision: str) -> None:
    """A bf16 bundle on a CPU without bf16 instructions: OpenVINO then runs f32 (slower than measured)."""
    from edgekit.native import unsupported_reason

    reason = unsupported_reason(precision)
    if reason is not None:
        logging.getLogger("edgekit.openvino").warning("%s bundle on a host where %s", precision, reason)


class OpenVinoRuntime(Runtime):
    """OpenVINO behind the Runtime API; safe from many threads (one request per thread)."""

    backend = "openvino"
    probe = staticmethod(probe)
    options = ("hint", "cache_dir", "mode")

    def __init__(self, xml: Path, target: str, bundle: Bundle, threads: int | None = None,
                 hint: str | None = None, cache_dir: Path | None = None, mode: str = "latency") -> None:
        import openvino as ov

        super().__init__(bundle.target_inputs(target), bundle.outputs, target, bundle)
        self.mode = check_mode(mode)
        hint = hint or ("THROUGHPUT" if mode == "throughput" else "LATENCY")
        if hint not in PERFORMANCE_HINTS:
            from edgekit.errors import InputError

            raise InputError(f"unknown performance hint '{hint}'", note=f"choose from {', '.join(PERFORMANCE_HINTS)}")
        _warn_if_not_native(bundle.precision)
        cache = cache_dir if cache_dir is not None else user_cache_dir("openvino")
        cache.mkdir(parents=True, exist_ok=True)
        core = ov.Core()
        self.config = compile_config(bundle.precision, hint, threads, cache)
        # From the model object, not its path: the cache key is then the graph's content, so a
        # verified private copy (load() reads each time from a new temp folder) hits the cache.
        self._compiled = core.compile_model(core.read_model(str(xml)), "CPU", self.config)
        # A port may carry several tensor names (fp16 graphs end in Casts); match any of them.
        ports = [set(p.get_names()) for p in self._compiled.outputs]
        missing = [n for n in self.output_names if not any(n in names for names in ports)]
        if missing:
            from edgekit.errors import BundleError

            raise BundleError(f"the OpenVINO model lacks output(s) {', '.join(missing)} of the bundle's signature")
        self._out_index = [next(i for i, names in enumerate(ports) if n in names) for n in self.output_names]
        self._local = threading.local()
        self._queue: Any = None
        self._queue_lock = threading.Lock()

    @classmethod
    def from_bundle(cls, bundle: Bundle, target: str, threads: int | None = None, **options: Any) -> OpenVinoRuntime:
        bundle.target_file(target, "weights")  # refuses a manifest that does not list the .bin
        return cls(bundle.target_file(target, "model"), target, bundle, threads, **options)

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = self._request()
        request.infer(_ov_feed(feed))
        return self._outputs(request)  # output tensors are reused by the next infer: copies

    def _outputs(self, request: Any) -> dict[str, np.ndarray]:
        return {name: np.array(request.get_output_tensor(i).data, copy=True)
                for name, i in zip(self.output_names, self._out_index)}

    def _run_many(self, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """The compiled model's optimal number of infer requests run the feeds side by side, rolling:
        as soon as the oldest request is collected it takes the next feed (no batch barrier).

        Plain requests, not an AsyncInferQueue: the queue needs a Python callback to collect
        outputs, and a request holding one can deadlock when torn down — its destructor, on an
        OpenVINO thread, needs the GIL that the caller holds while destroying the compiled model
        (reproduced with OpenVINO 2026.4.1: load → run_many → close hangs in ``~CompiledModel``
        on the second load; a pause between dropping the queue and the model hides it; see
        benchmarks/RESULTS.md). No request is ever left in flight, even when a feed is refused.
        """
        from collections import deque

        results: list[Any] = [None] * len(feeds)
        with self._queue_lock:  # one set of requests, one list of feeds at a time
            if self._queue is None:
                jobs = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
                self._queue = [self._compiled.create_infer_request() for _ in range(max(1, jobs))]
            free, busy = deque(self._queue), deque()
            try:
                for i, feed in enumerate(feeds):
                    if not free:
                        free.append(self._collect(busy.popleft(), results))
                    request = free.popleft()
                    request.start_async(_ov_feed(feed))
                    busy.append((i, request))
                while busy:
                    self._collect(busy.popleft(), results)
            finally:
                for _, request in busy:
                    request.wait()
        return results

    def _collect(self, job: tuple[int, Any], results: list[Any]) -> Any:
        index, request = job
        request.wait()
        results[index] = self._outputs(request)
        return request

    def execution_precisions(self) -> dict[str, list[str]]:
        """Runtime precision per executed layer type, as the CPU plugin reports it."""
        return layer_precisions(self._compiled)

    def close(self) -> None:
        super().close()
        self._local = threading.local()
        with self._queue_lock:  # after any run_many in flight: its requests are dropped idle
            self._queue = None
        self._compiled = None


# ml_dtypes type -> OpenVINO element type name. OpenVINO reads a numpy bfloat16 array as the
# wrong type (and its bf16 tensors expose float16 data), so these go in as raw bits.
_OV_TYPES = {"bfloat16": "bf16", "float8_e4m3fn": "f8e4m3", "float8_e5m2": "f8e5m2"}


def _ov_feed(feed: dict[str, np.ndarray]) -> dict[str, Any]:
    """The feed, with bfloat16/float8 arrays copied bit for bit into OpenVINO tensors of their type."""
    if not any(a.dtype.name in EXOTIC_DTYPES for a in feed.values()):
        return feed
    import openvino as ov

    out: dict[str, Any] = {}
    for name, array in feed.items():
        kind = _OV_TYPES.get(array.dtype.name)
        if kind is None:
            out[name] = array
            continue
        tensor = ov.Tensor(getattr(ov.Type, kind), ov.Shape(list(array.shape)))
        bits = np.uint16 if array.dtype.itemsize == 2 else np.uint8
        tensor.data.view(bits)[...] = np.ascontiguousarray(array).view(bits)
        out[name] = tensor
    return out
