"""Golden samples: a few inputs with the reference's outputs, stored in every bundle.

They let ``edgekit check BUNDLE`` and ``Runtime.selfcheck()`` re-verify an artifact
on the device, with neither torch nor the original model at hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgekit.data.sources import Batch
from edgekit.errors import BundleError
from edgekit.layout import Layout
from edgekit.onnxtypes import EXOTIC_DTYPES, np_dtype
from edgekit.parity.compare import GoldenSet, compare
from edgekit.parity.metrics import ParityRule, rule_for
from edgekit.parity.user_rule import recorded_rule

if TYPE_CHECKING:
    from edgekit.bundle import Bundle
    from edgekit.parity.report import ParityReport
    from edgekit.signature import TensorSpec


class LoadedRuntime(Protocol):
    """What the golden check needs of a ``Runtime`` (declared here: parity sits below runtimes)."""

    bundle: Bundle | None
    inputs: list[TensorSpec]
    output_names: list[str]
    target: str
    backend: str

    def run(self, inputs: Any) -> dict[str, np.ndarray]: ...

GOLDEN_FILE = Layout.GOLDEN


def save_golden(path: Path, golden: GoldenSet, input_names: list[str], output_names: list[str]) -> None:
    """Writes feeds and reference outputs keyed by position, so any tensor name is safe."""
    arrays: dict[str, np.ndarray] = {}
    for i, (feed, outs, labels) in enumerate(zip(golden.feeds, golden.outputs, golden.labels)):
        for j, name in enumerate(input_names):
            arrays[f"in_{i}_{j}"] = feed[name]
        for j, name in enumerate(output_names):
            arrays[f"ref_{i}_{j}"] = np.asarray(outs[name])
        if labels is not None:
            arrays[f"labels_{i}"] = labels
    exotic = [f"{k}:{a.dtype.name}" for k, a in arrays.items() if a.dtype.name in EXOTIC_DTYPES]
    if exotic:  # npz keeps ml_dtypes arrays as raw void bytes: record their types to view them back
        arrays[EXOTIC_KEY] = np.array(exotic)
    np.savez_compressed(path, **arrays)


EXOTIC_KEY = "exotic_dtypes"


def _typed(data: Any) -> dict[str, np.ndarray]:
    """The npz arrays, with bfloat16/float8 ones viewed back from raw bytes as their recorded type."""
    arrays = {k: data[k] for k in data}
    for entry in arrays.pop(EXOTIC_KEY, np.array([], dtype=str)).tolist():
        key, _, name = str(entry).rpartition(":")
        if key in arrays and name in EXOTIC_DTYPES:
            arrays[key] = arrays[key].view(np_dtype(name))
    return arrays


def load_golden(
    path: Path, input_names: list[str], output_names: list[str]
) -> list[tuple[Batch, dict[str, np.ndarray]]]:
    """Reads what ``save_golden`` wrote: (batch, reference outputs) pairs."""
    from edgekit.safeio import load_npz

    data = _typed(load_npz(path, "golden samples", BundleError))
    pairs = []
    i = 0
    while f"in_{i}_0" in data or (not input_names and f"ref_{i}_0" in data):
        try:
            feed = {n: data[f"in_{i}_{j}"] for j, n in enumerate(input_names)}
            ref = {n: data[f"ref_{i}_{j}"] for j, n in enumerate(output_names)}
        except KeyError as err:
            raise BundleError(f"golden samples '{path}' lack array {err}") from err
        first = next(iter(feed.values()), None)
        batch_size = first.shape[0] if first is not None and first.ndim else 1
        pairs.append((Batch(feed, data.get(f"labels_{i}"), int(batch_size)), ref))
        i += 1
    return pairs


def _bundle_rule(manifest: dict, precision: str) -> ParityRule:
    """The rule the bundle was judged by: its precision's (or ``rule_precision``'s, for a graph that
    arrived quantized) with the recorded overrides."""
    parity = manifest.get("parity") or {}
    return rule_for(str(parity.get("rule_precision") or precision), **(parity.get("rule_overrides") or {}))


# A golden set is small (tens of samples): it re-checks an artifact on a device, it cannot measure
# 98% agreement. Its decision floors are lowered to what an artifact exactly at the rule's floor
# reaches with 99% probability on that many samples (binomial), so a good artifact is not refused
# by one unlucky flip, while a broken one (agreement far below the floor) still is.
SMALL_SAMPLE_CONFIDENCE = 0.99


def flips_allowed(samples: int, floor: float, confidence: float = SMALL_SAMPLE_CONFIDENCE) -> int:
    """The most decision flips that ``samples`` draws of an artifact agreeing ``floor`` of the time
    show with probability ``confidence`` (the binomial quantile)."""
    from math import exp, lgamma, log

    q = min(max(1.0 - floor, 0.0), 1.0)
    if samples <= 0 or q == 0.0:
        return 0
    if q == 1.0:
        return samples
    total = 0.0
    for k in range(samples + 1):  # the pmf in log space: exact enough, no overflow for large sets
        total += exp(lgamma(samples + 1) - lgamma(k + 1) - lgamma(samples - k + 1)
                     + k * log(q) + (samples - k) * log(1.0 - q))
        if total >= confidence:
            return k
    return samples


def small_sample_rule(rule: ParityRule, samples: int) -> tuple[ParityRule, str | None]:
    """``rule`` with its top-1, per-position and accuracy-drop floors lowered to what ``samples``
    samples can tell apart from the floor; the note says what was lowered (None: nothing)."""
    from dataclasses import replace

    changes: dict[str, float] = {}
    for key in ("min_top1", "min_position_agreement"):
        floor = getattr(rule, key)
        if floor is not None and samples > 0:
            lowered = (samples - flips_allowed(samples, floor)) / samples
            if lowered < floor:
                changes[key] = lowered
    if rule.max_accuracy_drop is not None and samples > 0:
        # an artifact losing exactly the allowed points: how many net losses its samples may show
        widened = 100.0 * flips_allowed(samples, 1.0 - rule.max_accuracy_drop / 100.0) / samples
        if widened > rule.max_accuracy_drop:
            changes["max_accuracy_drop"] = widened
    if not changes:
        return rule, None
    words = ", ".join(f"{k} {getattr(rule, k):g} -> {v:.3g}" for k, v in changes.items())
    return replace(rule, **changes), (f"{samples} golden samples cannot measure the rule's decision floors; "
                                      f"lowered to their 99% binomial bound: {words}")


def check_golden(runtime: LoadedRuntime, rule: ParityRule | None = None) -> ParityReport:
    """Runs ``runtime`` on its bundle's golden samples; compares with the stored outputs."""
    bundle = runtime.bundle
    if bundle is None:
        raise BundleError("this runtime was not loaded from a bundle, so it has no golden samples")
    input_names = [s.name for s in runtime.inputs]
    output_names = runtime.output_names
    pairs = load_golden(bundle.file(GOLDEN_FILE), input_names, output_names)
    stored = {id(b.feed): ref for b, ref in pairs}
    precision = bundle.precision

    def batches() -> Iterator[Batch]:
        for b, _ in pairs:
            yield b

    rule, note = small_sample_rule(rule or recorded_rule(bundle.manifest) or _bundle_rule(bundle.manifest, precision),
                                   sum(b.samples for b, _ in pairs))
    report = compare(
        reference=lambda feed: stored[id(feed)],
        candidate=runtime.run,
        data=batches(),
        output_names=output_names,
        precision=precision,
        rule=rule,
        data_description=f"{len(pairs)} golden batches stored in the bundle",
        reference_description="reference outputs recorded at build time",
        candidate_description=f"{runtime.target} ({runtime.backend}) on this host",
    ).report
    if note is None:
        return report
    from dataclasses import replace

    return replace(report, notes=(*report.notes, note))
