"""TensorRT engines: the key an engine is valid for, the user cache, and building one.

An engine runs only on the GPU model and TensorRT version that built it. Its *key*
records those and what it was built from (precision, profile shapes, the ONNX's
sha256). A bundle's engine whose key differs from the host's is rebuilt from the
bundle's portable ONNX into the user cache, never into the bundle, and found there
by the key's digest next time.

Networks are built *strongly typed*: the ONNX graph's own types decide each layer's
precision (fp16 graphs run in fp16, QDQ pairs in int8), so TensorRT inherits the
quantization decisions that parity was checked on instead of choosing its own.
TensorRT 11 builds nothing else; on 10.x it is the documented way for QDQ graphs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.backends.tensorrt.cuda import GpuInfo, slugify
from edgekit.bundle import sha256_file, write_atomic
from edgekit.errors import TargetBuildError, one_line

LOG = logging.getLogger("edgekit.tensorrt")
OPT_LEVEL_ENV = "EDGEKIT_TENSORRT_OPT_LEVEL"
KEY_FIELDS = ("gpu", "compute_capability", "tensorrt", "precision", "profiles", "onnx_sha256")


class EngineBuildError(TargetBuildError):
    """TensorRT refused the graph or could not build it; says which node or why."""


# -- keys -------------------------------------------------------------------
def engine_key(gpu: GpuInfo, tensorrt_version: str, precision: str, profiles: dict[str, dict[str, list[int]]],
               onnx_sha256: str) -> dict[str, Any]:
    """Everything an engine is only valid for. Two hosts with equal keys can share engines."""
    return {
        "gpu": gpu.name,
        "compute_capability": gpu.compute_capability,
        "tensorrt": tensorrt_version,
        "precision": precision,
        "profiles": {name: {k: [int(d) for d in p[k]] for k in ("min", "opt", "max")}
                     for name, p in sorted(profiles.items())},
        "onnx_sha256": onnx_sha256,
    }


def key_digest(key: dict[str, Any]) -> str:
    text = json.dumps({k: key.get(k) for k in KEY_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def engine_file_name(key: dict[str, Any]) -> str:
    """``<gpu>-trt<version>.plan``, the name a bundle stores its engine under."""
    return f"{slugify(key['gpu'])}-trt{key['tensorrt']}.plan"


def rebuild_reason(stored: dict[str, Any] | None, host: dict[str, Any]) -> str | None:
    """Why a bundle's engine cannot run on this host (None when it can), in words."""
    if not isinstance(stored, dict) or any(k not in stored for k in KEY_FIELDS):
        return "the bundle records no complete engine key"
    reasons = []
    if (stored["gpu"], stored["compute_capability"]) != (host["gpu"], host["compute_capability"]):
        reasons.append(f"it was built for {stored['gpu']} (compute capability {stored['compute_capability']}), "
                       f"this host has {host['gpu']} ({host['compute_capability']})")
    if stored["tensorrt"] != host["tensorrt"]:
        reasons.append(f"it was built with TensorRT {stored['tensorrt']}, this host has {host['tensorrt']}")
    for field, words in (("precision", "precision"), ("profiles", "profile shapes"),
                         ("onnx_sha256", "source ONNX")):
        if stored[field] != host[field]:
            reasons.append(f"its {words} differ from the bundle's")
    return "; ".join(reasons) or None


# -- the cache --------------------------------------------------------------
@dataclass(frozen=True)
class EngineChoice:
    """Where the engine to run comes from: ``bundle``, ``cache``, or ``build`` (into ``path``)."""

    source: str
    path: Path
    reason: str | None  # why the bundle's engine is not used; None when it is


class EngineCache:
    """Engines keyed by digest, ``<digest>.plan`` with a ``<digest>.json`` holding its key and hash,
    and one timing cache per GPU model and TensorRT version beside them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def plan_path(self, key: dict[str, Any]) -> Path:
        return self.root / f"{key_digest(key)}.plan"

    def timing_cache_path(self, key: dict[str, Any]) -> Path:
        return self.root / f"timing-{slugify(key['gpu'])}-sm{key['compute_capability']}-trt{key['tensorrt']}.cache"

    def lookup(self, key: dict[str, Any]) -> Path | None:
        """The cached engine for ``key`` if present, whole and recorded for that very key."""
        plan = self.plan_path(key)
        meta = plan.with_suffix(".json")
        try:
            record = json.loads(meta.read_text())
            if record.get("key") != key or record.get("sha256") != sha256_file(plan):
                LOG.warning("ignoring the damaged or mismatched cached engine %s", plan)
                return None
        except (OSError, ValueError):
            return None
        return plan

    def store(self, key: dict[str, Any], plan: bytes) -> Path:
        """Writes atomically: other processes see a whole engine or none."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.plan_path(key)
        write_atomic(path, plan)
        record = {"key": key, "sha256": hashlib.sha256(plan).hexdigest()}
        write_atomic(path.with_suffix(".json"), json.dumps(record, indent=2).encode())
        return path


def choose_engine(stored_key: dict[str, Any] | None, bundle_engine: Path | None, host_key: dict[str, Any],
                  cache: EngineCache) -> EngineChoice:
    """The bundle's engine when its key is the host's; else a cached rebuild; else build one."""
    reason = rebuild_reason(stored_key, host_key)
    if reason is None and bundle_engine is not None:
        return EngineChoice("bundle", bundle_engine, None)
    reason = reason or "the bundle carries no engine"
    cached = cache.lookup(host_key)
    if cached is not None:
        return EngineChoice("cache", cached, reason)
    return EngineChoice("build", cache.plan_path(host_key), reason)


# -- building (needs TensorRT and a GPU) --------------------------------------
def tensorrt_version() -> str:
    import tensorrt as trt

    return str(trt.__version__)


def make_logger(errors: list[str] | None = None) -> Any:
    """A TensorRT logger that routes messages to ``logging`` (``edgekit.tensorrt``) and keeps errors."""
    import tensorrt as trt

    levels = {
        trt.ILogger.Severity.INTERNAL_ERROR: logging.ERROR, trt.ILogger.Severity.ERROR: logging.ERROR,
        trt.ILogger.Severity.WARNING: logging.WARNING, trt.ILogger.Severity.INFO: logging.DEBUG,
        trt.ILogger.Severity.VERBOSE: logging.DEBUG,
    }

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            level = levels.get(severity, logging.DEBUG)
            LOG.log(level, "%s", msg)
            if errors is not None and level >= logging.ERROR:
                errors.append(one_line(msg))

    return _Logger()


def build_engine(onnx_path: Path, profiles: dict[str, dict[str, list[int]]], timing_cache: Path | None = None,
                 *, allow_tf32: bool = False, workspace_bytes: int | None = None) -> bytes:
    """Parses the ONNX file (external data beside it is found) and builds a serialized engine.

    TF32 is off unless asked for: it rounds fp32 matmuls and convolutions to a 10-bit
    mantissa, which fp32 parity (atol 1e-4) would not survive.
    """
    import tensorrt as trt

    errors: list[str] = []
    logger = make_logger(errors)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        problems = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError("TensorRT's ONNX parser refused the graph: " + "; ".join(problems or errors))
    _check_profiles(network, profiles)
    config = builder.create_builder_config()
    if not allow_tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    if workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    level = optimization_level()
    if level is not None:
        config.builder_optimization_level = level
    if profiles:
        profile = builder.create_optimization_profile()
        for name, shapes in profiles.items():
            profile.set_shape(name, shapes["min"], shapes["opt"], shapes["max"])
        config.add_optimization_profile(profile)
    cache = None
    if timing_cache is not None:
        cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=True)  # a stale cache only costs tuning time
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError("TensorRT could not build an engine: " + ("; ".join(errors[-3:]) or "no reason given"))
    if cache is not None:
        try:
            timing_cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
        except OSError as err:  # the engine is built; a read-only cache folder only costs the next build time
            LOG.warning("could not save the TensorRT timing cache %s: %s", timing_cache, err)
    return bytes(plan)


def optimization_level() -> int | None:
    """``EDGEKIT_TENSORRT_OPT_LEVEL`` (0-5): lower builds faster, slower engines; unset: TensorRT's default (3)."""
    text = os.environ.get(OPT_LEVEL_ENV)
    if text is None or text == "":
        return None
    if not text.isdigit() or not 0 <= int(text) <= 5:
        raise EngineBuildError(f"{OPT_LEVEL_ENV}={text!r} is not a TensorRT optimization level",
                               note="use a whole number from 0 to 5, or unset it")
    return int(text)


def _parser_error(err: Any) -> str:
    """One parser error as ``node NAME (OP): description``."""
    node = getattr(err, "node_name", lambda: "")() or f"#{err.node()}"
    op = getattr(err, "node_operator", lambda: "")()
    return f"node {node}{f' ({op})' if op else ''}: {one_line(err.desc())}"


def _check_profiles(network: Any, profiles: dict[str, dict[str, list[int]]]) -> None:
    """Every input with a dynamic dim needs a profile; say which ones lack it before TensorRT does."""
    missing = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        if any(d < 0 for d in tensor.shape) and tensor.name not in profiles:
            missing.append(f"{tensor.name} {list(tensor.shape)}")
    if missing:
        raise EngineBuildError(
            f"input(s) {', '.join(missing)} have dynamic dims without a size range",
            note="mark them with --dynamic NAME:AXIS:MIN:OPT:MAX",
        )
