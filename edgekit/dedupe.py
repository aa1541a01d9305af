"""Identical files stored once: a cpu fp32 target's ``cpu/model.onnx`` is byte for byte the
portable ``model.onnx``, and a 400 MB model should not ship as 800 MB.

A target's folder is folded into the bundle root only when *every* file in it has an identical
twin at the same relative name there, so that relative references (ONNX external data next to
its graph) still resolve. The manifest then points the target's roles at the root files; bundles
written before this keep their copies and load as before.
"""

from __future__ import annotations

import filecmp
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("edgekit.bundle")


def dedupe_targets(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Returns ``manifest`` with duplicate target files removed from ``root`` and roles remapped."""
    targets = []
    for entry in manifest.get("targets", []):
        targets.append(_fold(root, entry))
    return {**manifest, "targets": targets}


def _fold(root: Path, entry: dict[str, Any]) -> dict[str, Any]:
    folder = root / entry["name"]
    roles = entry.get("files") or {}
    if not folder.is_dir() or not roles or not all(p.startswith(f"{entry['name']}/") for p in roles.values()):
        return entry
    files = [f for f in folder.rglob("*") if f.is_file()]
    twins = {f: root / f.relative_to(folder) for f in files}
    if not files or not all(t.is_file() and t.stat().st_size == f.stat().st_size for f, t in twins.items()):
        return entry
    if not all(filecmp.cmp(f, t, shallow=False) for f, t in twins.items()):
        return entry
    for f in files:
        f.unlink()
    for sub in sorted((d for d in folder.rglob("*") if d.is_dir()), reverse=True):
        sub.rmdir()
    folder.rmdir()
    log.debug("target %s: %d file(s) identical to the portable ones, stored once", entry["name"], len(files))
    remapped = {role: Path(p).relative_to(entry["name"]).as_posix() for role, p in roles.items()}
    return {**entry, "files": remapped, "shares_portable_files": True}
