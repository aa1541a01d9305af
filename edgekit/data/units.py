"""A data set cut into *units* that separate workers can open on their own: the files of a
folder (``.npz``/``.npy`` or images), or row ranges of one ``.npz``.

A unit is plain JSON-safe data (paths and numbers), so it crosses process and node
boundaries as it is; every worker opens its units with ``open_unit`` and reads only those
files (or rows). The order of records over all units equals the order of ``open_data``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.data.datasource import DataSource, Record
from edgekit.errors import InputError

Unit = dict[str, Any]  # {"kind": "files" | "images" | "rows", "files": [...], "start": int, "stop": int}


def split_units(data: str | Path, units: int, preprocess: Any = None) -> list[Unit]:
    """Cuts DATA (an ``.npz``, a folder of ``.npy``/``.npz``, or an image folder) into at most
    ``units`` contiguous units of about equal size."""
    from edgekit.data.images import IMAGE_SUFFIXES

    path = Path(data)
    if path.is_file() and path.suffix == ".npz":
        count = _npz_rows(path)
        bounds = [round(i * count / units) for i in range(units + 1)]
        return [{"kind": "rows", "files": [str(path)], "start": a, "stop": b}
                for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if images and preprocess is None:
            raise InputError(f"'{path}' is an image folder; it needs a preprocessing spec",
                             note="give --preprocess, e.g. resize=256,crop=224,scale=1/255,layout=NCHW")
        files = images or sorted(p for p in path.iterdir() if p.suffix in (".npy", ".npz"))
        if files:
            kind = "images" if images else "files"
            bounds = [round(i * len(files) / units) for i in range(units + 1)]
            return [{"kind": kind, "files": [str(f) for f in files[a:b]], "start": 0, "stop": -1}
                    for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    raise InputError(f"cannot cut '{data}' into shards: it is not an .npz file or a folder of .npy/.npz/images",
                     note="sharded parity reads DATA that workers can open themselves: files or folders")


def open_unit(unit: Unit, preprocess: Any = None) -> DataSource:
    """The records of one unit, as a DataSource (images decoded with ``preprocess``)."""
    files = [Path(f) for f in unit["files"]]
    where = f"{files[0].name}…{files[-1].name}" if len(files) > 1 else files[0].name
    if unit["kind"] == "rows":
        start, stop = unit["start"], unit["stop"]
        return DataSource(lambda: _rows(files[0], start, stop), f"rows {start}:{stop} of '{files[0]}'")
    if unit["kind"] == "images":
        from edgekit.data.images import ImagePreprocess

        spec = preprocess if isinstance(preprocess, ImagePreprocess) else ImagePreprocess.parse(str(preprocess))
        return DataSource(lambda: (({"": spec(f)}, None) for f in files), f"{len(files)} images ({where})")
    from edgekit.data.sources import folder_records

    return DataSource(lambda: folder_records(files), f"{len(files)} files ({where})")


def _rows(path: Path, start: int, stop: int) -> Iterator[Record]:
    from edgekit.data.sources import npz_records

    for index, record in enumerate(npz_records(path)):
        if index >= stop:
            return
        if index >= start:
            yield record


def _npz_rows(path: Path) -> int:
    from edgekit.data.sources import LABEL_KEYS
    from edgekit.safeio import load_npz

    archive = load_npz(path, "data file")
    names = [k for k in archive if k not in LABEL_KEYS]
    if not names:
        raise InputError(f"'{path}' holds no input arrays (only labels)")
    return int(archive[names[0]].shape[0])
