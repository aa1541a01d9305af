"""The compile pipeline: source → ONNX fp32 → simplified → per-target build → parity → bundle."""

from __future__ import annotations

import datetime as _dt
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

PRECISIONS = ("fp32",)
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
    log: Log | None = None,
) -> Artifact:
    """Compiles a model into a verified bundle.

    Args:
        model: an ``nn.Module`` / ``ExportedProgram``, or a MODEL string (``.onnx``,
            TorchScript, ``.pt2``, ``package.module:factory``).
        example_inputs: example tensors for an ``nn.Module`` (a tuple, forward order).
        target: a target name, a comma-separated list, or a list.
        precision: ``fp32``.
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
        seed: seed of the random parity inputs.
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
    eval_source = open_data(eval_data) if eval_data is not None else None

    with tempfile.TemporaryDirectory(prefix="edgekit-") as scratch_dir:
        scratch = Path(scratch_dir)
        prep = _prepare(source, example_inputs, input_args, dynamic_args, eval_source, exporter,
                        opset, simplify, seed, scratch, say)
        batches_fn = _parity_batches(prep, eval_source, seed)
        next(iter(batches_fn()), None)  # a data source that does not fit fails here, before building
        with bundle_io.staged_bundle(out_path) as staging:
            portable = _write_portable(prep, staging)
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
                reports[t.name] = _check_target(prep, staged, t.name, batches_fn, eval_source, seed,
                                                golden if not golden.feeds else None)
                say(f"{t.name}: {reports[t.name].summary()}")
            save_golden(staging / GOLDEN_FILE, golden, [s.name for s in prep.specs], prep.output_names)
            _write_reports(staging, reports)
            manifest = _manifest(out_path, prep, signature, precision, entries, reports)
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
             dynamic_args: list[DynamicArg], eval_source: DataSource | None, exporter: str,
             opset: int | None, simplify: bool, seed: int, scratch: Path, say: Log) -> _Prepared:
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


def _write_portable(prep: _Prepared, staging: Path) -> Path:
    import onnx

    model = onnx.load(str(prep.onnx_path))
    source_meta = onnxio.metadata(model)
    onnxio.set_metadata(model, {**source_meta, "edgekit.version": library_versions().get("edgekit", "?"),
                                "edgekit.source_sha256": prep.source.sha256})
    path = staging / "model.onnx"
    onnxio.save(model, path)
    return path


def _check_target(prep: _Prepared, staged: bundle_io.Bundle, name: str,
                  batches_fn: Callable[[], Iterator[Batch]], eval_source: DataSource | None,
                  seed: int, golden: GoldenSet | None) -> ParityReport:
    """Loads the target from the staging folder exactly as ``load`` will, and compares."""
    runtime = runtime_class(name).from_bundle(staged, name)
    entry, precision = staged.target(name), staged.precision
    data_desc = eval_source.description if eval_source else f"seeded random inputs (seed {seed})"
    report = compare(
        prep.reference, runtime.run, batches_fn(), prep.output_names, precision, rule_for(precision),
        data_description=data_desc, reference_description=prep.reference_description,
        candidate_description=f"{name} ({entry['backend']} {entry.get('backend_version')})",
        golden=golden,
    )
    runtime.close()
    return ParityReport(**{**report.__dict__, "stages": tuple(prep.stages)})


def _write_reports(staging: Path, reports: dict[str, ParityReport]) -> None:
    import json

    passed = all(r.passed for r in reports.values())
    doc = {"schema_version": 1, "passed": passed, "reports": {n: r.to_dict() for n, r in reports.items()}}
    (staging / "parity.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    md = "\n".join(f"# target `{n}`\n\n{r.to_markdown()}" for n, r in reports.items())
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
