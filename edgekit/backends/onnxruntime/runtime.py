"""Runs a bundle's ``cpu`` target on onnxruntime's CPU execution provider."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.deps import module_missing
from edgekit.errors import InputError
from edgekit.onnxtypes import EXOTIC, EXOTIC_DTYPES
from edgekit.runtimes.base import Runtime, check_mode
from edgekit.signature import TensorSpec

if TYPE_CHECKING:
    from edgekit.bundle import Bundle

ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(bfloat16)": "bfloat16", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(int16)": "int16", "tensor(uint16)": "uint16", "tensor(int32)": "int32",
    "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool", "tensor(string)": "str", "tensor(float8e4m3fn)": "float8_e4m3fn",
    "tensor(float8e4m3fnuz)": "float8_e4m3fnuz", "tensor(float8e5m2)": "float8_e5m2",
    "tensor(float8e5m2fnuz)": "float8_e5m2fnuz",
}
INSTALL_HINT = "pip install onnxruntime"


def _ort_value(array: np.ndarray) -> Any:
    """An ml_dtypes array (bfloat16, float8) as the OrtValue onnxruntime accepts for it.

    ``session.run`` refuses numpy arrays of these types ("Numpy_type 256 can't be converted");
    their bytes are ONNX's own layout, so they go in as raw bytes tagged with the ONNX type.
    """
    if array.dtype.name not in EXOTIC_DTYPES:
        return array
    import onnx
    import onnxruntime as ort

    elem = getattr(onnx.TensorProto, next(k for k, v in EXOTIC.items() if v == array.dtype.name))
    raw = np.ascontiguousarray(array).view(np.uint16 if array.dtype.itemsize == 2 else np.uint8)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(raw, elem)


def probe() -> str | None:
    """None when onnxruntime can run here, else why not (without importing it)."""
    if module_missing("onnxruntime"):
        return f"onnxruntime is not installed ({INSTALL_HINT})"
    return None


def session_options(threads: int | None = None, level: str = "all") -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Fatal only: onnxruntime's C++ log lines go straight to the process's stderr, past logging and
    # around the CLI's display, and every error it logs also arrives as the exception edgekit reports
    # with its context (a probe at a size the model refuses printed both).
    opts.log_severity_level = 4
    return opts


def create_session(path: Path, opts: Any) -> Any:
    """An InferenceSession on the CPU provider; backend refusals become errors with context."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        raise InputError(f"onnxruntime cannot load '{path.name}': {str(err).strip()}") from err


def _spec(arg: Any) -> TensorSpec:
    # A dim onnxruntime reports as -1/0 (stored so by some exporters) is dynamic, not a size.
    shape = tuple(d if isinstance(d, int) and d > 0 else (d if isinstance(d, str) and d else "?")
                  for d in (arg.shape or []))
    return TensorSpec(arg.name, shape, ORT_TYPES.get(arg.type, arg.type))


def session_signature(session: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return [_spec(a) for a in session.get_inputs()], [_spec(a) for a in session.get_outputs()]


class OnnxRuntime(Runtime):
    """onnxruntime behind the Runtime API; ``session.run`` is thread-safe, so is this."""

    backend = "onnxruntime"
    probe = staticmethod(probe)
    options = ("mode",)

    def __init__(
        self,
        model_path: Path,
        target: str = "cpu",
        bundle: Bundle | None = None,
        threads: int | None = None,
        optimization: str = "all",
        inputs: list[TensorSpec] | None = None,
        outputs: list[TensorSpec] | None = None,
        mode: str = "latency",
    ) -> None:
        self.mode = check_mode(mode)
        self._workers = 1
        self._pool: Any = None
        if mode == "throughput":  # one single-threaded run per core beats one run across all cores
            self._workers = max(1, (os.cpu_count() or 1) // (threads or 1))
            threads = threads or 1
        self._session = create_session(model_path, session_options(threads, optimization))
        found_in, found_out = session_signature(self._session)
        super().__init__(inputs or found_in, outputs or found_out, target, bundle)

    @classmethod
    def from_bundle(cls, bundle: Bundle, target: str, threads: int | None = None,
                    mode: str = "latency") -> OnnxRuntime:
        return cls(bundle.target_file(target, "model"), target, bundle, threads,
                   inputs=bundle.target_inputs(target), outputs=bundle.outputs, mode=mode)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if any(a.dtype.name in EXOTIC_DTYPES for a in feed.values()):
            feed = {n: _ort_value(a) for n, a in feed.items()}
        return dict(zip(self.output_names, self._session.run(self.output_names, feed)))

    def _run_many(self, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        if self._workers == 1 or len(feeds) < 2:
            return [self._run(f) for f in feeds]
        if self._pool is None:  # kept: starting threads per call costs more than a small model's run
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="edgekit-ort")
        # session.run releases the GIL and is thread-safe: one session, several runs at once.
        return list(self._pool.map(self._run, feeds))

    def close(self) -> None:
        super().close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        self._session = None
