"""The first stage of a compile: the model's signature, a checked fp32 ONNX graph, and the
reference that every later stage is compared with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import onnxio
from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.compiler.build import Build
from edgekit.compiler.export import export
from edgekit.compiler.inputs import (
    DynamicArg,
    InputArg,
    concrete_shape,
    random_feed,
    torch_signature,
    varied_shapes,
)
from edgekit.compiler.opset import ensure_opset
from edgekit.compiler.simplify import simplify as run_onnxsim
from edgekit.data.sources import DataSource, batches
from edgekit.errors import InputError, one_line
from edgekit.hostinfo import library_versions
from edgekit.models.loader import ModelSource
from edgekit.models.torchref import TorchReference, flatten_outputs
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


def prepare(build: Build, example_inputs: tuple[Any, ...] | None) -> Prepared:
    """Gets a checked fp32 ONNX graph and the reference that the artifact must match."""
    opts, source, scratch, say = build.opts, build.source, build.scratch, build.say
    input_args, dynamic_args = list(opts.inputs), list(opts.dynamic)
    eval_source, calib_source, exporter, opset = build.eval_source, build.calib_source, opts.exporter, opts.opset
    rng = np.random.default_rng(opts.seed)
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
    stage_graphs: list[tuple[str, Path, str]] = []
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
        stage_graphs.append(("export", onnx_path, f"{result.exporter} exporter"))
        ref_desc = f"torch {library_versions().get('torch', '?')} eager fp32 ({source.description})"
    else:
        onnx_path = source.onnx_path
        onnx_reference = OnnxRuntime(onnx_path, optimization="none")
        reference, output_names = onnx_reference.run, onnx_reference.output_names
        export_info = {"exporter": None, "attempts": []}
        ref_desc = f"onnxruntime fp32, no graph optimisation ({source.description})"
    onnx_path = _at_opset(onnx_path, opset, scratch, say)
    if opts.simplify:
        probes = [feed] + ([varied] if varied is not None else [])
        result_s = run_onnxsim(onnx_path, scratch / "simplified.onnx", probes)
        say(f"onnxsim: {result_s.detail}")
        onnx_path = result_s.path
        stages.append({"stage": "simplify", "against": "exported graph", "passed": True,
                       "applied": result_s.applied, "detail": result_s.detail})
        stage_graphs.append(("simplify", onnx_path, result_s.detail))
    return Prepared(source, specs, output_names, onnx_path, reference, ref_desc, export_info,
                    stages, shapes, int_high, stage_graphs)


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


def _output_names(reference: TorchReference, feed: dict[str, np.ndarray]) -> list[str]:
    try:
        names, _ = flatten_outputs(reference.raw(feed))
    except InputError:
        raise
    except Exception as err:  # the user's model failed on its own example: their error, with cause
        raise InputError(f"the torch model fails on the example input: {type(err).__name__}: "
                         f"{one_line(err, 300)}") from err
    if len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(names))]
    return names


def _runs(reference: TorchReference, feed: dict[str, np.ndarray]) -> bool:
    try:
        reference.raw(feed)
    except Exception:  # the model itself rejects this size: not a dynamic axis in practice
        return False
    return True
