"""The Runtime interface: one input-checking, output-naming front for every backend.

Backends override small hooks (``_run``, ``close``); validation lives here, once.
This module, like all of ``edgekit.runtimes``, imports nothing heavier than numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.errors import EdgekitError, InputError, one_line
from edgekit.onnxtypes import np_dtype
from edgekit.signature import TensorSpec, describe_signature

if TYPE_CHECKING:
    from edgekit.bundle import Bundle
    from edgekit.parity.report import ParityReport

_log = logging.getLogger("edgekit.runtime")


class _InputCheck:
    """Precomputed checks for one input, so ``run`` does little work per call."""

    __slots__ = ("spec", "dtype", "ndim", "fixed")

    def __init__(self, spec: TensorSpec) -> None:
        self.spec = spec
        self.dtype = np_dtype(spec.dtype)  # bfloat16/float8/int4 through ml_dtypes, imported then only
        self.ndim = len(spec.shape)
        self.fixed = tuple((i, d) for i, d in enumerate(spec.shape) if isinstance(d, int))


class Runtime:
    """Runs one compiled artifact: ``run({name: array}) -> {name: array}``.

    Attributes:
        inputs: the input signature, in model order.
        outputs: the output signature, in model order.
        backend: the backend that actually runs the model (``"onnxruntime"``, ...).
        target: the bundle target this runtime was loaded for (``"cpu"``, ...).
        target_reason: why ``load`` chose that target (``"asked for"``, measured fastest, ...).
    """

    backend: str = ""
    _closed = False
    options: tuple[str, ...] = ()  # backend-specific keyword options that load() passes on

    # The contract every backend fulfils (besides the ``_run`` hook and ``close``):
    @staticmethod
    def probe() -> str | None:
        """None when this backend can run here, else why not (checked without importing it)."""
        raise NotImplementedError

    @classmethod
    def from_bundle(cls, bundle: Bundle, target: str, threads: int | None = None, **options: Any) -> Runtime:
        """Loads ``target``'s files from ``bundle``; ``options`` are the names in ``cls.options``."""
        raise NotImplementedError

    def __init__(
        self,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        target: str,
        bundle: Bundle | None = None,
    ) -> None:
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.target = target
        self.target_reason = ""
        self.bundle = bundle
        self._checks = [_InputCheck(s) for s in self.inputs]
        self._input_names = frozenset(s.name for s in self.inputs)
        self.output_names = [s.name for s in self.outputs]

    # -- public -----------------------------------------------------------
    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Runs the model on one batch of named inputs and returns named outputs.

        Raises:
            InputError: an input is missing, extra, or does not fit the signature, or the
                backend refused the values (e.g. a size the model's reshapes cannot take).
        """
        self._check_open()
        feed = self.check_inputs(inputs)
        warn_nonfinite(feed, "input", self.target)
        try:
            outputs = self._run(feed)
        except EdgekitError:  # a backend hook that already says who must act
            raise
        except Exception as err:  # backends raise their own untyped errors; keep the cause
            shapes = {k: list(v.shape) for k, v in feed.items()}
            raise InputError(
                f"{self.backend} refused inputs of shapes {shapes}: {one_line(err, 300)}"
            ) from err
        warn_nonfinite(outputs, "output", self.target)
        return outputs

    def run_many(self, feeds: Sequence[Mapping[str, Any]]) -> list[dict[str, np.ndarray]]:
        """Runs many independent feeds, as concurrently as the backend allows; outputs in feed order.

        Loaded with ``mode="throughput"``, backends keep every core busy (OpenVINO: several infer
        requests under its THROUGHPUT hint; onnxruntime: parallel single-threaded runs).

        Raises:
            InputError: a feed does not fit the signature, or the backend refused one.
        """
        self._check_open()
        checked = [self.check_inputs(f) for f in feeds]
        for feed in checked:
            warn_nonfinite(feed, "input", self.target)
        try:
            results = self._run_many(checked)
        except EdgekitError:
            raise
        except Exception as err:  # backends raise their own untyped errors; keep the cause
            raise InputError(f"{self.backend} refused a batch of {len(checked)} feeds: {one_line(err, 300)}") from err
        for outputs in results:
            warn_nonfinite(outputs, "output", self.target)
        return results

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"this {self.target} runtime was closed; load the bundle again to run it")

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Validates inputs against the signature; returns native, contiguous arrays."""
        if not isinstance(inputs, Mapping):
            raise InputError(
                f"inputs must be a dict of name -> array, got {type(inputs).__name__}; "
                f"expected {describe_signature(self.inputs)}"
            )
        if inputs.keys() != self._input_names:
            self._raise_names(inputs)
        feed = {}
        for check in self._checks:
            feed[check.spec.name] = self._check_one(check, inputs[check.spec.name])
        return feed

    def selfcheck(self, raise_on_failure: bool = True) -> ParityReport:
        """Re-runs the bundle's golden samples and compares with the stored reference.

        Needs neither torch nor the original model: this is how an app verifies the
        artifact on the device where it runs.
        """
        from edgekit.parity.golden import check_golden

        report = check_golden(self)
        if raise_on_failure:
            report.raise_for_failure()
        return report

    def close(self) -> None:
        """Releases backend resources. The runtime must not be used afterwards (``run`` says so)."""
        self._closed = True

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(target={self.target!r}, backend={self.backend!r}, "
            f"inputs={describe_signature(self.inputs)})"
        )

    # -- hooks ------------------------------------------------------------
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _run_many(self, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        return [self._run(f) for f in feeds]

    # -- helpers ----------------------------------------------------------
    def _raise_names(self, inputs: Mapping[str, Any]) -> None:
        given = set(inputs.keys())
        missing = sorted(self._input_names - given)
        extra = sorted(str(k) for k in given - self._input_names)
        parts = []
        if missing:
            parts.append(f"missing input(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown input(s) {', '.join(extra)}")
        raise InputError(f"{'; '.join(parts)}; expected {describe_signature(self.inputs)}")

    def _static_axis_advice(self, name: str, axis: int) -> str:
        """How to get a bundle that takes other sizes on this axis."""
        bundle_specs = {s.name: s for s in (self.bundle.inputs if self.bundle is not None else [])}
        shape = bundle_specs[name].shape if name in bundle_specs else ()
        if axis < len(shape) and isinstance(shape[axis], str):  # dynamic in the bundle, fixed by this target
            return (f"target {self.target} was built with fixed input shapes; recompile without "
                    "--static-shapes (static_shapes=False) to accept other sizes")
        return (f"this axis was compiled static; recompile with `--dynamic {name}:{axis}` "
                f"(dynamic=['{name}:{axis}']) to accept other sizes")

    def _check_one(self, check: _InputCheck, value: Any) -> np.ndarray:
        spec = check.spec
        if not isinstance(value, np.ndarray):
            try:
                value = np.asarray(value, dtype=check.dtype)
            except (TypeError, ValueError) as err:
                raise InputError(
                    f"input '{spec.name}' cannot be read as {spec.dtype} array: {err}; "
                    f"expected {spec}"
                ) from err
        elif value.dtype != check.dtype:
            if value.dtype.newbyteorder("=") == check.dtype:
                value = value.astype(check.dtype)  # wrong-endian but otherwise right
            else:
                raise InputError(
                    f"input '{spec.name}' has dtype {value.dtype}; expected {spec}"
                )
        if value.ndim != check.ndim:
            raise InputError(
                f"input '{spec.name}' has rank {value.ndim} (shape {list(value.shape)}); "
                f"expected {spec}"
            )
        shape = value.shape
        for axis, size in check.fixed:
            if shape[axis] != size:
                raise InputError(
                    f"input '{spec.name}' has size {shape[axis]} on axis {axis} "
                    f"(shape {list(shape)}); expected {spec}", note=self._static_axis_advice(spec.name, axis)
                )
        if not value.flags.c_contiguous:
            value = np.ascontiguousarray(value)
        return value


MODES = ("latency", "throughput")


def check_mode(mode: str) -> str:
    """``latency``: one run as fast as possible; ``throughput``: many runs at once (``run_many``)."""
    if mode not in MODES:
        raise InputError(f"unknown mode '{mode}'", note=f"choose from {', '.join(MODES)}")
    return mode


def warn_nonfinite(arrays: Mapping[str, np.ndarray], role: str, target: str) -> None:
    """Logs, the same way on every target, that a float input or output holds NaN or inf.

    Backends disagree on them (OpenVINO's CPU plugin turns a NaN input into 0 where
    onnxruntime and torch propagate it), so the caller must hear of it wherever it runs.
    """
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr.sum(dtype=np.float64)):
            count = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            if count:
                _log.warning("%s '%s' holds %d non-finite value(s) (NaN/inf) on target %s; backends "
                             "treat them differently (OpenVINO CPU may turn NaN into 0), so results "
                             "are not comparable across targets", role, name, count, target)


