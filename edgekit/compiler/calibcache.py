"""Calibration once: float activation ranges computed once per (graph, calibration data, method).

The recipe search quantizes one graph many times. Recipes that differ only in op scope,
excluded nodes, symmetric flags, per-channel weights or the bias-scale adjustment read the
same float activation ranges, so calibrating for each of them repeats the slowest step of a
static int8 compile. Here every float tensor of the graph is calibrated once per method
(onnxruntime's ``create_calibrator`` → ``collect_data`` → ``compute_data``) and the
``TensorsData`` is saved with onnxruntime's own ``save_tensors_data``; ``quantize_static``
then reads it through its ``calibration_cache_path`` instead of calibrating again. Ranges are
per tensor, so calibrating more tensors than one recipe needs changes none of its ranges.

Histogram methods (entropy, percentile) keep every calibrated activation in memory until the
reader ends; their data is collected a few batches at a time (onnxruntime merges the
histograms) so that a 224×224 CNN with 128 samples does not need gigabytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("edgekit.compiler.calibcache")
Feed = dict[str, np.ndarray]
HISTOGRAM_CHUNK_BATCHES = 2  # batches per collect_data call for entropy/percentile (memory bound)


@dataclass
class _Stats:
    """How often ranges were computed and reused in this process (tests and the summary read it)."""

    calibrations: int = 0
    reuses: int = 0


STATS = _Stats()
_CACHE: dict[tuple[str, str, str], Path] = {}
_HASHES: dict[tuple[str, int, int], str] = {}


def supported() -> bool:
    """Whether this onnxruntime's ``quantize_static`` reads saved ranges (``calibration_cache_path``);
    older ones calibrate for every recipe, as before."""
    import inspect

    from onnxruntime.quantization import quantize_static

    return "calibration_cache_path" in inspect.signature(quantize_static).parameters


def model_hash(path: Path, large: bool = False) -> str:
    """sha256 of the graph file and, for ``large`` graphs, of its external weight files."""
    files = [path]
    if large:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        files += sorted({path.parent / e.value for t in model.graph.initializer for e in t.external_data
                         if e.key == "location"})
    return hashlib.sha256("".join(_file_hash(f) for f in files).encode()).hexdigest()


def _file_hash(path: Path) -> str:
    """sha256 of one file, memoised by (path, size, mtime): the search hashes it per recipe."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def ranges_file(source: Path, feeds: list[Feed], fingerprint: str, method: str, cache_dir: Path,
                large: bool = False) -> Path:
    """A ``save_tensors_data`` file of ``source``'s float activation ranges on ``feeds``
    (``fingerprint``: quantize.feeds_fingerprint of them), computed on the first call for this
    (graph, data, method) and reused afterwards."""
    key = (model_hash(source, large), fingerprint, method)
    cached = _CACHE.get(key)
    if cached is not None and cached.is_file():
        STATS.reuses += 1
        log.debug("calibration ranges reused for %s (%s)", source.name, method)
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"ranges-{key[0][:12]}-{key[1][:12]}-{method}.json"
    _calibrate(source, feeds, method, out, large)
    STATS.calibrations += 1
    _CACHE[key] = out
    return out


def _calibrate(source: Path, feeds: list[Feed], method: str, out: Path, large: bool) -> None:
    from onnxruntime.quantization.calibrate import (
        CalibrationDataReader,
        CalibrationMethod,
        TensorsData,
        create_calibrator,
        save_tensors_data,
    )

    calibrate_method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                        "percentile": CalibrationMethod.Percentile}[method]
    chunk = len(feeds) if calibrate_method == CalibrationMethod.MinMax else HISTOGRAM_CHUNK_BATCHES

    class Reader(CalibrationDataReader):
        def __init__(self, chunk: list[Feed]) -> None:
            self._feeds = iter(chunk)

        def get_next(self) -> Feed | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory(prefix="edgekit-calib-", dir=out.parent) as tmp, \
            contextlib.redirect_stdout(sys.stderr):
        # op_types None: every float tensor, so that any recipe's op scope finds its ranges.
        calibrator = create_calibrator(source, None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=calibrate_method, use_external_data_format=large)
        for start in range(0, max(len(feeds), 1), max(chunk, 1)):
            calibrator.collect_data(Reader(feeds[start:start + chunk]))
        ranges = calibrator.compute_data()
        del calibrator
    if not isinstance(ranges, TensorsData):
        raise TypeError(f"onnxruntime's calibrator returned {type(ranges).__name__}, not TensorsData")
    save_tensors_data(ranges, out)


def clear() -> None:
    """Forgets cached ranges (tests; a long-lived process compiling many models)."""
    _CACHE.clear()
    _HASHES.clear()
    STATS.calibrations = STATS.reuses = 0
