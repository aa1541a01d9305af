"""The feeds that edgekit's own checks run on: real samples first, checked random ones last.

Export validation, the onnxsim check, stage attribution and golden samples must not fail
on inputs the model was never meant to see. So: the user's example or data when there is
any (a second real shape for the dynamic-size probe when the data holds one); random inputs
only when nothing else exists, sized from ``--input`` and the graph, and first run through
the reference — a model that rejects them gets one clear error saying what to give.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgekit.compiler.inputs import random_feed, varied_shapes
from edgekit.compiler.meaning import IntMeaning
from edgekit.data.sources import DataSource, batches
from edgekit.errors import EdgekitError, InputError, one_line
from edgekit.signature import TensorSpec

Feed = dict[str, np.ndarray]
Run = Callable[[Feed], object]
DYNAMIC_SIZE = 32  # a dynamic non-batch dim without any hint: a size most models accept
SCAN_RECORDS = 256  # records scanned for a feed of a second shape
WHAT_TO_GIVE = "give real samples with --eval DATA (or --calib DATA), or --input NAME:SHAPE with sizes it accepts"


def real_feeds(sources: list[DataSource | None], specs: list[TensorSpec]) -> list[Feed]:
    """The first real one-sample feed of the data, and one of another shape when the data holds one."""
    for source in sources:
        if source is None:
            continue
        first: Feed | None = None
        for index, batch in enumerate(batches(source, specs, 1)):
            if first is None:
                first = batch.feed
            elif _shapes(batch.feed) != _shapes(first):
                return [first, batch.feed]
            if index >= SCAN_RECORDS:
                break
        if first is not None:
            return [first]
    return []


def hinted_shapes(specs: list[TensorSpec], known: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Concrete shapes for random inputs: ``--input``/example sizes, else 1 for a batch axis and
    ``DYNAMIC_SIZE`` for any other dynamic dim (never a blind 1: reflect pads, strided convs and
    sequence models reject it)."""
    shapes = {}
    for spec in specs:
        have = known.get(spec.name)
        shapes[spec.name] = tuple(
            d if isinstance(d, int) else (have[i] if have and i < len(have) else _guess(spec, i, d))
            for i, d in enumerate(spec.shape)
        )
    return shapes


def _guess(spec: TensorSpec, axis: int, dim: str) -> int:
    return 1 if axis == 0 and (len(spec.shape) > 1 or "batch" in dim.lower()) else DYNAMIC_SIZE


def refuse_meaningful(meanings: dict[str, IntMeaning], stage: str) -> None:
    """Random values for an input that is a shape, axis or index: say so, and what to give."""
    roles = [f"'{m.name}' is {m.shape_role}" for m in meanings.values() if m.shape_role]
    if roles:
        raise InputError(
            f"{stage}: the model has integer inputs that are not data ({'; '.join(roles)}), and no real "
            "sample of them was given, so edgekit cannot make valid inputs",
            note="give real samples with --eval DATA (or --calib DATA)",
        )


def checked_random(run: Run, specs: list[TensorSpec], shapes: dict[str, tuple[int, ...]],
                   rng: np.random.Generator, int_high: dict[str, int], stage: str) -> Feed:
    """A random feed the reference accepts, or one clear InputError naming the stage and shapes."""
    feed = random_feed(specs, shapes, rng, int_high)
    try:
        run(feed)
    except EdgekitError as err:
        raise InputError(f"{stage}: the model rejects random inputs of shapes {_shapes(feed)}: "
                         f"{one_line(err.message, 300)}", note=WHAT_TO_GIVE) from err
    except Exception as err:  # the backend's own error type: the model refuses these values
        raise InputError(f"{stage}: the model rejects random inputs of shapes {_shapes(feed)}: "
                         f"{type(err).__name__}: {one_line(err, 300)}", note=WHAT_TO_GIVE) from err
    return feed


def second_size(run: Run, specs: list[TensorSpec], shapes: dict[str, tuple[int, ...]],
                rng: np.random.Generator, int_high: dict[str, int]) -> tuple[Feed | None, list[str]]:
    """A random feed at another size of the dynamic axes that the reference accepts, or None.

    Tries one size off (as before), then double (models that take only multiples of a stride).
    Returns the feed and the shapes tried that the reference refused.
    """
    refused: list[str] = []
    doubled = {n: tuple(s * 2 if isinstance(d, str) else s for s, d in zip(shape, spec.shape))
               for spec in specs for n, shape in [(spec.name, shapes[spec.name])]}
    candidates = [varied_shapes(specs, shapes), doubled if doubled != shapes else None]
    for sizes in candidates:
        if sizes is None:
            continue
        feed = random_feed(specs, sizes, rng, int_high)
        try:
            run(feed)
        except Exception:  # this size is not one the model takes; try the next
            refused.append(str(_shapes(feed)))
            continue
        return feed, refused
    return None, refused


def _shapes(feed: Feed) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in feed.items()}
