"""The compile pipeline: source → ONNX fp32 → simplified → per-target build → parity → bundle."""

from __future__ import annotations

import datetime as _dt
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import bundle as bundle_io
from edgekit.calibration.sources import Batch, DataSource, batches, open_data
from edgekit.compile import onnxio
from edgekit.compile.export import export
from edgekit.compile.inputs import (
    DynamicArg,
    InputArg,
    apply_dynamic,
    concrete_shape,
    parse_dynamic,
    parse_input,
    random_feed,
    torch_signature,
    varied_shapes,
)
from edgekit.compile.lowering import FallbackBudget, Lowered, lower, time_runtime
from edgekit.compile.quantize import DEFAULT_CALIB_SAMPLES, PRECISIONS, QuantConfig, record_hashes
from edgekit.compile.simplify import simplify as run_onnxsim
from edgekit.compile.sources import ModelSource, load_source
from edgekit.compile.torchref import TorchReference, flatten_outputs
from edgekit.errors import InputError
from edgekit.hostinfo import fingerprint, library_versions
from edgekit.parity.compare import GoldenSet, compare
from edgekit.parity.golden import GOLDEN_FILE, save_golden
from edgekit.parity.metrics import rule_for
from edgekit.parity.report import ParityReport
from edgekit.runtimes import runtime_class
from edgekit.runtimes.onnxruntime import OnnxRuntime
from edgekit.signature import TensorSpec
from edgekit.targets import get_target, parse_targets

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


@dataclass
class _Prepared:
    source: ModelSource
    specs: list[TensorSpec]
    output_names: list[str]
    onnx_path: Path
    reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    reference_description: str
    export_info: dict[str, Any]
    stages: list[dict[str, Any]]
    shapes: dict[str, tuple[int, ...]]
    int_high: dict[str, int]


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
        dynamic: ``NAME:AXIS[:DIMNAME]`` strings (or DynamicArg) marking dynamic axes.
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
        log: receives progress lines; silent when None.

    Returns:
        The Artifact; ``artifact.parity.passed`` says whether it may ship.

    Raises:
        InputError, TargetUnavailable, TargetBuildError: before or while building.
    """
    say = log or (lambda _msg: None)
    target_names = parse_targets(target)
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}'", note=f"choose from: {', '.join(PRECISIONS)}")
    targets = [get_target(n) for n in target_names]
    for t in targets:
        t.require()
    input_args = [a if isinstance(a, InputArg) else parse_input(a) for a in inputs or []]
    dynamic_args = [a if isinstance(a, DynamicArg) else parse_dynamic(a) for a in dynamic or []]
    out_path = Path(out) if out is not None else Path(f"{_default_name(model)}{bundle_io.SUFFIX}")
    bundle_io.check_destination(out_path, force)
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

    with tempfile.TemporaryDirectory(prefix="edgekit-") as scratch_dir:
        scratch = Path(scratch_dir)
        prep = _prepare(source, example_inputs, input_args, dynamic_args, eval_source, calib_source,
                        exporter, opset, simplify, seed, scratch, say)
        batches_fn = _parity_batches(prep, eval_source, seed)
        next(iter(batches_fn()), None)  # a data source that does not fit fails here, before building
        calib = _calibration_feeds(prep, calib_source, config, precision, seed)
        lowered = None
        if precision != "fp32":
            lowered = _lower(prep, precision, config, calib, calib_source, rule, batches_fn, eval_source,
                             seed, scratch, say, FallbackBudget(enabled=fallback))
        notes = _notes(lowered, calib, batches_fn, eval_source)
        with bundle_io.staged_bundle(out_path) as staging:
            portable = _write_portable(prep, staging, lowered.path if lowered else None)
            signature = {"inputs": [s.to_dict() for s in prep.specs],
                         "outputs": [s.to_dict() for s in _output_specs(portable)]}
            entries, reports = [], {}
            golden = GoldenSet(GOLDEN_BATCHES)
            for t in targets:
                say(f"building target {t.name} ({t.backend})")
                entry = t.build(portable, precision, staging)
                entries.append(entry)
                staged = bundle_io.Bundle(staging, {"signature": signature, "targets": [entry],
                                                    "precision": precision,
                                                    "files": {p: {} for p in entry["files"].values()}})
                report = _check_target(prep, staged, t.name, rule, batches_fn, eval_source, seed,
                                       golden if not golden.feeds else None,
                                       (*notes, *entry.get("warnings", ())))
                if lowered is not None:
                    entry["speed"] = _speed(t, prep, staged, precision, scratch, golden)
                    report = _with_speed_note(report, t.name, entry["speed"], say)
                reports[t.name] = report
                say(f"{t.name}: {report.summary()}")
            save_golden(staging / GOLDEN_FILE, golden, [s.name for s in prep.specs], prep.output_names)
            _write_reports(staging, reports)
            manifest = _manifest(out_path, prep, signature, precision, entries, reports)
            manifest["quantization"] = lowered.summary if lowered else None
            manifest["parity"]["rule_overrides"] = (
                {"max_accuracy_drop": max_accuracy_drop} if max_accuracy_drop is not None else {})
            manifest["notes"] = list(notes)
            if notes and notes[0].startswith("WARNING"):
                manifest = {"warning": notes[0], **manifest}  # the first thing a reader sees
            bundle_io.commit_bundle(staging, out_path, manifest)
    final = bundle_io.read_bundle(out_path, verify=False)
    first = reports[target_names[0]]
    return Artifact(out_path, final.manifest, first, reports)


def _default_name(model: Any) -> str:
    if isinstance(model, (str, Path)):
        text = str(model)
        return Path(text).stem if Path(text).exists() else text.rpartition(":")[2]
    return type(model).__name__.lower()


def _prepare(source: ModelSource, example_inputs: tuple[Any, ...] | None, input_args: list[InputArg],
             dynamic_args: list[DynamicArg], eval_source: DataSource | None, calib_source: DataSource | None,
             exporter: str, opset: int | None, simplify: bool, seed: int, scratch: Path, say: Log) -> _Prepared:
    """Gets a checked fp32 ONNX graph and the reference that the artifact must match."""
    rng = np.random.default_rng(seed)
    if source.is_torch:
        first = _first_record(eval_source) if not (example_inputs or input_args) else None
        names = source.forward_names()
        if first is not None and names and set(first) <= set(names):
            first = {n: first[n] for n in names if n in first}
        if source.kind == "torch.export" and not (example_inputs or input_args or first):
            example_inputs = _program_example(source.module)
        specs, example = torch_signature(names, example_inputs, input_args, first, dynamic_args)
    else:
        specs, example = _onnx_signature(source.onnx_path, input_args, dynamic_args), None
    for data in (eval_source, calib_source):  # data that does not fit fails now, before any work
        if data is not None:
            next(batches(data, specs, 1), None)
    shapes = {s.name: tuple(example[s.name].shape) if example else concrete_shape(
        s, {a.name: a.shape for a in input_args}) for s in specs}
    int_high = {n: int(a.max()) + 1 for n, a in (example or {}).items() if np.issubdtype(a.dtype, np.integer)}
    feed = example or random_feed(specs, shapes, rng, int_high)
    varied_sizes = varied_shapes(specs, shapes)
    varied = random_feed(specs, varied_sizes, rng, int_high) if varied_sizes else None
    stages: list[dict[str, Any]] = []
    if source.is_torch:
        reference = TorchReference(source.module, [s.name for s in specs])
        output_names = _output_names(reference, feed)
        reference.output_names = output_names
        if varied is not None and not _runs(reference, varied):
            say("note: the torch model does not run at a second size of its dynamic axes; "
                "dynamic behaviour is checked at the example size only")
            varied = None
        say(f"exporting to ONNX ({exporter})")
        result = export(source.module, source.kind, specs, feed, varied, output_names, scratch, exporter, opset)
        say(f"exported with the {result.exporter} exporter")
        onnx_path = result.path
        export_info = {"exporter": result.exporter, "attempts": result.attempts}
        stages.append({"stage": "export", "against": "torch eager fp32", "passed": True,
                       "detail": f"{result.exporter} exporter; " + "; ".join(result.checks)})
        ref_desc = f"torch {library_versions().get('torch', '?')} eager fp32 ({source.description})"
    else:
        onnx_path = source.onnx_path
        onnx_reference = OnnxRuntime(onnx_path, optimization="none")
        reference, output_names = onnx_reference.run, onnx_reference.output_names
        export_info = {"exporter": None, "attempts": []}
        ref_desc = f"onnxruntime fp32, no graph optimisation ({source.description})"
    if simplify:
        probes = [feed] + ([varied] if varied is not None else [])
        result_s = run_onnxsim(onnx_path, scratch / "simplified.onnx", probes)
        say(f"onnxsim: {result_s.detail}")
        onnx_path = result_s.path
        stages.append({"stage": "simplify", "against": "exported graph", "passed": True,
                       "applied": result_s.applied, "detail": result_s.detail})
    return _Prepared(source, specs, output_names, onnx_path, reference, ref_desc, export_info,
                     stages, shapes, int_high)


def _onnx_signature(path: Path | None, input_args: list[InputArg], dynamic_args: list[DynamicArg]) -> list[TensorSpec]:
    assert path is not None
    specs, _ = onnxio.graph_signature(onnxio.load_checked(path))
    by_name = {s.name: s for s in specs}
    for arg in input_args:
        spec = by_name.get(arg.name)
        if spec is None:
            raise InputError(f"--input names '{arg.name}', which the ONNX model does not have",
                             note=f"its inputs: {', '.join(by_name) or 'none'}")
        if len(arg.shape) != len(spec.shape) or any(
            isinstance(d, int) and d != a for d, a in zip(spec.shape, arg.shape)
        ):
            raise InputError(f"--input {arg.name}:{'x'.join(map(str, arg.shape))} does not fit the model's {spec}")
    if dynamic_args:
        raise InputError("--dynamic applies to torch models; an ONNX model's dynamic axes come from the file")
    return specs


def _first_record(source: DataSource | None) -> dict[str, np.ndarray] | None:
    if source is None:
        return None
    for record, _label in source:
        if "" in record:
            return None
        return record
    raise InputError(f"{source.description} holds no samples")


def _program_example(program: Any) -> tuple[Any, ...]:
    import torch

    args = program.example_inputs[0] if program.example_inputs else None
    if not args:
        raise InputError("the .pt2 program carries no example inputs", note="give --input for each input")
    return tuple(torch.zeros_like(a) if a.is_floating_point() else a for a in args)


def _output_names(reference: TorchReference, feed: dict[str, np.ndarray]) -> list[str]:
    try:
        names, _ = flatten_outputs(reference.raw(feed))
    except InputError:
        raise
    except Exception as err:  # the user's model failed on its own example: their error, with cause
        raise InputError(f"the torch model fails on the example input: {type(err).__name__}: "
                         f"{' '.join(str(err).split())[:300]}") from err
    if len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(names))]
    return names


def _runs(reference: TorchReference, feed: dict[str, np.ndarray]) -> bool:
    try:
        reference.raw(feed)
    except Exception:  # the model itself rejects this size: not a dynamic axis in practice
        return False
    return True


def _parity_batches(prep: _Prepared, eval_source: DataSource | None, seed: int) -> Callable[[], Iterator[Batch]]:
    """A re-iterable supply of parity batches: the eval data, or seeded random feeds."""
    if eval_source is not None:
        return lambda: batches(eval_source, prep.specs, EVAL_BATCH)

    def random_batches() -> Iterator[Batch]:
        rng = np.random.default_rng(seed + 1)
        for _ in range(RANDOM_BATCHES):
            feed = random_feed(prep.specs, prep.shapes, rng, prep.int_high)
            lead = [a.shape[0] for a in feed.values() if a.ndim]
            yield Batch(feed, None, lead[0] if lead and len(set(lead)) == 1 else 1)

    return random_batches


def _calibration_feeds(prep: _Prepared, calib_source: DataSource | None, config: QuantConfig,
                       precision: str, seed: int) -> list[dict[str, np.ndarray]]:
    """Calibration batches: the calibration data, else (only when asked) seeded random inputs."""
    if precision == "fp32":
        return []
    if calib_source is not None:
        feeds = [b.feed for b in batches(calib_source, prep.specs, EVAL_BATCH)]
        if not feeds:
            raise InputError(f"{calib_source.description} holds no samples that fit the model")
        return feeds
    rng = np.random.default_rng(seed + 2)
    count = config.samples if precision == "int8" else 8
    lead = next((s for s in prep.shapes.values() if s), (1,))[0]
    return [random_feed(prep.specs, prep.shapes, rng, prep.int_high) for _ in range(max(1, count // max(lead, 1)))]


FALLBACK_CHECK_SAMPLES = 512


def _lower(prep: _Prepared, precision: str, config: QuantConfig, calib: list[dict[str, np.ndarray]],
           calib_source: DataSource | None, rule: Any, batches_fn: Callable[[], Iterator[Batch]],
           eval_source: DataSource | None, seed: int, scratch: Path, say: Log, budget: FallbackBudget) -> Lowered:
    """Quantizes the checked fp32 graph, judging each attempt by parity on (part of) the eval data."""
    check_batches, seen = [], 0
    for batch in batches_fn():
        check_batches.append(batch)
        seen += batch.samples
        if seen >= FALLBACK_CHECK_SAMPLES:
            break
    refs = [prep.reference(b.feed) for b in check_batches]
    by_id = {id(b.feed): r for b, r in zip(check_batches, refs)}
    data_desc = eval_source.description if eval_source else f"seeded random inputs (seed {seed})"

    def check(path: Path) -> ParityReport:
        return compare(lambda feed: by_id[id(feed)], OnnxRuntime(path, optimization="all").run,
                       iter(check_batches), prep.output_names, precision, rule,
                       data_description=data_desc, reference_description=prep.reference_description,
                       candidate_description=f"portable {precision} graph (onnxruntime)")

    if calib_source is not None:
        calib_desc = calib_source.description
    elif precision == "int8":
        calib_desc = f"RANDOM inputs (seed {seed + 2})"
    else:
        calib_desc = "seeded random inputs, for node sensitivity only"
    lowered = lower(prep.onnx_path, precision, config, calib, calib_desc, check, scratch, say, budget)
    prep.stages.append({
        "stage": "quantize", "against": prep.reference_description, "passed": bool(lowered.report),
        "detail": f"{precision}: {len(lowered.result.quantized_nodes)} node(s) quantized, "
                  f"{len(lowered.summary['fallback_nodes'])} left in float by the fallback; "
                  + (lowered.report.summary() if lowered.report else ""),
    })
    return lowered


def _notes(lowered: Lowered | None, calib: list[dict[str, np.ndarray]],
           batches_fn: Callable[[], Iterator[Batch]], eval_source: DataSource | None) -> tuple[str, ...]:
    """What a reader of the report must know about how the artifact was made, warnings first."""
    if lowered is None:
        return ()
    notes = []
    calibration = lowered.summary.get("calibration") or {}
    if calibration.get("random"):
        notes.append("WARNING: int8 was calibrated on RANDOM inputs, not real data; "
                     "its ranges may not fit real inputs")
    if calib and eval_source is not None and calibration and not calibration.get("random"):
        calib_rows = record_hashes(calib)
        eval_rows = record_hashes([b.feed for b in batches_fn()])
        shared = len(calib_rows & eval_rows)
        if shared:
            notes.append(f"WARNING: {shared} of {len(eval_rows)} evaluation samples were also calibration "
                         "samples; parity on them is optimistic")
    notes += lowered.summary["notes"]
    history = lowered.history
    if len(history) > 1:
        left = lowered.summary["fallback_nodes"]
        notes.append(
            f"accuracy-aware fallback left {len(left)} node(s) in float ({', '.join(left)}); "
            f"parity before: {'passed' if history[0]['passed'] else 'failed'} (min cosine "
            f"{history[0]['min_cosine']:.5f}), after: {'passed' if history[-1]['passed'] else 'failed'} "
            f"(min cosine {history[-1]['min_cosine']:.5f})"
        )
    return tuple(notes)


def _speed(target: Any, prep: _Prepared, staged: bundle_io.Bundle, precision: str, scratch: Path,
           golden: GoldenSet) -> dict[str, Any]:
    """Times this target's artifact against an fp32 build of the same target, on the same input."""
    ref_dir = scratch / f"fp32-{target.name}"
    ref_dir.mkdir(exist_ok=True)
    entry = target.build(prep.onnx_path, "fp32", ref_dir)
    fp32_bundle = bundle_io.Bundle(ref_dir, {"signature": staged.manifest["signature"], "targets": [entry],
                                             "precision": "fp32",
                                             "files": {p: {} for p in entry["files"].values()}})
    feed = golden.feeds[0]
    fp32_rt = runtime_class(target.name).from_bundle(fp32_bundle, target.name)
    rt = runtime_class(target.name).from_bundle(staged, target.name)
    fp32_ms, ms = time_runtime(fp32_rt.run, feed), time_runtime(rt.run, feed)
    fp32_rt.close()
    rt.close()
    return {"fp32_ms": round(fp32_ms, 4), "ms": round(ms, 4), "ratio_to_fp32": round(ms / fp32_ms, 3),
            "input_shapes": {k: list(v.shape) for k, v in feed.items()}}


def _with_speed_note(report: ParityReport, target: str, speed: dict[str, Any], say: Log) -> ParityReport:
    ratio = speed["ratio_to_fp32"]
    if ratio <= 1.05:
        note = f"{report.precision} runs at {ratio:.2f}x the latency of fp32 on {target} here"
    else:
        note = (f"WARNING: SLOWER THAN FP32: {report.precision} on {target} takes {ratio:.2f}x the latency of "
                f"fp32 on this host ({speed['ms']:.3g} ms vs {speed['fp32_ms']:.3g} ms)")
        say(note)
    return replace(report, notes=(*report.notes, note))


def _write_portable(prep: _Prepared, staging: Path, lowered: Path | None = None) -> Path:
    import onnx

    model = onnx.load(str(lowered or prep.onnx_path))
    source_meta = onnxio.metadata(model)
    onnxio.set_metadata(model, {**source_meta, "edgekit.version": library_versions().get("edgekit", "?"),
                                "edgekit.source_sha256": prep.source.sha256})
    path = staging / "model.onnx"
    onnxio.save(model, path)
    return path


def _check_target(prep: _Prepared, staged: bundle_io.Bundle, name: str, rule: Any,
                  batches_fn: Callable[[], Iterator[Batch]], eval_source: DataSource | None,
                  seed: int, golden: GoldenSet | None, notes: tuple[str, ...]) -> ParityReport:
    """Loads the target from the staging folder exactly as ``load`` will, and compares."""
    runtime = runtime_class(name).from_bundle(staged, name)
    entry, precision = staged.target(name), staged.precision
    data_desc = eval_source.description if eval_source else f"seeded random inputs (seed {seed})"
    report = compare(
        prep.reference, runtime.run, batches_fn(), prep.output_names, precision, rule,
        data_description=data_desc, reference_description=prep.reference_description,
        candidate_description=f"{name} ({entry['backend']} {entry.get('backend_version')})",
        golden=golden, notes=notes,
    )
    runtime.close()
    return replace(report, stages=tuple(prep.stages))


def _write_reports(staging: Path, reports: dict[str, ParityReport]) -> None:
    import json

    passed = all(r.passed for r in reports.values())
    doc = {"schema_version": 1, "passed": passed, "reports": {n: r.to_dict() for n, r in reports.items()}}
    (staging / "parity.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    shared = [n for n in next(iter(reports.values())).notes if n.startswith("WARNING")]
    banner = "".join(f"> **{n}**\n" for n in shared) + ("\n" if shared else "")
    md = banner + "\n".join(f"# target `{n}`\n\n{r.to_markdown()}" for n, r in reports.items())
    (staging / "parity.md").write_text(md)


def _manifest(out: Path, prep: _Prepared, signature: dict[str, Any], precision: str,
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


__all__ = ["Artifact", "PRECISIONS", "apply_dynamic", "compile_model"]
