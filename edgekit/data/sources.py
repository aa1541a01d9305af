"""Readers for the DATA argument: ``.npz``, a folder of ``.npy``/``.npz``, a callable, an iterable.

A source yields *records*: dicts of arrays keyed by input name, plus an optional
label. ``batches`` turns records into feeds that fit a model's signature: a record
whose arrays lack the model's leading batch axis is a sample and is stacked with
its neighbours; a record of the model's full rank is fed as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data.datasource import DataSource, Record
from edgekit.errors import InputError
from edgekit.safeio import load_npy, load_npz
from edgekit.signature import TensorSpec, describe_signature
from edgekit.user_code import import_reference

LABEL_KEYS = ("labels", "label")
def open_data(data: Any, preprocess: Any = None, limit: int | None = None,
              shuffle_seed: int | None = None) -> DataSource:
    """Opens any DATA form: a path, ``package.module:callable``, an iterable, or a DataSource.

    Args:
        data: the DATA.
        preprocess: an ``ImagePreprocess`` (or its text spec); makes a folder an image folder.
        limit: keep at most this many records.
        shuffle_seed: shuffle the records with this seed (the same order on every pass).

    Raises:
        InputError: the path does not exist or holds no readable arrays.
    """
    source = _open(data, preprocess)
    if shuffle_seed is not None:
        source = _shuffled(source, shuffle_seed)
    if limit is not None:
        source = _limited(source, limit)
    return source


def _limited(source: DataSource, limit: int) -> DataSource:
    def records() -> Iterator[Record]:
        for index, record in enumerate(source):
            if index >= limit:
                return
            yield record

    return DataSource(records, f"{source.description}, first {limit}")


def _shuffled(source: DataSource, seed: int) -> DataSource:
    # Shuffling needs the order up front; records are materialised once (use a limit for large data).
    items = list(source)
    order = np.random.default_rng(seed).permutation(len(items))
    return DataSource(lambda: (items[i] for i in order), f"{source.description}, shuffled (seed {seed})")


def _open(data: Any, preprocess: Any) -> DataSource:
    if isinstance(data, (str, Path)) and Path(data).is_dir():
        from edgekit.data.images import IMAGE_SUFFIXES, ImagePreprocess, image_folder

        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in Path(data).rglob("*")):
            if preprocess is None:
                raise InputError(f"'{data}' is an image folder; it needs a preprocessing spec",
                                 note="give --preprocess, e.g. resize=256,crop=224,scale=1/255,layout=NCHW")
            spec = preprocess if isinstance(preprocess, ImagePreprocess) else ImagePreprocess.parse(str(preprocess))
            return image_folder(Path(data), spec)
    if isinstance(data, DataSource):
        return data
    if isinstance(data, (str, Path)):
        text = str(data)
        path = Path(text)
        if path.is_file() and path.suffix == ".npz":
            return DataSource(lambda: npz_records(path), f"npz file '{path}'")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".npy", ".npz"))
            if not files:
                raise InputError(
                    f"data folder '{path}' holds no .npy or .npz files",
                    note="DATA is an .npz, a folder of .npy/.npz, an image folder with --preprocess, "
                    "or package.module:callable",
                )
            return DataSource(lambda: folder_records(files), f"folder '{path}' ({len(files)} files)")
        if ":" in text and not path.exists() and not text.endswith((".npz", ".npy")):
            return _callable_source(text)
        raise InputError(
            f"cannot read data '{text}': no such .npz file or folder",
            note="DATA is an .npz, a folder of .npy/.npz, or package.module:callable",
        )
    if isinstance(data, Mapping):
        raise InputError("data must be an iterable of input dicts, not one dict; wrap it in a list")
    if isinstance(data, Iterable):
        items = list(data)  # an iterator would be consumed by the first pass
        return DataSource(lambda: (_dict_record(d, "item") for d in items), "Python iterable")
    raise InputError(f"unsupported data of type {type(data).__name__}")


def npz_records(path: Path) -> Iterator[Record]:
    archive = load_npz(path, "data file")  # headers checked, never unpickled
    names = [k for k in archive if k not in LABEL_KEYS]
    if not names:
        raise InputError(f"'{path}' holds no input arrays (only labels)")
    arrays = {k: archive[k] for k in names}
    labels = next((archive[k] for k in LABEL_KEYS if k in archive), None)
    counts = {k: (a.shape[0] if a.ndim else -1) for k, a in arrays.items()}
    if len(set(counts.values())) != 1 or -1 in counts.values():
        raise InputError(
            f"arrays in '{path}' disagree on the sample count (first axis): {counts}"
        )
    count = next(iter(counts.values()))
    if labels is not None and len(labels) != count:
        raise InputError(f"'{path}' has {len(labels)} labels for {count} samples")
    for i in range(count):
        yield {k: a[i] for k, a in arrays.items()}, (None if labels is None else labels[i])


def folder_records(files: list[Path]) -> Iterator[Record]:
    for file in files:
        if file.suffix == ".npz":
            yield from npz_records(file)
        else:
            yield from _npy_records(file)


def _npy_records(file: Path) -> Iterator[Record]:
    # A lone .npy is one record of the model's single input, named by the caller.
    yield {"": load_npy(file, "data file")}, None


def _callable_source(text: str) -> DataSource:
    try:
        func = import_reference(text)
    except (ImportError, AttributeError) as err:
        raise InputError(f"cannot load data callable '{text}': {err}") from err
    if not callable(func):
        raise InputError(f"'{text}' is not callable")

    def records() -> Iterator[Record]:
        for item in func():
            yield _dict_record(item, text)

    return DataSource(records, f"callable '{text}'")


def _dict_record(item: Any, origin: str) -> Record:
    if not isinstance(item, Mapping):
        raise InputError(f"data from {origin} yielded {type(item).__name__}; expected a dict of arrays")
    record = {str(k): np.asarray(v) for k, v in item.items() if k not in LABEL_KEYS}
    label = next((item[k] for k in LABEL_KEYS if k in item), None)
    return record, label


@dataclass(frozen=True)
class Batch:
    """One feed that fits the model, and the labels of its samples (if any)."""

    feed: dict[str, np.ndarray]
    labels: np.ndarray | None
    samples: int


def batches(
    source: DataSource,
    specs: list[TensorSpec],
    batch_size: int = 8,
    limit: int | None = None,
) -> Iterator[Batch]:
    """Groups a source's records into feeds that fit ``specs``.

    Raises:
        InputError: a record misses an input, or its dtype or shape does not fit.
    """
    pending: list[Record] = []
    size = _group_size(specs, batch_size)
    seen = 0
    for record, label in source:
        if limit is not None and seen >= limit:
            break
        record = _name_lone_array(record, specs, source)
        stacked = _check_record(record, specs, source)
        seen += 1
        if not stacked:
            yield Batch(record, None if label is None else np.atleast_1d(label), 1)
            continue
        if pending and _shapes(pending[0][0]) != _shapes(record):
            # Samples of another shape (a second sequence length, image size) start a new batch;
            # a fixed batch axis cannot take the short group (dropped, as at the end).
            if not _fixed_batch(specs):
                yield _stack(pending)
            pending = []
        pending.append((record, label))
        if len(pending) == size:
            yield _stack(pending)
            pending = []
    if pending:
        if _fixed_batch(specs):
            # A fixed batch axis cannot take a short last group: drop it, as training loaders do.
            return
        yield _stack(pending)


def _fixed_batch(specs: list[TensorSpec]) -> bool:
    return any(isinstance(s.shape[0], int) for s in specs if s.shape)


def _shapes(record: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {n: a.shape for n, a in record.items()}


def _group_size(specs: list[TensorSpec], batch_size: int) -> int:
    fixed = {s.shape[0] for s in specs if s.shape and isinstance(s.shape[0], int)}
    return fixed.pop() if len(fixed) == 1 else batch_size


def _name_lone_array(
    record: dict[str, np.ndarray], specs: list[TensorSpec], source: DataSource
) -> dict[str, np.ndarray]:
    if "" not in record:
        return record
    if len(specs) != 1:
        raise InputError(
            f"{source.description} holds unnamed .npy arrays, but the model has {len(specs)} inputs",
            note="use .npz files keyed by input name",
        )
    return {specs[0].name: record[""]}


def _check_record(record: dict[str, np.ndarray], specs: list[TensorSpec], source: DataSource) -> bool:
    """Returns True when the record is a sample (to be stacked), False when it is a whole feed."""
    expected = describe_signature(specs)
    missing = [s.name for s in specs if s.name not in record]
    if missing:
        raise InputError(
            f"{source.description} has no array for input(s) {', '.join(missing)} "
            f"(it has {', '.join(sorted(record)) or 'none'}); expected {expected}"
        )
    modes = set()
    for spec in specs:
        arr = record[spec.name]
        if arr.dtype != np.dtype(spec.dtype):
            raise InputError(
                f"{source.description}: input '{spec.name}' has dtype {arr.dtype}; expected {spec}"
            )
        if arr.ndim == len(spec.shape) - 1:
            dims, mode = spec.shape[1:], True
        elif arr.ndim == len(spec.shape):
            dims, mode = spec.shape, False
        else:
            raise InputError(
                f"{source.description}: input '{spec.name}' has per-sample shape "
                f"{list(arr.shape)}; expected {spec} (with or without its batch axis)"
            )
        for axis, (have, want) in enumerate(zip(arr.shape, dims)):
            if isinstance(want, int) and have != want:
                raise InputError(
                    f"{source.description}: input '{spec.name}' has per-sample shape "
                    f"{list(arr.shape)}, size {have} on axis {axis}; expected {spec}"
                )
        modes.add(mode)
    if len(modes) > 1:
        raise InputError(f"{source.description}: some inputs carry a batch axis and some do not")
    return modes.pop()


def _stack(group: list[Record]) -> Batch:
    names = group[0][0].keys()
    feed = {n: np.stack([r[n] for r, _ in group]) for n in names}
    labels = [lab for _, lab in group]
    has_labels = all(lab is not None for lab in labels)
    return Batch(feed, np.asarray(labels) if has_labels else None, len(group))


def first_samples(supply: Iterable[Batch], count: int) -> list[Batch]:
    """The first batches of a supply that together hold at least ``count`` samples."""
    chosen, seen = [], 0
    for batch in supply:
        chosen.append(batch)
        seen += batch.samples
        if seen >= count:
            break
    return chosen
