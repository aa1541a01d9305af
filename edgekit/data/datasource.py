"""The data-source type that every kind of DATA (npz, folders, images, callables) is opened into."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Record = tuple[dict[str, np.ndarray], Any]


class DataSource:
    """A re-iterable stream of records with a description and a content fingerprint."""

    def __init__(self, factory: Callable[[], Iterator[Record]], description: str) -> None:
        self._factory = factory
        self.description = description

    def __iter__(self) -> Iterator[Record]:
        return self._factory()

    def fingerprint(self, limit: int | None = None) -> str:
        """sha256 over the records' names, dtypes, shapes and bytes (first ``limit``)."""
        digest = hashlib.sha256()
        for index, (record, label) in enumerate(self):
            if limit is not None and index >= limit:
                break
            for name in sorted(record):
                arr = np.ascontiguousarray(record[name])
                digest.update(f"{name}|{arr.dtype}|{arr.shape}|".encode())
                digest.update(arr.tobytes())
            if label is not None:
                digest.update(np.asarray(label).tobytes())
        return digest.hexdigest()
