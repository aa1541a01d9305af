"""Runs reference and candidate on the same batches and accumulates the report."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit import progress
from edgekit.data.sources import Batch
from edgekit.parity.kinds import CLASSIFIER
from edgekit.parity.metrics import OutputAccumulator, ParityRule
from edgekit.parity.report import AccuracyResult, ParityReport
from edgekit.parity.samples import PlotSamples
from edgekit.parity.user_rule import rule_for_output

Feed = dict[str, np.ndarray]
RunFn = Callable[[Feed], dict[str, np.ndarray]]
MAX_CHANGED_LISTED = 100


@dataclass
class GoldenSet:
    """The first few feeds with the reference's outputs, kept for ``golden.npz``."""

    limit: int
    feeds: list[Feed] = field(default_factory=list)
    outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    labels: list[np.ndarray | None] = field(default_factory=list)

    def offer(self, batch: Batch, ref: dict[str, np.ndarray]) -> None:
        if len(self.feeds) < self.limit:
            self.feeds.append(batch.feed)
            self.outputs.append(ref)
            self.labels.append(batch.labels)


@dataclass(frozen=True)
class Comparison:
    """What one ``compare`` pass produced: the report, and what it kept on the way when asked."""

    report: ParityReport
    golden: GoldenSet | None = None  # the first ``keep_golden`` batches with the reference's outputs
    plots: PlotSamples | None = None  # what the HTML report plots, with ``plot=True``


def compare(
    reference: RunFn,
    candidate: RunFn,
    data: Iterable[Batch],
    output_names: list[str],
    precision: str,
    rule: ParityRule,
    *,
    data_description: str,
    reference_description: str,
    candidate_description: str,
    notes: tuple[str, ...] = (),
    keep_golden: int = 0,
    plot: bool = False,
) -> Comparison:
    """Compares ``candidate`` with ``reference`` on every batch, output by output.

    ``keep_golden``: keep that many first batches and the reference's outputs (``golden.npz``);
    ``plot``: gather the plot samples. Both come back on the result, beside the report.
    """
    golden = GoldenSet(keep_golden) if keep_golden > 0 else None
    samples = PlotSamples() if plot else None
    accs = {name: OutputAccumulator(name, rule_for_output(rule, name)) for name in output_names}
    labels = _LabelScore(output_names)
    seen = runs = 0
    for batch in data:
        ref = reference(batch.feed)
        cand = candidate(batch.feed)
        if golden is not None:
            golden.offer(batch, ref)
        for name in output_names:
            accs[name].add(np.asarray(ref[name]), np.asarray(cand[name]), batch.samples)
            if samples is not None:
                samples.add(name, np.asarray(ref[name]), np.asarray(cand[name]))
        labels.add(batch, ref, cand, seen)
        seen += batch.samples
        runs += 1
        progress.count(seen, None, "parity samples")
    results = {n: accs[n].result() for n in output_names}
    report = ParityReport(
        precision=precision,
        rule=rule,
        outputs=tuple(results[n] for n in output_names),
        samples=seen,
        runs=runs,
        data=data_description,
        reference=reference_description,
        candidate=candidate_description,
        accuracy=labels.result(results),
        notes=notes,
    )
    return Comparison(report, golden, samples)


class _LabelScore:
    """Top-1 against the labels, of reference and candidate, on the first [samples, classes] output."""

    def __init__(self, output_names: list[str]) -> None:
        self.output_names = output_names
        self.logits_name: str | None = None
        self.ref_hits = self.cand_hits = self.labelled = 0
        self.changed: list[dict[str, int | None]] = []

    def add(self, batch: Batch, ref: dict[str, np.ndarray], cand: dict[str, np.ndarray], seen: int) -> None:
        if batch.labels is None:
            return
        self.logits_name = self.logits_name or _logits_output(ref, self.output_names, batch.samples)
        if self.logits_name is None:
            return
        r_pred = np.asarray(ref[self.logits_name]).reshape(batch.samples, -1).argmax(1)
        c_pred = np.asarray(cand[self.logits_name]).reshape(batch.samples, -1).argmax(1)
        truth = batch.labels.reshape(-1)
        self.ref_hits += int((r_pred == truth).sum())
        self.cand_hits += int((c_pred == truth).sum())
        for i in np.nonzero(r_pred != c_pred)[0][: MAX_CHANGED_LISTED - len(self.changed)]:
            self.changed.append({"index": int(i) + seen, "reference": int(r_pred[i]),
                                 "candidate": int(c_pred[i]), "label": int(truth[i])})
        self.labelled += batch.samples

    def result(self, results: dict[str, Any]) -> AccuracyResult | None:
        """Accuracy against the labels, scored only on a classifier-kind output (or one the reference
        gets mostly right): a regression head's argmax means nothing."""
        name, labelled = self.logits_name, self.labelled
        if name is not None and results[name].kind not in CLASSIFIER and self.ref_hits < 0.5 * max(labelled, 1):
            return None
        if not labelled or name is None:
            return None
        return AccuracyResult(name, labelled, 100.0 * self.ref_hits / labelled, 100.0 * self.cand_hits / labelled,
                              tuple(self.changed))


def _logits_output(ref: dict[str, np.ndarray], names: list[str], samples: int) -> str | None:
    """The first output shaped [samples, classes]: the one labels are scored against."""
    for name in names:
        arr = np.asarray(ref[name])
        if arr.ndim == 2 and arr.shape[0] == samples and arr.shape[1] > 1:
            return name
    return None
