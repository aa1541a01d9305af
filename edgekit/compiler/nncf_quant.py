"""NNCF as a second int8 quantizer beside onnxruntime's, tried by the recipe search when installed.

NNCF's post-training quantization (``nncf.quantize`` on an ONNX model) picks its own
scope and statistics (mean of per-sample minima/maxima for activations, which a single
outlier sample cannot stretch). Measured here on the digits CNN with one outlier pixel
in the calibration data: NNCF kept top-1 agreement 0.997 where onnxruntime's minmax fell
to 0.31 (benchmarks/RESULTS.md). Optional: ``pip install 'edgekit[nncf]'``.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from edgekit import progress
from edgekit.compiler.quantize import STATIC_OPS, QuantResult, _node_summary
from edgekit.precision import Precision

log = logging.getLogger("edgekit.compiler.nncf_quant")


def available() -> bool:
    return importlib.util.find_spec("nncf") is not None


def quantize_nncf(source: Path, out: Path, calib: list[dict[str, np.ndarray]]) -> QuantResult:
    """``source`` quantized by ``nncf.quantize`` (its default, mixed preset) on the calibration feeds."""
    import nncf
    import onnx

    with progress.prints_logged("nncf"):
        quantized = nncf.quantize(onnx.load(str(source)), nncf.Dataset(calib), subset_size=max(1, len(calib)))
    onnx.save(quantized, str(out))
    done, left = _node_summary(source, out, STATIC_OPS, Precision.INT8)
    return QuantResult(out, done, left, notes=[f"quantized by NNCF {nncf.__version__} (nncf.quantize)"])
