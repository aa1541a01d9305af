"""The first stage of a compile: the model's signature, a checked fp32 ONNX graph, and the
reference that every later stage is compared with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import onnxio, progress
from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.compiler.build import Build
from edgekit.compiler.controlflow import fold_control_flow
from edgekit.compiler.export import export
from edgekit.compiler.forward import named_outputs, torch_module
from edgekit.compiler.guard import stage_errors
from edgekit.compiler.inputs import DynamicArg, InputArg, torch_signature
from edgekit.compiler.meaning import IntMeaning, integer_input_meanings
from edgekit.compiler.opset import ensure_opset
from edgekit.compiler.probes import checked_random, hinted_shapes, real_feeds, refuse_meaningful, second_size
from edgekit.compiler.simplify import simplify as run_onnxsim
from edgekit.data.sources import DataSource, batches
from edgekit.errors import InputError
from edgekit.hostinfo import library_versions
from edgekit.models.loader import ModelSource
from edgekit.models.torchref import TorchReference
from edgekit.signature import TensorSpec

Log = Callable[[str], None]


@dataclass
class Prepared:
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
    stage_graphs: list[tuple[str, Path, str]]  # (stage, graph after it, detail) for stage attribution
    reference_path: Path | None = None  # an ONNX source as the reference runs it (dims -1/0 named)


def prepare(build: Build, example_inputs: tuple[Any, ...] | None) -> Prepared:
    """Gets a checked fp32 ONNX graph and the reference that the artifact must match."""
    opts, source, scratch, say = build.opts, build.source, build.scratch, build.say
    specs, example = _signature(build, example_inputs)
    for data in (build.eval_source, build.calib_source):  # data that does not fit fails now, before any work
        if data is not None:
            next(batches(data, specs, 1), None)
    facts = _input_facts(build, specs, example)
    ref = _reference(build, specs)
    feed, varied = _probe_feeds(ref.run, specs, facts, np.random.default_rng(opts.seed), example, say)
    stages: list[dict[str, Any]] = []
    stage_graphs: list[tuple[str, Path, str]] = []
    reference = ref.reference
    if source.is_torch:
        reference, onnx_path, export_info = _export_stage(build, ref.module, specs, feed, varied, stages,
                                                          stage_graphs)
        output_names = reference.output_names
        ref_desc = f"torch {library_versions().get('torch', '?')} eager fp32 ({source.description})"
    else:
        output_names, onnx_path = ref.output_names, ref.path
        export_info = {"exporter": None, "attempts": []}
        ref_desc = f"onnxruntime fp32, no graph optimisation ({source.description})"
    onnx_path = _at_opset(onnx_path, opts.opset, scratch, say)
    probes = [feed] + ([varied] if varied is not None else [])
    onnx_path = _clean_graph(onnx_path, opts.simplify, probes, scratch, say, stages, stage_graphs)
    return Prepared(source, specs, output_names, onnx_path, reference, ref_desc, export_info,
                    stages, facts.shapes, facts.int_high, stage_graphs, ref.path)


def _signature(build: Build, example_inputs: tuple[Any, ...] | None
               ) -> tuple[list[TensorSpec], dict[str, np.ndarray] | None]:
    """The model's input signature, and the example feed when a torch model has one."""
    opts, source = build.opts, build.source
    input_args, dynamic_args = list(opts.inputs), list(opts.dynamic)
    if source.hf is not None:  # inputs and dynamic axes derived from the model's signature and config
        example_inputs = example_inputs or (None if input_args else source.hf.example)
        dynamic_args = dynamic_args or [DynamicArg(*d) for d in source.hf.dynamic]
    if not source.is_torch:
        if opts.output_names or opts.pin:
            raise InputError("--output-names and --pin apply to torch models; an ONNX model's outputs and "
                             "arguments are fixed in the file")
        return _onnx_signature(source.onnx_path, input_args, dynamic_args), None
    first = _first_record(build.eval_source) if not (example_inputs or input_args) else None
    names = [n for n in source.forward_names() or [] if n not in dict(opts.pin)] or None
    if first is not None and names and set(first) <= set(names):
        first = {n: first[n] for n in names if n in first}
    if source.kind == "torch.export" and not (example_inputs or input_args or first):
        example_inputs = _program_example(source.module)
    return torch_signature(names, example_inputs, input_args, first, dynamic_args)


@dataclass(frozen=True)
class _InputFacts:
    """What the check inputs are made from: real samples, integer inputs' meanings, shapes, value ranges."""

    real: list[dict[str, np.ndarray]]
    meanings: dict[str, IntMeaning]
    shapes: dict[str, tuple[int, ...]]
    int_high: dict[str, int]


def _input_facts(build: Build, specs: list[TensorSpec], example: dict[str, np.ndarray] | None) -> _InputFacts:
    source = build.source
    real = [] if example else real_feeds([build.eval_source, build.calib_source], specs)
    meanings = {} if source.is_torch else integer_input_meanings(_graph_only(source.onnx_path))
    known = {a.name: a.shape for a in build.opts.inputs} | ({n: a.shape for n, a in real[0].items()} if real else {})
    shapes = {s.name: tuple(example[s.name].shape) for s in specs} if example else hinted_shapes(specs, known)
    int_high = {n: int(a.max()) + 1 for n, a in (example or (real[0] if real else {})).items()
                if np.issubdtype(a.dtype, np.integer) and a.size}
    int_high |= {m.name: m.high for m in meanings.values() if m.high is not None and m.name not in int_high}
    return _InputFacts(real, meanings, shapes, int_high)


@dataclass(frozen=True)
class _Reference:
    """The fp32 reference: torch eager, or onnxruntime on the ONNX source (``path``, dims named)."""

    reference: Any  # TorchReference, or OnnxRuntime.run
    run: Callable[[dict[str, np.ndarray]], Any]
    output_names: list[str]  # known up front for ONNX; a torch model's come from its first run
    path: Path | None = None
    module: Any = None  # the torch module as exported: pinned arguments applied (compiler/forward.py)


def _reference(build: Build, specs: list[TensorSpec]) -> _Reference:
    source = build.source
    if source.is_torch:
        module = torch_module(source, [s.name for s in specs], build.opts.pin)
        reference = TorchReference(module, [s.name for s in specs])
        return _Reference(reference, reference.raw, [], module=module)
    onnx_path = _named_dims_copy(source.onnx_path, build.scratch, build.say)
    # The named-dims copy differs from the file only in its declared dims, which onnxruntime
    # would otherwise enforce (a dim stored as 0 refuses every real batch).
    onnx_reference = OnnxRuntime(onnx_path, optimization="none")
    return _Reference(onnx_reference.run, onnx_reference.run, onnx_reference.output_names, onnx_path)


def _export_stage(build: Build, module: Any, specs: list[TensorSpec], feed: dict[str, np.ndarray],
                  varied: Any, stages: list[dict[str, Any]], stage_graphs: list[tuple[str, Path, str]]
                  ) -> tuple[TorchReference, Path, dict[str, Any]]:
    """torch → ONNX, checked against eager on the probe feeds; the named reference, graph and export record."""
    opts, source, say = build.opts, build.source, build.say
    names = [s.name for s in specs]
    module, output_names = named_outputs(source, module, names, opts, feed)
    reference = TorchReference(module, names, output_names)
    progress.stage(say, "export", f"exporting to ONNX ({opts.exporter})")
    result = export(module, source.kind, specs, feed, varied, output_names, build.scratch, opts.exporter,
                    opts.opset)
    say(f"exported with the {result.exporter} exporter")
    stages.append({"stage": "export", "against": "torch eager fp32", "passed": True,
                   "detail": f"{result.exporter} exporter; " + "; ".join(result.checks)})
    stage_graphs.append(("export", result.path, f"{result.exporter} exporter"))
    return reference, result.path, {"exporter": result.exporter, "attempts": result.attempts}


def _clean_graph(onnx_path: Path, simplify: bool, probes: list[dict[str, np.ndarray]], scratch: Path, say: Log,
                 stages: list[dict[str, Any]], stage_graphs: list[tuple[str, Path, str]]) -> Path:
    """onnxsim, then constant-condition If folding; each kept only when outputs are unchanged."""
    if simplify:
        progress.stage(say, "simplify", "simplifying the graph (onnxsim, checked on the probe inputs)")
        with stage_errors("onnxsim check", "portable and simplified"):
            result_s = run_onnxsim(onnx_path, scratch / "simplified.onnx", probes)
        say(f"onnxsim: {result_s.detail}")
        onnx_path = result_s.path
        stages.append({"stage": "simplify", "against": "exported graph", "passed": True,
                       "applied": result_s.applied, "detail": result_s.detail})
        stage_graphs.append(("simplify", onnx_path, result_s.detail))
    if _has_if(onnx_path):  # fold constant-condition Ifs (what onnxsim left) before precision and targets
        with stage_errors("control-flow folding", "portable and inlined"):
            folded = fold_control_flow(onnx_path, scratch / "inlined.onnx", probes)
        say(f"control flow: {folded.detail}")
        onnx_path = folded.path
        stages.append({"stage": "controlflow", "against": "previous graph", "passed": True,
                       "applied": bool(folded.folded), "detail": folded.detail})
        if folded.folded:
            stage_graphs.append(("controlflow", onnx_path, folded.detail))
    return onnx_path


def _probe_feeds(run: Callable[[dict[str, np.ndarray]], Any], specs: list[TensorSpec], facts: _InputFacts,
                 rng: np.random.Generator, example: dict[str, np.ndarray] | None,
                 say: Log) -> tuple[dict[str, np.ndarray], Any]:
    """The feed every check runs on, and one at a second size of the dynamic axes (or None):
    the example or real samples first; random inputs only when none exist, checked first."""
    real, meanings, shapes, int_high = facts.real, facts.meanings, facts.shapes, facts.int_high
    if example is not None or real:
        feed = example if example is not None else real[0]
    else:
        refuse_meaningful(meanings, "preparing check inputs")
        feed = checked_random(run, specs, shapes, rng, int_high, "preparing check inputs")
    if len(real) > 1:
        return feed, real[1]
    if any(m.shape_role for m in meanings.values()):
        return feed, None
    varied, refused = second_size(run, specs, shapes, rng, int_high)
    if varied is None and refused:
        say(f"note: the model does not run at a second size of its dynamic axes (tried {'; '.join(refused)}); "
            "dynamic behaviour is checked at the first size only")
    return feed, varied


def _graph_only(path: Path | None) -> Any:
    """The graph without its external weights (initializer dims are still there): cheap to read."""
    import onnx

    return onnx.load(str(path), load_external_data=False)


def _has_if(path: Path) -> bool:
    return any(n.op_type == "If" for n in _graph_only(path).graph.node)


def _named_dims_copy(path: Path | None, scratch: Path, say: Log) -> Path:
    """The ONNX source itself, or a copy whose dims stored as -1/0 are named (dynamic) dims."""
    assert path is not None
    if not onnxio.name_dynamic_dims(_graph_only(path)):
        return path
    model = onnxio.load_checked(path)
    changed = onnxio.name_dynamic_dims(model)
    say(f"note: {changed} input/output dim(s) stored as -1 or 0 are read as dynamic")
    copy = scratch / "named-dims.onnx"
    onnxio.save(model, copy)
    return copy


def _at_opset(onnx_path: Path, opset: int | None, scratch: Path, say: Log) -> Path:
    """The graph at the requested ``--opset``: converted when the export kept another one."""
    converted = ensure_opset(onnx_path, opset, scratch / "opset" / "model.onnx")
    if converted != onnx_path:
        say(f"converted the graph to opset {opset}")
    return converted


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

