"""Merges the targets that passed, from the cell bundles of one model × precision, into one
multi-target bundle.

The cells share their portable graph (same ``model.onnx`` hash, checked); each target's files
live in their own folder. The merged bundle takes the shared files (portable graph, golden
samples, reports) from the first cell bundle, then each chosen target's files and manifest entry,
recording the host it was built and measured on; each target's own parity evidence is kept
beside its files (``targets/<name>/parity.*``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgekit import bundle as bundle_io
from edgekit.errors import BundleError
from edgekit.layout import Layout

PARITY_FILES = (Layout.PARITY_JSON, Layout.PARITY_MD, Layout.PARITY_HTML)


def merge_bundles(picks: list[tuple[Path, str, dict[str, Any]]], out: Path) -> Path:
    """Writes ``out`` from ``(cell bundle, target, build host)`` picks of one model and precision.

    Raises:
        BundleError: the cells do not share one portable graph or one precision.
    """
    bundles = {path: bundle_io.read_bundle(path) for path, _, _ in picks}
    first = bundles[picks[0][0]]
    for other in bundles.values():
        if _portable_hash(other) != _portable_hash(first) or other.precision != first.precision:
            raise BundleError(f"cannot merge {other.path} with {first.path}: a different portable graph "
                              "or precision")
    with bundle_io.staged_bundle(out) as staging:
        owned = {f for t in first.manifest["targets"] for f in t["files"].values()}
        for rel in first.manifest["files"]:
            if rel not in owned and not rel.startswith("targets/"):
                _copy(first.file(rel), staging / rel)
        manifest = {k: v for k, v in first.manifest.items() if k != "files"}
        manifest["targets"], verdicts = [], {}
        for path, name, host in picks:
            bundle = bundles[path]
            entry = bundle.target(name)
            for rel in entry["files"].values():
                _copy(bundle.file(rel), staging / rel)
            for file in PARITY_FILES:
                if (bundle.path / file).is_file():
                    _copy(bundle.path / file, staging / "targets" / name / file)
            manifest["targets"].append(dict(entry, build_host=host))
            verdicts[name] = bundle.manifest["parity"]["targets"][name]
        manifest["parity"] = dict(manifest["parity"], targets=verdicts,
                                  passed=all(v["passed"] for v in verdicts.values()))
        bundle_io.commit_bundle(staging, out, manifest)
    return out


def _portable_hash(bundle: bundle_io.Bundle) -> str | None:
    return (bundle.manifest["files"].get(Layout.PORTABLE_MODEL) or {}).get("sha256")


def _copy(src: Path, dst: Path) -> None:
    if dst.exists():
        raise BundleError(f"merging bundles: two targets both write {dst}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
