"""The compile pipeline: source → ONNX fp32 → simplified → per-target build → parity → bundle."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import bundle as bundle_io
from edgekit import onnxio, progress
from edgekit.compiler.artifact import Artifact
from edgekit.compiler.build import Build
from edgekit.compiler.guard import stage_errors
from edgekit.compiler.inputs import random_feed
from edgekit.compiler.loadback import check_loads_back
from edgekit.compiler.lowering import calibration_feeds, lower_prepared
from edgekit.compiler.lowering_notes import report_notes
from edgekit.compiler.manifest import Built, assemble_manifest
from edgekit.compiler.opset import check_opset
from edgekit.compiler.options import PRECISIONS, CompileOptions
from edgekit.compiler.paritydata import ParityData
from edgekit.compiler.payoff import measure_payoff, with_payoff_note
from edgekit.compiler.prepare import Prepared, prepare
from edgekit.compiler.prequant import keeps_quantized, prequantized_note, quantized_ops
from edgekit.compiler.profiles import batch_limit, derive_profiles, explicit_ranges
from edgekit.compiler.speed import measure_speed, own_speed, with_speed_note
from edgekit.compiler.stages import stage_parity
from edgekit.data.sources import Batch, DataSource, batches, open_data
from edgekit.errors import InputError
from edgekit.hostinfo import library_versions
from edgekit.layout import Layout
from edgekit.models.hf import text_source
from edgekit.models.loader import ModelSource, load_source
from edgekit.parity.compare import Comparison, GoldenSet, compare
from edgekit.parity.golden import GOLDEN_FILE, save_golden
from edgekit.parity.junit import write_junit
from edgekit.parity.metrics import ParityRule, rule_for
from edgekit.parity.noise import NOISE_FEEDS, measure_onnx_noise
from edgekit.parity.report import ParityReport
from edgekit.parity.samples import PlotSamples
from edgekit.parity.user_metric import Recorder, load_metric
from edgekit.parity.user_metric import evaluate as evaluate_metric
from edgekit.parity.user_rule import with_user_rule
from edgekit.parity.writer import write_reports
from edgekit.precision import INT8_PRECISIONS, Precision
from edgekit.runtimes import runtime_class
from edgekit.safeio import check_output_path
from edgekit.signature import TensorSpec
from edgekit.targets import get_target

SCRATCH_PREFIX = "edgekit-scratch-"
RANDOM_BATCHES = 8
GOLDEN_BATCHES = 4
EVAL_BATCH = 8
Log = Callable[[str], None]


@dataclass(frozen=True)
class Staged:
    """The prepared graph and what is derived from it before building: profiles and parity batches."""

    prep: Prepared
    parity: ParityData  # the parity batches, their description, cached reference outputs
    target_options: dict[str, Any]
    execution: dict[str, Any] | None = None  # an execution-only precision's record (bf16)


def compile_model(model: Any, example_inputs: tuple[Any, ...] | None, opts: CompileOptions,
                  log: Log | None = None) -> Artifact:
    """Compiles a model into a verified bundle (``edgekit.compile`` documents the options).

    Raises:
        InputError, TargetUnavailable, TargetBuildError: before or while building.
    """
    say = progress.reporter(log)  # logs through `logging` always; `log=` gets the lines too
    if opts.is_auto:
        raise InputError("compile_model needs a concrete target and precision; auto is edgekit.compile's")
    check_opset(opts.opset)
    targets = _resolve_targets(opts)
    out_path = opts.out if opts.out is not None else default_out(model)
    bundle_io.check_destination(out_path, opts.force)
    if opts.junit is not None:
        check_output_path(opts.junit, "--junit")  # before the build: a finished bundle is never thrown away
    source = load_source(model, opts.weights, opts.allow_pickle)
    progress.stage(say, "load", f"model: {source.description}")
    prequant = quantized_ops(source.onnx_path) if source.onnx_path is not None else {}
    eval_source, calib_source = _open_data(opts, source, keeps_quantized(prequant, opts.precision))
    # A graph that arrived quantized is judged by the int8 rule: backends compute integer ops differently.
    rule = rule_for(Precision.INT8 if prequant else opts.precision, max_accuracy_drop=opts.max_accuracy_drop)
    if opts.metric is not None:
        load_metric(opts.metric)  # an unimportable metric fails now, before any work

    bundle_io.remove_stale_dirs(Path(tempfile.gettempdir()), SCRATCH_PREFIX)
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as scratch_dir:
        build = Build(opts, targets, source, eval_source, calib_source, rule, Path(scratch_dir), say, prequant)
        staged = _prepare_stage(build, example_inputs)
        # The user's criteria name outputs, known once the graph is prepared; lowering's fallback uses them too.
        build = replace(build, rule=with_user_rule(rule, staged.prep.output_names, opts.metric, **opts.tolerances))
        build = _noise_stage(build, staged)
        lowered, calib = _lower_stage(build, staged)
        notes = _notes(build, lowered, calib, staged.parity)
        if Precision(opts.precision).execution_only:
            staged, notes = _execution_stage(build, staged, notes)
        with bundle_io.staged_bundle(out_path) as staging:
            reports = _package(build, staged, lowered, notes, staging, out_path)
    final = bundle_io.read_bundle(out_path, verify=False)
    return Artifact(out_path, final.manifest, reports[opts.target_names[0]], reports)



def _resolve_targets(opts: CompileOptions) -> list[Any]:
    """The target objects, each checked for the precision and for this host."""
    targets = [get_target(n) for n in opts.target_names]
    for t in targets:
        t.check_precision(opts.precision)
        t.require()
    return targets


def _open_data(opts: CompileOptions, source: ModelSource,
               keep_quantized: bool) -> tuple[DataSource | None, DataSource | None]:
    """The evaluation and calibration data sources; int8 without calibration data is refused
    (unless the graph arrived quantized and is kept as it is)."""
    eval_source = text_source(opts.eval_data, source) or (
        open_data(opts.eval_data, opts.preprocess) if opts.eval_data is not None else None)
    config = opts.quant
    calib_source = None
    if opts.calibration is not None:
        calib_source = open_data(opts.calibration, opts.preprocess, limit=config.samples,
                                 shuffle_seed=opts.seed if opts.shuffle_calibration else None)
    if opts.precision == "int8" and calib_source is None and not config.random_calibration and not keep_quantized:
        raise InputError(
            "int8 needs calibration data (--calib DATA)",
            note="real samples of what the model will see; --random-calibration calibrates on noise "
            "and is marked so in the manifest and report",
        )
    return eval_source, calib_source


def _prepare_stage(build: Build, example_inputs: tuple[Any, ...] | None) -> Staged:
    """Export, simplify and check the fp32 graph; derive profiles and the parity batches."""
    opts = build.opts
    prep = prepare(build, example_inputs)
    if not prep.specs:
        raise InputError(f"{build.source.description} has no inputs; a bundle runs a model on inputs",
                         note="a constant belongs in the application, not in a compiled model")
    dim_ranges, profiles = derive_profiles(prep.specs, prep.shapes, explicit_ranges(list(opts.dynamic)))
    # Real samples for every check: the eval data, else the calibration data (for int8 the report
    # then warns that parity on its own calibration samples is optimistic), random only without any.
    batches_fn = _parity_batches(prep, build.check_source, opts.seed,
                                 min(EVAL_BATCH, batch_limit(prep.specs, dim_ranges) or EVAL_BATCH))
    next(iter(batches_fn()), None)  # a data source that does not fit fails here, before building
    target_options: dict[str, Any] = {"profiles": profiles}
    if opts.static_shapes:
        target_options.update({"static_shapes": {s.name: prep.shapes[s.name] for s in prep.specs},
                               "dtypes": {s.name: s.dtype for s in prep.specs}})
    return Staged(prep, ParityData(batches_fn, build.data_description, prep.reference), target_options)


def _noise_stage(build: Build, staged: Staged) -> Build:
    """fp32 from an ONNX file: the rule allows the reference's own optimisation noise (parity/noise)."""
    prep = staged.prep
    if (build.precision != Precision.FP32 or prep.source.is_torch or build.prequant
            or build.opts.tolerances.get("atol")):  # an atol the user chose is kept as given
        return build
    feeds = (b.feed for b in itertools.islice(staged.parity.batches(), NOISE_FEEDS))
    rule, allowance = measure_onnx_noise(prep.reference_path or prep.source.onnx_path, prep.reference, feeds,
                                         prep.output_names, build.rule)
    return replace(build, rule=rule, noise=allowance)


def _lower_stage(build: Build, staged: Staged) -> tuple[Any, list[dict[str, np.ndarray]]]:
    """The calibration feeds and the lowered (quantized / fp16) graph, or None at fp32, at an
    execution-only precision (bf16), or when a graph that arrived quantized is kept as it is."""
    opts = build.opts
    if build.keep_quantized:
        return None, []
    calib = calibration_feeds(staged.prep, build.calib_source, opts.quant, opts.precision, opts.seed)
    if opts.precision == Precision.FP32 or Precision(opts.precision).execution_only:
        return None, calib
    with stage_errors(f"{opts.precision} quantization", f"{opts.precision} quantized"):
        return lower_prepared(build, staged.prep, calib, staged.parity), calib


def _notes(build: Build, lowered: Any, calib: list[dict[str, np.ndarray]], parity: ParityData) -> tuple[str, ...]:
    """The report notes: lowering's, then the noise allowance and the pre-quantized graph's, if any."""
    extra = []
    if build.noise is not None:
        extra.append(build.noise.note())
    if build.prequant:
        extra.append(prequantized_note(build.prequant, build.precision))
    for note in extra:
        build.say(f"note: {note}")
    return (*report_notes(lowered, calib, parity, build.check_source), *extra)


def _execution_stage(build: Build, staged: Staged, notes: tuple[str, ...]) -> tuple[Staged, tuple[str, ...]]:
    """bf16: the portable graph stays fp32; the layers that miss parity in bf16 stay f32 on the target."""
    from edgekit.compiler.bf16 import bf16_fallback, bf16_summary

    keep, history = bf16_fallback(build, staged.prep, staged.parity)
    summary, bf16_notes = bf16_summary(keep, history)
    return (replace(staged, target_options={**staged.target_options, "keep_f32": keep}, execution=summary),
            (*notes, *bf16_notes))


def _package(build: Build, staged: Staged, lowered: Any, notes: tuple[str, ...], staging: Path,
             out_path: Path) -> dict[str, ParityReport]:
    """Writes the portable graph, builds and checks every target, and commits the bundle."""
    opts, prep, precision = build.opts, staged.prep, build.opts.precision
    portable = _write_portable(prep, staging, lowered.path if lowered else None)
    if opts.keep_fp32 and lowered is not None:
        import onnx

        onnxio.save(onnx.load(str(prep.onnx_path)), staging / Layout.REFERENCE_MODEL)
    signature = {"inputs": [s.to_dict() for s in prep.specs],
                 "outputs": [s.to_dict() for s in _output_specs(portable)]}
    entries, reports, plots, stage_runs, golden = _build_targets(build, staged, staging, portable, signature,
                                                                 notes)
    save_golden(staging / GOLDEN_FILE, golden, [s.name for s in prep.specs], prep.output_names)
    graphs = [*prep.stage_graphs, *([("quantize", lowered.path, precision)] if lowered else [])]
    stages = stage_parity(staged.parity, prep.reference_description, [*graphs, *stage_runs],
                          prep.output_names, build.rule, precision)
    reports = {n: replace(r, stages=tuple(stages)) for n, r in reports.items()}
    manifest = assemble_manifest(build, Built(prep, signature, entries, reports, lowered, notes, staged.execution),
                                 out_path)
    write_reports(staging, reports, manifest, plots)
    if opts.junit is not None:
        write_junit(reports, opts.junit)
    bundle_io.commit_bundle(staging, out_path, manifest,
                            verify=lambda p: check_loads_back(p, opts.target_names))
    return reports


def _build_targets(build: Build, staged: Staged, staging: Path, portable: Path, signature: dict[str, Any],
                   notes: tuple[str, ...]) -> tuple[list[dict[str, Any]], dict[str, ParityReport],
                                                    dict[str, PlotSamples], list[Any], GoldenSet]:
    """Builds every target into the staging folder, checks each as ``load`` will run it, times it.
    The first target's check keeps the golden samples."""
    entries, reports, plots, stage_runs = [], {}, {}, []
    say, prep, precision = build.say, staged.prep, build.precision
    golden: GoldenSet | None = None
    for t in build.targets:
        progress.stage(say, "build", f"building target {t.name} ({t.backend})")
        entry = t.build(portable, precision, staging, **staged.target_options)
        entries.append(entry)
        bundle = bundle_io.Bundle.staged(staging, signature, entry, precision)
        with stage_errors(f"parity check of target {t.name}", f"{t.name} target"):
            # Loaded once, exactly as ``load`` will: checked, timed and attributed with the same runtime.
            runtime = runtime_class(t.name).from_bundle(bundle, t.name)
            checked = _check_target(prep, runtime, entry, build.rule, staged.parity,
                                    GOLDEN_BATCHES if golden is None else 0, (*notes, *entry.get("warnings", ())))
        report, plots[t.name] = checked.report, checked.plots
        golden = golden or checked.golden
        stage_runs.append((f"target {t.name}", runtime.run, f"{t.backend} {entry.get('backend_version')}"))
        if precision != Precision.FP32:
            with stage_errors(f"speed check of target {t.name}", f"{t.name} target"):
                entry["speed"], report = _speed_checks(build, t, staged, bundle, runtime, golden, report)
        elif len(build.targets) > 1:  # lets load() prefer the target measured fastest on this host class
            entry["speed"] = own_speed(runtime, bundle, t.name, golden)
        reports[t.name] = report
        say(f"{t.name}: {report.summary()}")
    return entries, reports, plots, stage_runs, golden or GoldenSet(GOLDEN_BATCHES)


def _speed_checks(build: Build, target: Any, staged: Staged, bundle: bundle_io.Bundle, runtime: Any,
                  golden: GoldenSet, report: ParityReport) -> tuple[dict[str, Any], ParityReport]:
    """Times the artifact against fp32 on its target (the entry's ``speed``, and a note); int8 must
    also beat the best float the target runs here, bf16 included."""
    options = staged.target_options
    speed = measure_speed(target, staged.prep, bundle, runtime, build.scratch, golden, options)
    report = with_speed_note(report, target.name, speed, build.say)
    if build.precision in INT8_PRECISIONS:
        speed = measure_payoff(build, target, staged.prep, bundle, speed, golden, options)
        report = with_payoff_note(report, speed, build.say)
    return speed, report


def default_out(model: Any) -> Path:
    """``<model name>.edgekit`` in the current folder."""
    return Path(f"{_default_name(model)}{bundle_io.SUFFIX}")


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
    path = staging / Layout.PORTABLE_MODEL
    onnxio.save(model, path)
    return path


def _check_target(prep: Prepared, runtime: Any, entry: dict[str, Any], rule: ParityRule, parity: ParityData,
                  keep_golden: int, notes: tuple[str, ...]) -> Comparison:
    """Compares a target's runtime (loaded from the staging folder) with the reference, keeping the
    plot samples and, when ``keep_golden``, that many golden batches."""
    name, precision = entry["name"], entry["precision"]
    metric = getattr(rule, "metric", None)  # a user metric sees the outputs compare() runs on
    rec = Recorder()
    checked = compare(
        rec.wrap(prep.reference, rec.reference) if metric else prep.reference,
        rec.wrap(runtime.run, rec.candidate) if metric else runtime.run,
        rec.data(parity.batches()) if metric else parity.batches(), prep.output_names, precision, rule,
        data_description=parity.description, reference_description=prep.reference_description,
        candidate_description=f"{name} ({entry['backend']} {entry.get('backend_version')})",
        notes=notes, keep_golden=keep_golden, plot=True,
    )
    return replace(checked, report=replace(checked.report, user_metric=evaluate_metric(metric, rec))) \
        if metric else checked


def _output_specs(path: Path) -> list[TensorSpec]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    _, outputs = onnxio.graph_signature(model)
    return outputs


__all__ = ["Artifact", "PRECISIONS", "compile_model"]
