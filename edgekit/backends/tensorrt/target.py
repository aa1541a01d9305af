"""Target ``nvidia-gpu``: a TensorRT engine built from the bundle's portable ONNX.

The engine (``nvidia-gpu/<gpu>-trt<version>.plan``) only runs on the GPU model and
TensorRT version that built it, so the target also lists the portable ``model.onnx``
and records the engine's key and optimization profile: ``load`` on any other GPU
rebuilds from those into the user cache (see ``edgekit.backends.tensorrt.engine``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.precision import Precision
from edgekit.targets.base import Target


class NvidiaGpuTarget(Target):
    name = "nvidia-gpu"
    backend = "tensorrt"
    # TensorRT's Python module comes from any of these distributions, in the order pip users meet them.
    packages = ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-bindings", "tensorrt-cu12-bindings")
    # Dynamic int8 (activations quantized at run time) has no TensorRT equivalent.
    precisions = (Precision.FP32.value, Precision.FP16.value, Precision.INT8.value)

    def _build(self, onnx_path: Path, precision: str, out_dir: Path,
               **options: Any) -> tuple[dict[str, Path], dict[str, Any]]:
        from edgekit.backends.tensorrt.cuda import gpu_info
        from edgekit.backends.tensorrt.engine import (
            EngineCache,
            build_engine,
            engine_file_name,
            engine_key,
            tensorrt_version,
        )
        from edgekit.bundle import sha256_file
        from edgekit.cache import user_cache_dir

        profiles = dict(options.get("profiles") or {})
        details: dict[str, Any] = {}
        static = options.get("static_shapes")
        if static:  # one shape: min = opt = max, and the runtime refuses any other
            profiles = {n: {k: list(static[n]) for k in ("min", "opt", "max")} for n in profiles}
            details["inputs"] = [{"name": n, "shape": list(s), "dtype": options["dtypes"][n]}
                                 for n, s in static.items()]
        gpu = gpu_info(int(options.get("device", 0)))
        key = engine_key(gpu, tensorrt_version(), precision, profiles, sha256_file(onnx_path))
        cache = EngineCache(user_cache_dir("tensorrt"))
        plan = build_engine(onnx_path, profiles, cache.timing_cache_path(key))
        engine = out_dir / engine_file_name(key)
        engine.write_bytes(plan)
        details.update({"engine_key": key, "profiles": key["profiles"], "strongly_typed": True,
                        "gpu_memory_bytes": gpu.memory_bytes})
        return {"engine": engine, "onnx": onnx_path}, details
