"""The manifest of a new bundle, assembled once from what the compile produced.

Its schema is ``bundle.SCHEMA_VERSION``; ``bundle.read_bundle`` checks every field a loader
relies on. ``commit_bundle`` adds the ``files`` table (every file's sha256 and size).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from edgekit import bundle as bundle_io
from edgekit import onnxio
from edgekit.compiler.build import Build
from edgekit.compiler.payoff import manifest_warning
from edgekit.compiler.prepare import Prepared
from edgekit.hostinfo import fingerprint, library_versions
from edgekit.layout import Layout
from edgekit.parity.report import ParityReport
from edgekit.parity.user_rule import UserRule
from edgekit.precision import Precision


def assemble_manifest(build: Build, prep: Prepared, signature: dict[str, Any], entries: list[dict[str, Any]],
                      reports: dict[str, ParityReport], lowered: Any, notes: tuple[str, ...],
                      out: Path, execution: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field of the manifest, in its published order; a leading warning comes first.

    ``execution``: the record of an execution-only precision (bf16: fp32 graph, bf16 target),
    the ``quantization`` field when no graph was lowered."""
    import onnx

    opts = build.opts
    model = onnx.load(str(prep.onnx_path), load_external_data=False)
    versions = library_versions()
    stages = [*prep.stages, *([lowered.stage] if lowered is not None and lowered.stage else [])]
    manifest: dict[str, Any] = {
        "schema_version": bundle_io.SCHEMA_VERSION,
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
        "quantization": lowered.summary if lowered is not None else execution,
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
