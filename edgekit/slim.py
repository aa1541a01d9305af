"""``edgekit pack --slim``: ship only what an app needs to load, run and self-check a bundle.

Dropped: files no target runs from — the parity reports, the kept fp32 reference graph, and
the portable ``model.onnx`` when no target lists it (nvidia-gpu does: engines are rebuilt from
it). Kept: every target file and ``golden.npz`` (``selfcheck``). The manifest is not touched,
so a signature stays valid; the archive's ``slim.json`` names the dropped files, and a reader
accepts their absence only for files of the droppable kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import BundleError
from edgekit.layout import Layout

SLIM_FILE = Layout.SLIM
KEEP = (Layout.GOLDEN,)


def droppable(manifest: dict[str, Any]) -> list[str]:
    """The manifest's files that no target role lists and no runtime reads."""
    used = {p for t in manifest.get("targets", []) for p in (t.get("files") or {}).values()}
    return sorted(p for p in manifest["files"] if p not in used and p not in KEEP)


def dropped_files(root: Path, manifest: dict[str, Any]) -> set[str]:
    """Files a slim bundle left out, checked against what may be left out."""
    path = root / SLIM_FILE
    if not path.is_file():
        return set()
    try:
        from edgekit.safeio import MAX_JSON_BYTES, loads_json, read_regular

        raw = read_regular(path, f"{SLIM_FILE} of {root.name}", MAX_JSON_BYTES, BundleError)  # bounded, no FIFO
        listed = set(loads_json(raw, f"{SLIM_FILE} of {root.name}", BundleError)["dropped"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BundleError(f"bundle {root.name}: {SLIM_FILE} is malformed: {err}") from err
    illegal = sorted(listed - set(droppable(manifest)))
    if illegal:
        raise BundleError(f"bundle {root.name}: {SLIM_FILE} drops file(s) a runtime needs: {', '.join(illegal)}")
    return listed


def missing_note(relpath: str) -> str:
    return f"'{relpath}' was left out by `edgekit pack --slim`; use the full bundle or a non-slim archive"
