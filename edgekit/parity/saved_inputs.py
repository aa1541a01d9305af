"""``check --save-inputs DIR`` / ``--load-inputs DIR``: the exact inputs a check compared, written
as a data folder that any other machine's ``check --load-inputs`` (or ``--data``) reads back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data.sources import Batch, batches, open_data
from edgekit.errors import InputError


def check_batches(bundle: Any, target: str, data: Any) -> Iterator[Batch]:
    """The batches ``check`` compares: ``data`` fitted to the target's inputs, else the golden ones."""
    specs = bundle.target_inputs(target)
    if data is not None:
        return batches(open_data(data), specs)
    from edgekit.parity.golden import GOLDEN_FILE, load_golden

    pairs = load_golden(bundle.file(GOLDEN_FILE), [s.name for s in specs], [s.name for s in bundle.outputs])
    return iter([b for b, _ in pairs])


def save_inputs(folder: str | Path, found: Iterable[Batch]) -> int:
    """Writes one ``inputs-NNNN.npz`` per batch (with ``labels`` when known); returns the count."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise InputError(f"--save-inputs folder '{folder}' is not empty", note="give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for i, batch in enumerate(found):
        arrays = dict(batch.feed)
        if batch.labels is not None:
            arrays["labels"] = batch.labels
        np.savez(folder / f"inputs-{i:04d}.npz", **arrays)
        count += 1
    return count


def inputs_folder(folder: str | Path) -> Path:
    path = Path(folder)
    if not path.is_dir() or not any(path.glob("inputs-*.npz")):
        raise InputError(f"--load-inputs '{folder}' holds no inputs-*.npz files",
                         note="write them with `edgekit check BUNDLE --save-inputs DIR`")
    return path
