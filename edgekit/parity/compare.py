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
    golden: GoldenSet | None = None,
    notes: tuple[str, ...] = (),
    samples: PlotSamples | None = None,
) -> ParityReport:
    """Compares ``candidate`` with ``reference`` on every batch, output by output."""
    accs = {name: OutputAccumulator(name, rule_for_output(rule, name)) for name in output_names}
    logits_name = None
    ref_hits = cand_hits = labelled = 0
    changed: list[dict[str, int | None]] = []
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
        if batch.labels is not None:
            logits_name = logits_name or _logits_output(ref, output_names, batch.samples)
            if logits_name is not None:
                r_pred = np.asarray(ref[logits_name]).reshape(batch.samples, -1).argmax(1)
                c_pred = np.asarray(cand[logits_name]).reshape(batch.samples, -1).argmax(1)
                truth = batch.labels.reshape(-1)
                ref_hits += int((r_pred == truth).sum())
                cand_hits += int((c_pred == truth).sum())
                for i in np.nonzero(r_pred != c_pred)[0][: MAX_CHANGED_LISTED - len(changed)]:
                    changed.append({"index": int(i) + seen, "reference": int(r_pred[i]),
                                    "candidate": int(c_pred[i]), "label": int(truth[i])})
                labelled += batch.samples
        seen += batch.samples
        runs += 1
        progress.count(seen, None, "parity samples")
    results = {n: accs[n].result() for n in output_names}
    accuracy = _accuracy(results, logits_name, labelled, ref_hits, cand_hits, changed)
    return ParityReport(
        precision=precision,
        rule=rule,
        outputs=tuple(results[n] for n in output_names),
        samples=seen,
        runs=runs,
        data=data_description,
        reference=reference_description,
        candidate=candidate_description,
        accuracy=accuracy,
        notes=notes,
    )


def _accuracy(results: dict[str, Any], logits_name: str | None, labelled: int, ref_hits: int, cand_hits: int,
              changed: list[dict[str, int | None]]) -> AccuracyResult | None:
    """Accuracy against the labels, scored only on a classifier-kind output (or one the reference
    gets mostly right): a regression head's argmax means nothing."""
    if (logits_name is not None and results[logits_name].kind not in CLASSIFIER
            and ref_hits < 0.5 * max(labelled, 1)):
        return None
    if not labelled or logits_name is None:
        return None
    return AccuracyResult(logits_name, labelled, 100.0 * ref_hits / labelled, 100.0 * cand_hits / labelled,
                          tuple(changed))


def _logits_output(ref: dict[str, np.ndarray], names: list[str], samples: int) -> str | None:
    """The first output shaped [samples, classes]: the one labels are scored against."""
    for name in names:
        arr = np.asarray(ref[name])
        if arr.ndim == 2 and arr.shape[0] == samples and arr.shape[1] > 1:
            return name
    return None
