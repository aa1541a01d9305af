"""The data parity is measured on, in one bag: the batches, what they are, and the reference's
outputs on their first samples, computed once and shared by the fallback and stage checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edgekit.data.sources import Batch, first_samples

Feed = dict[str, np.ndarray]
RunFn = Callable[[Feed], dict[str, np.ndarray]]


@dataclass
class ParityData:
    """Re-iterable parity batches (``batches()``), their ``description``, and the ``reference``."""

    batches: Callable[[], Iterator[Batch]]
    description: str
    reference: RunFn
    _head: list[tuple[Batch, dict[str, np.ndarray]]] = field(default_factory=list, repr=False)
    _whole: bool = field(default=False, repr=False)

    def head(self, count: int) -> tuple[list[Batch], RunFn]:
        """The first batches holding at least ``count`` samples, and a reference that answers for
        exactly those batches from its cache (each computed once per compile)."""
        if sum(b.samples for b, _ in self._head) < count and not self._whole:
            chosen = first_samples(self.batches(), count)
            self._head = [(b, self.reference(b.feed)) for b in chosen]
            self._whole = sum(b.samples for b in chosen) < count
        picked = first_samples([b for b, _ in self._head], count)
        outputs = {id(b.feed): out for b, out in self._head}
        return picked, lambda feed: outputs[id(feed)]
