"""``--metric package.module:function``: the user's task metric gates the build.

The function receives the reference outputs, the artifact's outputs (each a dict of output
name to the arrays of every batch, concatenated on the batch axis) and the labels (an array,
or None when the data has none), and returns named numbers; a boolean ``"passed"`` entry is
the verdict (absent: it passes). For tasks where top-1 means nothing: detection, OCR text,
retrieval with embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from edgekit.data.sources import Batch
from edgekit.errors import InputError, one_line

Feed = dict[str, np.ndarray]
RunFn = Callable[[Feed], dict[str, np.ndarray]]


class Recorder:
    """Wraps reference, candidate and data so one compare() pass also keeps what the metric needs."""

    def __init__(self) -> None:
        self.reference: list[dict[str, np.ndarray]] = []
        self.candidate: list[dict[str, np.ndarray]] = []
        self.labels: list[np.ndarray | None] = []

    def wrap(self, fn: RunFn, into: list[dict[str, np.ndarray]]) -> RunFn:
        def run(feed: Feed) -> dict[str, np.ndarray]:
            out = fn(feed)
            into.append({k: np.array(v, copy=True) for k, v in out.items()})
            return out
        return run

    def data(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        for batch in batches:
            self.labels.append(batch.labels)
            yield batch

    def joined(self, runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        if not runs:
            return {}
        return {k: np.concatenate([np.atleast_1d(r[k]) for r in runs]) for k in runs[0]}


def load_metric(reference: str) -> Callable[..., Any]:
    from edgekit.user_code import import_reference

    if ":" not in reference:
        raise InputError(f"--metric '{reference}' is not of the form package.module:function")
    try:
        fn = import_reference(reference)
    except (ImportError, AttributeError) as err:
        raise InputError(f"cannot import --metric '{reference}': {one_line(err, 200)}") from err
    if not callable(fn):
        raise InputError(f"--metric '{reference}' is not a function")
    return fn


def evaluate(reference: str, recorder: Recorder) -> dict[str, Any]:
    """Runs the metric; returns ``{"metric", "values", "passed"}``. A metric that raises or
    returns something else is the user's code failing: an InputError naming it."""
    fn = load_metric(reference)
    labels = None if any(lb is None for lb in recorder.labels) or not recorder.labels \
        else np.concatenate([np.atleast_1d(lb) for lb in recorder.labels])
    try:
        found = fn(recorder.joined(recorder.reference), recorder.joined(recorder.candidate), labels)
    except Exception as err:  # the user's function: its failure is reported as such
        raise InputError(f"--metric {reference} raised {type(err).__name__}: {one_line(err, 300)}") from err
    if not isinstance(found, dict) or not found:
        raise InputError(f"--metric {reference} returned {type(found).__name__}; expected a dict of named "
                         "numbers (and optionally 'passed': bool)")
    passed = found.get("passed", True)
    values = {}
    for name, value in found.items():
        if name == "passed":
            continue
        try:
            values[str(name)] = float(value)
        except (TypeError, ValueError):
            raise InputError(f"--metric {reference} returned {name}={value!r}, not a number") from None
    return {"metric": reference, "values": values, "passed": bool(passed)}
