"""Honour ``--opset``: the graph that is built has exactly the requested opset, or compile refuses.

The torch.export-based exporter builds at its own opset and converts down on a best-effort
basis: when it cannot, it keeps its own, so ``--opset 1`` and ``--opset 13`` both gave 18.
Here the result is checked, converted with the ONNX version converter when it differs, and
refused with a clear message when no conversion exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edgekit.errors import InputError, one_line

log = logging.getLogger("edgekit.compiler.opset")
MIN_OPSET = 7  # the oldest opset onnxruntime runs


def default_opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def check_opset(requested: int | None) -> None:
    """Refuses, before any work, an opset no ONNX tool here can produce or run."""
    if requested is None:
        return
    import onnx

    latest = onnx.defs.onnx_opset_version()
    if isinstance(requested, bool) or not isinstance(requested, int) or not MIN_OPSET <= requested <= latest:
        raise InputError(f"--opset {requested} is not supported",
                         note=f"choose an opset from {MIN_OPSET} to {latest}, or omit --opset")


def ensure_opset(path: Path, requested: int | None, out: Path) -> Path:
    """``path`` if its opset is ``requested`` (or none was asked for), else a converted copy at ``out``.

    Raises:
        InputError: the opset is unsupported, or the graph cannot be converted to it.
    """
    if requested is None:
        return path
    import onnx
    from onnx import version_converter

    check_opset(requested)
    found = default_opset(path)
    if found == requested:
        return path
    try:
        converted = version_converter.convert_version(onnx.load(str(path)), requested)
        onnx.checker.check_model(converted)
    except Exception as err:  # the converter raises untyped errors for ops it cannot map
        raise InputError(
            f"--opset {requested}: the graph has opset {found} and cannot be converted to {requested} "
            f"({one_line(err, 200)})",
            note="choose a newer opset, or omit --opset to keep the exporter's",
        ) from err
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(out))
    log.info("converted the graph from opset %s to %s", found, requested)
    return out
