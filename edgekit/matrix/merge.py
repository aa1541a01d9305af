"""Merges single-target cell bundles of one model × precision into one multi-target bundle.

Cells share their portable graph (same ``model.onnx`` hash); each target's files live in their
own folder, so the merge copies the first bundle whole, adds the other targets' files and
manifest entries, and records per target the host it was built and measured on. Each added
target's parity evidence is kept beside its files (``targets/<name>/parity.*``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgekit import bundle as bundle_io
from edgekit.errors import BundleError

PARITY_FILES = ("parity.json", "parity.md", "parity.html")


def merge_bundles(cells: list[tuple[Path, dict[str, Any]]], out: Path) -> Path:
    """Writes ``out`` from ``(cell bundle, build host)`` pairs, all of one model and precision.

    Raises:
        BundleError: the cells do not share one portable graph or one precision.
    """
    bundles = [bundle_io.read_bundle(path) for path, _ in cells]
    first = bundles[0]
    for other in bundles[1:]:
        if _portable_hash(other) != _portable_hash(first) or other.precision != first.precision:
            raise BundleError(f"cannot merge {other.path} into {first.path}: a different portable graph "
                              "or precision")
    with bundle_io.staged_bundle(out) as staging:
        shutil.copytree(first.path, staging, dirs_exist_ok=True)
        (staging / bundle_io.MANIFEST).unlink()
        manifest = {k: v for k, v in first.manifest.items() if k != "files"}
        manifest["targets"] = [dict(first.manifest["targets"][0], build_host=cells[0][1])]
        parity = dict(manifest["parity"])
        parity["targets"] = dict(parity["targets"])
        for bundle, (_, host) in zip(bundles[1:], cells[1:]):
            entry = bundle.manifest["targets"][0]
            for rel in entry["files"].values():
                _copy(bundle.file(rel), staging / rel)
            folder = staging / "targets" / entry["name"]
            for name in PARITY_FILES:
                if (bundle.path / name).is_file():
                    _copy(bundle.path / name, folder / name)
            manifest["targets"].append(dict(entry, build_host=host))
            parity["targets"].update(bundle.manifest["parity"]["targets"])
        parity["passed"] = all(t["passed"] for t in parity["targets"].values())
        manifest["parity"] = parity
        bundle_io.commit_bundle(staging, out, manifest)
    return out


def _portable_hash(bundle: bundle_io.Bundle) -> str | None:
    return (bundle.manifest["files"].get("model.onnx") or {}).get("sha256")


def _copy(src: Path, dst: Path) -> None:
    if dst.exists():
        raise BundleError(f"merging bundles: two targets both write {dst.name}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)

