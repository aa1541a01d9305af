"""Runs a bundle's ``intel-cpu`` target: OpenVINO IR on the CPU plugin.

The compiled model is cached in a user cache folder (never inside the bundle, which
may be read-only), so a second load skips compilation. Each thread gets its own
infer request, reused across calls: requests are not thread-safe, compiled models are.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.cache import user_cache_dir
from edgekit.deps import module_missing
from edgekit.runtimes.base import Runtime

if TYPE_CHECKING:
    from edgekit.bundle import Bundle

INSTALL_HINT = "pip install 'edgekit[openvino]' (or: pip install openvino)"
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
# OpenVINO's CPU plugin computes floating-point layers in bf16 by default on CPUs that
# have it, which an fp32 artifact's parity would not survive. The bundle's graph decides
# the precision instead: f32 for float layers (fp16 weights are widened, as OpenVINO does
# on CPUs without fp16 compute); QDQ layers still execute in int8.
INFERENCE_PRECISION = {"fp32": "f32", "fp16": "f32", "int8": "f32", "int8-dynamic": "f32"}


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


class OpenVinoRuntime(Runtime):
    """OpenVINO behind the Runtime API; safe from many threads (one request per thread)."""

    backend = "openvino"
    probe = staticmethod(probe)
    options = ("hint", "cache_dir")

    def __init__(self, xml: Path, target: str, bundle: Bundle, threads: int | None = None,
                 hint: str = "LATENCY", cache_dir: Path | None = None) -> None:
        import openvino as ov

        super().__init__(bundle.target_inputs(target), bundle.outputs, target, bundle)
        if hint not in PERFORMANCE_HINTS:
            from edgekit.errors import InputError

            raise InputError(f"unknown performance hint '{hint}'", note=f"choose from {', '.join(PERFORMANCE_HINTS)}")
        cache = cache_dir if cache_dir is not None else user_cache_dir("openvino")
        cache.mkdir(parents=True, exist_ok=True)
        core = ov.Core()
        self.config = compile_config(bundle.precision, hint, threads, cache)
        self._compiled = core.compile_model(str(xml), "CPU", self.config)
        # A port may carry several tensor names (fp16 graphs end in Casts); match any of them.
        ports = [set(p.get_names()) for p in self._compiled.outputs]
        missing = [n for n in self.output_names if not any(n in names for names in ports)]
        if missing:
            from edgekit.errors import BundleError

            raise BundleError(f"the OpenVINO model lacks output(s) {', '.join(missing)} of the bundle's signature")
        self._out_index = [next(i for i, names in enumerate(ports) if n in names) for n in self.output_names]
        self._local = threading.local()

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
        request.infer(feed)
        # Output tensors are reused by the next infer: hand out copies.
        return {name: np.array(request.get_output_tensor(i).data, copy=True)
                for name, i in zip(self.output_names, self._out_index)}

    def execution_precisions(self) -> dict[str, list[str]]:
        """Runtime precision per executed layer type, as the CPU plugin reports it."""
        return layer_precisions(self._compiled)

    def close(self) -> None:
        super().close()
        self._local = threading.local()
        self._compiled = None
