"""The compile pipeline: source → ONNX fp32 → simplified → per-target build → parity → bundle."""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import bundle as bundle_io
from edgekit.calibration.sources import Batch, DataSource, batches, open_data
from edgekit.compile import onnxio
from edgekit.compile.inputs import DynamicArg, InputArg, parse_dynamic, parse_input, random_feed
from edgekit.compile.lowering import FallbackBudget, calibration_feeds, lower_prepared, report_notes
from edgekit.compile.opset import check_opset
from edgekit.compile.prepare import Prepared, prepare
from edgekit.compile.profiles import batch_limit, derive_profiles, explicit_ranges
from edgekit.compile.quantize import DEFAULT_CALIB_SAMPLES, PRECISIONS, QuantConfig
from edgekit.compile.sources import load_source
from edgekit.compile.speed import measure_speed, with_speed_note
from edgekit.compile.stages import stage_parity
from edgekit.errors import InputError
from edgekit.hostinfo import fingerprint, library_versions
from edgekit.parity.compare import GoldenSet, compare
from edgekit.parity.golden import GOLDEN_FILE, save_golden
from edgekit.parity.junit import write_junit
from edgekit.parity.metrics import rule_for
from edgekit.parity.report import ParityReport
from edgekit.parity.samples import PlotSamples
from edgekit.parity.writer import write_reports
from edgekit.replace import check_loads_back
from edgekit.runtimes import runtime_class
from edgekit.safeio import check_output_path
from edgekit.signature import TensorSpec
from edgekit.targets import get_target, parse_targets

SCRATCH_PREFIX = "edgekit-scratch-"
RANDOM_BATCHES = 8
GOLDEN_BATCHES = 4
EVAL_BATCH = 8
Log = Callable[[str], None]


@dataclass(frozen=True)
class Artifact:
    """What ``compile`` returns: where the bundle is, its manifest, and the parity evidence."""

    path: Path
    manifest: dict[str, Any]
    parity: ParityReport
    reports: dict[str, ParityReport] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values())


def compile_model(
    model: Any,
    example_inputs: tuple[Any, ...] | None = None,
    *,
    target: str | list[str] = "cpu",
    precision: str = "fp32",
    inputs: list[str | InputArg] | None = None,
    dynamic: list[str | DynamicArg] | None = None,
    weights: str | Path | None = None,
    eval_data: Any = None,
    out: str | Path | None = None,
    force: bool = False,
    allow_pickle: bool = False,
    exporter: str = "auto",
    simplify: bool = True,
    opset: int | None = None,
    seed: int = 0,
    calibration: Any = None,
    calib_method: str = "minmax",
    calib_samples: int = DEFAULT_CALIB_SAMPLES,
    shuffle_calibration: bool = False,
    random_calibration: bool = False,
    preprocess: Any = None,
    max_accuracy_drop: float | None = None,
    fallback: bool = True,
    quant_config: QuantConfig | None = None,
    static_shapes: bool = False,
    junit: str | Path | None = None,
    keep_fp32: bool = False,
    selection: dict[str, Any] | None = None,
    log: Log | None = None,
) -> Artifact:
    """Compiles a model into a verified bundle.

    Args:
        model: an ``nn.Module`` / ``ExportedProgram``, or a MODEL string (``.onnx``,
            TorchScript, ``.pt2``, ``package.module:factory``).
        example_inputs: example tensors for an ``nn.Module`` (a tuple, forward order).
        target: a target name, a comma-separated list, or a list.
        precision: ``fp32``, ``fp16``, ``int8`` (static, QDQ, calibrated) or ``int8-dynamic``.
        inputs: ``NAME:SHAPE[:DTYPE]`` strings (or InputArg) giving input shapes.
        dynamic: ``NAME:AXIS[:DIMNAME][:MIN:OPT:MAX]`` strings (or DynamicArg) marking dynamic axes.
        weights: a state dict (safetensors or ``torch.save``) for a factory or module.
        eval_data: DATA to check parity on; seeded random inputs when absent.
        out: the ``NAME.edgekit`` directory to write; default ``<model name>.edgekit``.
        force: replace an existing bundle at ``out`` (the old one stays until the new is complete).
        allow_pickle: allow loading a pickled whole model (runs code from the file).
        exporter: ``auto`` (torch.export-based, then TorchScript-based), ``dynamo`` or ``torchscript``.
        simplify: run onnxsim (its result is kept only when numerically identical).
        opset: ONNX opset for the export; the exporter's default when None.
        seed: seed of the random parity inputs (and of random calibration).
        calibration: DATA to calibrate int8 on (required for int8 unless random_calibration).
        calib_method: ``minmax``, ``entropy`` or ``percentile``.
        calib_samples: calibration samples to use at most.
        shuffle_calibration: shuffle calibration samples (seeded by ``seed``) before taking them.
        random_calibration: calibrate int8 on random inputs; the report says so first.
        preprocess: an ImagePreprocess (or its text) for image-folder calibration/eval data.
        max_accuracy_drop: accuracy points the artifact may lose (int8 default: 1).
        fallback: leave the most sensitive nodes in float when int8 misses parity.
        quant_config: full control of quantization (op types, per-channel, excluded nodes).
        static_shapes: targets that can specialise (intel-cpu) fix every input at its example
            shape; the portable ONNX keeps its dynamic axes.
        junit: also write the parity verdicts as JUnit XML to this file.
        selection: how ``auto`` chose this target and precision (recorded in the manifest).
        keep_fp32: for fp16/int8, also keep the fp32 graph (``reference/model.onnx``), so that
            ``edgekit check --layers`` can localise errors on the device without the original.
        log: receives progress lines; silent when None.

    Returns:
        The Artifact; ``artifact.parity.passed`` says whether it may ship.

    Raises:
        InputError, TargetUnavailable, TargetBuildError: before or while building.
    """
    say = log or (lambda _msg: None)
    if target == "auto" or precision == "auto":
        from edgekit.compile.auto import compile_auto

        bundle_io.check_destination(Path(out) if out is not None else Path(f"{_default_name(model)}"
                                                                            f"{bundle_io.SUFFIX}"), force)
        return compile_auto(
            compile_model, model, example_inputs, target=target, precision=precision, out=out, log=say,
            inputs=inputs, dynamic=dynamic, weights=weights, eval_data=eval_data, force=force,
            allow_pickle=allow_pickle, exporter=exporter, simplify=simplify, opset=opset, seed=seed,
            calibration=calibration, calib_method=calib_method, calib_samples=calib_samples,
            shuffle_calibration=shuffle_calibration, random_calibration=random_calibration, preprocess=preprocess,
            max_accuracy_drop=max_accuracy_drop, fallback=fallback, quant_config=quant_config,
            static_shapes=static_shapes, junit=junit, keep_fp32=keep_fp32,
        )
    target_names = parse_targets(target)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be an integer >= 0 (got {seed!r})")
    check_opset(opset)
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}'", note=f"choose from: {', '.join(PRECISIONS)}")
    targets = [get_target(n) for n in target_names]
    for t in targets:
        t.check_precision(precision)
        t.require()
    input_args = [a if isinstance(a, InputArg) else parse_input(a) for a in inputs or []]
    dynamic_args = [a if isinstance(a, DynamicArg) else parse_dynamic(a) for a in dynamic or []]
    ranges = explicit_ranges(dynamic_args)
    out_path = Path(out) if out is not None else Path(f"{_default_name(model)}{bundle_io.SUFFIX}")
    bundle_io.check_destination(out_path, force)
    if junit is not None:
        check_output_path(junit, "--junit")  # before the build: a finished bundle is never thrown away
    source = load_source(model, weights, allow_pickle)
    say(f"model: {source.description}")
    eval_source = open_data(eval_data, preprocess) if eval_data is not None else None
    config = quant_config or QuantConfig(method=calib_method, samples=calib_samples,
                                         symmetric_activations="nvidia-gpu" in target_names,
                                         random_calibration=random_calibration)
    calib_source = None
    if calibration is not None:
        calib_source = open_data(calibration, preprocess, limit=config.samples,
                                 shuffle_seed=seed if shuffle_calibration else None)
    if precision == "int8" and calib_source is None and not config.random_calibration:
        raise InputError(
            "int8 needs calibration data (--calib DATA)",
            note="real samples of what the model will see; --random-calibration calibrates on noise "
            "and is marked so in the manifest and report",
        )
    rule = rule_for(precision, max_accuracy_drop=max_accuracy_drop)

    bundle_io.remove_stale_dirs(Path(tempfile.gettempdir()), SCRATCH_PREFIX)
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as scratch_dir:
        scratch = Path(scratch_dir)
        prep = prepare(source, example_inputs, input_args, dynamic_args, eval_source, calib_source,
                        exporter, opset, simplify, seed, scratch, say)
        if not prep.specs:
            raise InputError(f"{source.description} has no inputs; a bundle runs a model on inputs",
                             note="a constant belongs in the application, not in a compiled model")
        dim_ranges, profiles = derive_profiles(prep.specs, prep.shapes, ranges)
        batches_fn = _parity_batches(prep, eval_source, seed,
                                     min(EVAL_BATCH, batch_limit(prep.specs, dim_ranges) or EVAL_BATCH))
        next(iter(batches_fn()), None)  # a data source that does not fit fails here, before building
        calib = calibration_feeds(prep, calib_source, config, precision, seed)
        lowered = None
        if precision != "fp32":
            lowered = lower_prepared(prep, precision, config, calib, calib_source, rule, batches_fn,
                                     eval_source, seed, scratch, say, FallbackBudget(enabled=fallback))
        notes = report_notes(lowered, calib, batches_fn, eval_source)
        target_options: dict[str, Any] = {"profiles": profiles}
        if static_shapes:
            target_options.update({"static_shapes": {s.name: prep.shapes[s.name] for s in prep.specs},
                                   "dtypes": {s.name: s.dtype for s in prep.specs}})
        with bundle_io.staged_bundle(out_path) as staging:
            portable = _write_portable(prep, staging, lowered.path if lowered else None)
            if keep_fp32 and lowered is not None:
                import onnx

                onnxio.save(onnx.load(str(prep.onnx_path)), staging / "reference" / "model.onnx")
            signature = {"inputs": [s.to_dict() for s in prep.specs],
                         "outputs": [s.to_dict() for s in _output_specs(portable)]}
            golden = GoldenSet(GOLDEN_BATCHES)
            entries, reports, plots, stage_runs = _build_targets(
                targets, prep, staging, portable, signature, precision, rule, batches_fn, eval_source, seed,
                notes, lowered, scratch, target_options, golden, say)
            save_golden(staging / GOLDEN_FILE, golden, [s.name for s in prep.specs], prep.output_names)
            graphs = [*prep.stage_graphs, *([("quantize", lowered.path, precision)] if lowered else [])]
            stages = stage_parity(prep.reference, prep.reference_description, [*graphs, *stage_runs],
                                  batches_fn, prep.output_names, rule, precision)
            reports = {n: replace(r, stages=tuple(stages)) for n, r in reports.items()}
            manifest = _manifest(out_path, prep, signature, precision, entries, reports)
            manifest["quantization"] = lowered.summary if lowered else None
            manifest["parity"]["rule_overrides"] = (
                {"max_accuracy_drop": max_accuracy_drop} if max_accuracy_drop is not None else {})
            manifest["notes"] = list(notes)
            if selection is not None:
                manifest["selection"] = selection
            if notes and notes[0].startswith("WARNING"):
                manifest = {"warning": notes[0], **manifest}  # the first thing a reader sees
            write_reports(staging, reports, manifest, plots)
            if junit is not None:
                write_junit(reports, junit)
            bundle_io.commit_bundle(staging, out_path, manifest,
                                    verify=lambda p: check_loads_back(p, target_names))
    final = bundle_io.read_bundle(out_path, verify=False)
    first = reports[target_names[0]]
    return Artifact(out_path, final.manifest, first, reports)


def _build_targets(targets: list[Any], prep: Prepared, staging: Path, portable: Path, signature: dict[str, Any],
                   precision: str, rule: Any, batches_fn: Callable[[], Iterator[Batch]],
                   eval_source: DataSource | None, seed: int, notes: tuple[str, ...], lowered: Any,
                   scratch: Path, target_options: dict[str, Any], golden: GoldenSet, say: Log,
                   ) -> tuple[list[dict[str, Any]], dict[str, ParityReport], dict[str, PlotSamples], list[Any]]:
    """Builds every target into the staging folder, checks each as ``load`` will run it, times it."""
    entries, reports, plots, stage_runs = [], {}, {}, []
    for t in targets:
        say(f"building target {t.name} ({t.backend})")
        entry = t.build(portable, precision, staging, **target_options)
        entries.append(entry)
        staged = bundle_io.Bundle.staged(staging, signature, entry, precision)
        # Loaded once, exactly as ``load`` will: checked, timed and attributed with the same runtime.
        runtime = runtime_class(t.name).from_bundle(staged, t.name)
        plots[t.name] = PlotSamples()
        report = _check_target(prep, runtime, entry, rule, batches_fn, eval_source, seed,
                               golden if not golden.feeds else None,
                               (*notes, *entry.get("warnings", ())), plots[t.name])
        stage_runs.append((f"target {t.name}", runtime.run, f"{t.backend} {entry.get('backend_version')}"))
        if lowered is not None:
            entry["speed"] = measure_speed(t, prep, staged, runtime, scratch, golden, target_options)
            report = with_speed_note(report, t.name, entry["speed"], say)
        reports[t.name] = report
        say(f"{t.name}: {report.summary()}")
    return entries, reports, plots, stage_runs


def _default_name(model: Any) -> str:
    if isinstance(model, (str, Path)):
        text = str(model)
        return Path(text).stem if os.path.exists(text) else text.rpartition(":")[2]  # never raises
    return type(model).__name__.lower()


def _parity_batches(prep: Prepared, eval_source: DataSource | None, seed: int,
                    eval_batch: int = EVAL_BATCH) -> Callable[[], Iterator[Batch]]:
    """A re-iterable supply of parity batches: the eval data, or seeded random feeds."""
    if eval_source is not None:
        return lambda: batches(eval_source, prep.specs, eval_batch)

    def random_batches() -> Iterator[Batch]:
        rng = np.random.default_rng(seed + 1)
        for _ in range(RANDOM_BATCHES):
            feed = random_feed(prep.specs, prep.shapes, rng, prep.int_high)
            lead = [a.shape[0] for a in feed.values() if a.ndim]
            yield Batch(feed, None, lead[0] if lead and len(set(lead)) == 1 else 1)

    return random_batches


def _write_portable(prep: Prepared, staging: Path, lowered: Path | None = None) -> Path:
    import onnx

    model = onnx.load(str(lowered or prep.onnx_path))
    source_meta = onnxio.metadata(model)
    onnxio.set_metadata(model, {**source_meta, "edgekit.version": library_versions().get("edgekit", "?"),
                                "edgekit.source_sha256": prep.source.sha256})
    path = staging / "model.onnx"
    onnxio.save(model, path)
    return path


def _check_target(prep: Prepared, runtime: Any, entry: dict[str, Any], rule: Any,
                  batches_fn: Callable[[], Iterator[Batch]], eval_source: DataSource | None,
                  seed: int, golden: GoldenSet | None, notes: tuple[str, ...],
                  plots: PlotSamples | None = None) -> ParityReport:
    """Compares a target's runtime (loaded from the staging folder) with the reference."""
    name, precision = entry["name"], entry["precision"]
    data_desc = eval_source.description if eval_source else f"seeded random inputs (seed {seed})"
    return compare(
        prep.reference, runtime.run, batches_fn(), prep.output_names, precision, rule,
        data_description=data_desc, reference_description=prep.reference_description,
        candidate_description=f"{name} ({entry['backend']} {entry.get('backend_version')})",
        golden=golden, notes=notes, samples=plots,
    )


def _manifest(out: Path, prep: Prepared, signature: dict[str, Any], precision: str,
              entries: list[dict[str, Any]], reports: dict[str, ParityReport]) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(prep.onnx_path), load_external_data=False)
    versions = library_versions()
    return {
        "schema_version": bundle_io.SCHEMA_VERSION,
        "edgekit_version": versions.get("edgekit", "unknown"),
        "name": out.name[: -len(bundle_io.SUFFIX)],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": {"kind": prep.source.kind, "description": prep.source.description,
                   "sha256": prep.source.sha256, **prep.export_info},
        "signature": signature,
        "precision": precision,
        "portable_model": {"file": "model.onnx",
                           "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                           "stages": prep.stages},
        "targets": entries,
        "quantization": None,
        "parity": {
            "passed": all(r.passed for r in reports.values()),
            "targets": {n: {"passed": r.passed, "summary": r.summary()} for n, r in reports.items()},
            "rule_overrides": {},
        },
        "metadata": onnxio.metadata(model),
        "build_host": fingerprint(),
        "toolchain": versions,
    }


def _output_specs(path: Path) -> list[TensorSpec]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    _, outputs = onnxio.graph_signature(model)
    return outputs


__all__ = ["Artifact", "PRECISIONS", "compile_model"]
