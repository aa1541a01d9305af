"""Quantization into portable ONNX: fp16, static int8 (QDQ, calibrated), dynamic int8.

The quantized graph is the bundle's ``model.onnx``; every target compiles from it,
so calibration runs once and all targets inherit the same decisions. Our typed
``QuantConfig`` is mapped onto onnxruntime's quantizer options here, and only here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgekit import onnxio, progress
from edgekit.compiler.options import (  # noqa: F401  (re-exported: QuantConfig was defined here)
    CALIB_METHODS,
    DEFAULT_CALIB_SAMPLES,
    PRECISIONS,
    STATIC_OPS,
    QuantConfig,
)
from edgekit.errors import InputError, QuantizationError, one_line
from edgekit.precision import Precision

DYNAMIC_OPS = ("MatMul", "Gemm", "LSTM", "GRU", "Attention")
MIN_CALIB_SAMPLES = 32

Feed = dict[str, np.ndarray]


@dataclass
class QuantResult:
    path: Path
    quantized_nodes: list[str]
    float_nodes: list[str]
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # onnxruntime's quantization tools write weight-sized temporary files into the cwd.
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def preprocess(fp32: Path, scratch: Path) -> tuple[Path, str]:
    """Shape inference and graph optimisation (BatchNorm folding) before calibration.

    Symbolic shape inference fails on some graphs; then it is skipped, and if the
    pre-processing still fails, quantization proceeds on the graph as it is.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = scratch / "preprocessed.onnx"
    large = onnxio.uses_external_data(fp32)
    errors = []
    for skip_symbolic in (False, True):
        try:
            with _working_directory(scratch), progress.prints_logged("onnxruntime.quantization"):
                quant_pre_process(str(fp32), str(out), skip_symbolic_shape=skip_symbolic,
                                  save_as_external_data=large, all_tensors_to_one_file=True)
            note = "pre-processed (shape inference, BatchNorm folding)"
            return out, note + ("; symbolic shape inference skipped" if skip_symbolic else "")
        except Exception as err:  # onnxruntime's tools raise anything; the fallback is documented
            errors.append(one_line(err, 200))
    return fp32, f"pre-processing skipped ({errors[-1]})"


class _Reader:
    """A fresh single-pass CalibrationDataReader over the feeds; each batch is a progress record."""

    def __init__(self, feeds: list[Feed], show_progress: bool) -> None:
        self._feeds = feeds
        self._index = 0
        self._progress = show_progress

    def get_next(self) -> Feed | None:
        if self._index >= len(self._feeds):
            return None
        feed = self._feeds[self._index]
        self._index += 1
        if self._progress:
            progress.count(self._index, len(self._feeds), "calibration batches")
        return feed

    def rewind(self) -> None:
        self._index = 0


def quantize(fp32: Path, out: Path, precision: str, config: QuantConfig, calib: list[Feed],
             scratch: Path, show_progress: bool = False, calib_cache: bool = True) -> QuantResult:
    """Writes the ``precision`` version of ``fp32`` (already pre-processed for int8) to ``out``.

    int8 reads its activation ranges from ``calibcache`` (computed once per graph, data and
    method for every recipe); ``calib_cache=False`` lets onnxruntime calibrate itself.
    """
    large = onnxio.uses_external_data(fp32)
    if precision == Precision.FP16:
        return _fp16(fp32, out)
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    with _working_directory(scratch), progress.prints_logged("onnxruntime.quantization"):
        if precision == Precision.INT8:
            from onnxruntime.quantization import CalibrationDataReader

            from edgekit.compiler import calibcache

            reader = type("Reader", (_Reader, CalibrationDataReader), {})(calib, show_progress)
            cached = calibcache.ranges_file(fp32, calib, feeds_fingerprint(calib), config.method,
                                            scratch / "calib-cache", large) \
                if calib_cache and calibcache.supported() else None
            quantize_static(
                str(fp32), str(out), None if cached else reader, quant_format=QuantFormat.QDQ,
                **({} if cached is None else {"calibration_cache_path": str(cached)}),
                op_types_to_quantize=list(config.op_types), per_channel=config.per_channel,
                activation_type=QuantType.QInt8 if config.symmetric_activations else QuantType.QUInt8,
                weight_type=QuantType.QInt8, nodes_to_exclude=list(config.exclude),
                calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                  "percentile": CalibrationMethod.Percentile}[config.method],
                use_external_data_format=large,
                extra_options={"WeightSymmetric": True, "ActivationSymmetric": config.symmetric_activations,
                               "QDQDisableWeightAdjustForInt32Bias": not config.bias_scale_adjust},
            )
            ops = config.op_types
        elif precision == Precision.INT8_DYNAMIC:
            ops = dynamic_ops(config)
            quantize_dynamic(str(fp32), str(out), op_types_to_quantize=list(ops), per_channel=False,
                             weight_type=QuantType.QInt8, nodes_to_exclude=list(config.exclude),
                             use_external_data_format=large, extra_options={"EnableSubgraph": True})
        else:
            raise InputError(f"unknown precision '{precision}'", note=f"choose from: {', '.join(PRECISIONS)}")
    quantized, left = _node_summary(fp32, out, ops, precision)
    return QuantResult(out, quantized, left)


def dynamic_ops(config: QuantConfig) -> tuple[str, ...]:
    """int8-dynamic's op types: DYNAMIC_OPS unless the config names its own (a safer retry does)."""
    return DYNAMIC_OPS if config.op_types == STATIC_OPS else config.op_types


# Op types left in fp32 when the first conversion gives a graph onnxruntime crashes on (an fp16
# Transpose next to an LSTM crashed its level-all optimiser): data movement, so little is lost.
FP16_RETRY_BLOCK = ("Transpose",)


def _fp16(fp32: Path, out: Path) -> QuantResult:
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    from edgekit.compiler.crashprobe import session_crash

    crashes = []
    for extra in ((), FP16_RETRY_BLOCK):
        model = onnx.load(str(fp32))
        meta = onnxio.metadata(model)
        half = convert_float_to_float16(model, keep_io_types=True, op_block_list=[*DEFAULT_OP_BLOCK_LIST, *extra],
                                        disable_shape_infer=onnxio.initializer_bytes(model)
                                        > onnxio.EXTERNAL_DATA_THRESHOLD)
        onnxio.set_metadata(half, meta)
        onnxio.save(half, out)
        crash = session_crash(out)
        if crash is None:
            kept = [n.name for n in half.graph.node if n.op_type == "Cast"]
            notes = [f"fp16 weights and compute; fp32 inputs/outputs kept ({len(kept)} casts)"]
            if extra:
                notes.append(f"{crashes[0]} when every op was converted; {', '.join(extra)} kept in fp32")
            return QuantResult(out, [n.name for n in half.graph.node if n.op_type != "Cast"], [], notes=notes)
        crashes.append(crash)
    raise QuantizationError(f"fp16: {crashes[0]} on the converted graph, also with {', '.join(FP16_RETRY_BLOCK)} "
                            "kept in fp32 (an onnxruntime bug with this graph)",
                            note="ship fp32, or try --precision bf16 (intel-cpu) or int8")


def _node_summary(fp32: Path, out: Path, ops: tuple[str, ...], precision: str) -> tuple[list[str], list[str]]:
    """Which compute nodes run quantized, and which were left in float."""
    before = onnx.load(str(fp32), load_external_data=False)
    after = onnx.load(str(out), load_external_data=False)
    candidates = [n.name for n in before.graph.node if n.op_type in ops]
    if precision == Precision.INT8:
        # Quantized compute reads int8 weights: an input dequantized from an initializer.
        # (A float node can still read a dequantized activation from a quantized neighbour.)
        inits = {t.name for t in after.graph.initializer}
        weight_dq = {n.output[0] for n in after.graph.node
                     if n.op_type == "DequantizeLinear" and n.input[0] in inits}
        quantized = {n.name for n in after.graph.node
                     if n.op_type in ops and any(i in weight_dq for i in n.input)}
    else:
        remaining = {n.name for n in after.graph.node if n.op_type in ops}
        quantized = {c for c in candidates if c not in remaining}
    return [c for c in candidates if c in quantized], [c for c in candidates if c not in quantized]


def _row_bytes(feeds: list[Feed]) -> Iterator[bytes]:
    """Each sample's bytes, row by row, so that hashes do not depend on how samples were batched."""
    for feed in feeds:
        names = sorted(feed)
        leads = {feed[n].shape[0] for n in names if feed[n].ndim}
        if len(leads) != 1 or any(feed[n].ndim == 0 for n in names):
            yield b"".join(n.encode() + np.ascontiguousarray(feed[n]).tobytes() for n in names)
            continue
        for i in range(leads.pop()):
            yield b"".join(n.encode() + np.ascontiguousarray(feed[n][i]).tobytes() for n in names)


def record_hashes(feeds: list[Feed]) -> set[str]:
    """One hash per sample, to find evaluation samples that were also used for calibration."""
    import hashlib

    return {hashlib.sha1(row).hexdigest() for row in _row_bytes(feeds)}


def feeds_fingerprint(feeds: list[Feed]) -> str:
    """sha256 of the calibration samples, in order, independent of batching."""
    import hashlib

    digest = hashlib.sha256()
    for row in _row_bytes(feeds):
        digest.update(hashlib.sha256(row).digest())
    return digest.hexdigest()


def quant_options_summary(config: QuantConfig, precision: str) -> dict[str, Any]:
    if precision == Precision.INT8:
        return {"method": config.method, "op_types": list(config.op_types), "per_channel": config.per_channel,
                "weights": "int8 symmetric", "activations": "int8 symmetric" if config.symmetric_activations
                else "uint8 asymmetric", "format": "QDQ"}
    if precision == Precision.INT8_DYNAMIC:
        return {"op_types": list(DYNAMIC_OPS), "weights": "int8", "activations": "quantized at run time"}
    return {}
