"""The manifest of a new bundle, assembled once from what the compile produced.

Its schema is published as ``edgekit/manifest.schema.json`` (version ``manifest.SCHEMA_VERSION``);
``bundle.read_bundle`` validates every bundle against it (``edgekit.manifest.Manifest.from_dict``).
``commit_bundle`` adds the ``files`` table (every file's sha256 and size).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit import onnxio
from edgekit.compiler.build import Build
from edgekit.compiler.lowering import Lowered
from edgekit.compiler.payoff import manifest_warning
from edgekit.compiler.prepare import Prepared
from edgekit.hostinfo import fingerprint, library_versions
from edgekit.layout import Layout
from edgekit.manifest import SCHEMA_VERSION
from edgekit.parity.report import ParityReport
from edgekit.parity.user_rule import UserRule
from edgekit.precision import Precision


@dataclass(frozen=True)
class Built:
    """What a compile made, as the manifest records it (besides the ``Build`` context it ran in)."""

    prep: Prepared
    signature: dict[str, Any]  # {"inputs": [...], "outputs": [...]} as TensorSpec.to_dict writes them
    entries: list[dict[str, Any]]  # one per target, from Target.build (+ speed records)
    reports: dict[str, ParityReport]  # by target name
    lowered: Lowered | None
    notes: tuple[str, ...]
    execution: dict[str, Any] | None = None  # an execution-only precision's record (bf16: fp32 graph)


def assemble_manifest(build: Build, built: Built, out: Path) -> dict[str, Any]:
    """Every field of the manifest, in its published order (``edgekit/manifest.schema.json``); a
    leading warning comes first. ``built.execution`` is the ``quantization`` field when no graph
    was lowered."""
    import onnx

    opts, prep, lowered, notes, reports = build.opts, built.prep, built.lowered, built.notes, built.reports
    signature, entries, execution = built.signature, built.entries, built.execution
    model = onnx.load(str(prep.onnx_path), load_external_data=False)
    versions = library_versions()
    stages = [*prep.stages, *([lowered.stage] if lowered is not None and lowered.stage else [])]
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": versions.get("edgekit", "unknown"),
        "name": out.name[: -len(Layout.SUFFIX)],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": {"kind": prep.source.kind, "description": prep.source.description,
                   "sha256": prep.source.sha256, **prep.export_info},
        "signature": signature,
        "precision": opts.precision,
        "portable_model": {"file": Layout.PORTABLE_MODEL,
                           "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                           "stages": stages},
        "targets": entries,
        "quantization": quantization_record(lowered) if lowered is not None else execution,
        "parity": {
            "passed": all(r.passed for r in reports.values()),
            "targets": {n: {"passed": r.passed, "summary": r.summary()} for n, r in reports.items()},
            **_rule_fields(build),
        },
        "metadata": onnxio.metadata(model),
        "build_host": fingerprint(),
        "toolchain": versions,
        "notes": list(notes),
    }
    if isinstance(build.rule, UserRule):  # the device's golden check holds to the same criteria
        manifest["parity"]["user_rule"] = build.rule.to_dict()
    if opts.selection is not None:
        manifest["selection"] = dict(opts.selection)
    if opts.settings_file is not None:
        manifest["settings_file"] = opts.settings_file
    if notes and notes[0].startswith("WARNING"):
        manifest = {"warning": notes[0], **manifest}  # the first thing a reader sees
    return manifest_warning(manifest, entries)  # int8 that does not pay for itself: said first too


def quantization_record(lowered: Lowered) -> dict[str, Any]:
    """The manifest's ``quantization`` section: the lowering's summary and the recipe it kept."""
    searched = lowered.search
    return {
        **lowered.summary,
        "recipe_float_nodes": lowered.recipe_float_nodes,
        "attempts": [a.to_dict() for a in lowered.attempts],
        "subgraph_float_nodes": lowered.subgraph_float_nodes,
        "recipe": lowered.recipe,
        "recipes": [t.to_dict() for t in searched.table] if searched else [],
        "recipe_search_winner": searched.winner.name if searched else None,
        "recipe_search_stopped": searched.stopped if searched else "",
    }


def _rule_fields(build: Build) -> dict[str, Any]:
    """How the bundle was judged, so that ``edgekit check`` and ``selfcheck`` judge it the same way:
    the rule overrides, and for a graph that arrived quantized the precision whose rule applies and
    its quantized ops; for an fp32 ONNX source, the atol widened for the reference's own noise."""
    opts = build.opts
    overrides: dict[str, Any] = {}
    if opts.max_accuracy_drop is not None:
        overrides["max_accuracy_drop"] = opts.max_accuracy_drop
    fields: dict[str, Any] = {"rule_overrides": overrides}
    if build.prequant:
        fields["rule_precision"] = Precision.INT8.value
        fields["prequantized_ops"] = dict(build.prequant)
    if build.noise is not None:
        overrides["atol"] = build.noise.atol_after
        fields["noise_allowance"] = build.noise.to_dict()
    return fields
