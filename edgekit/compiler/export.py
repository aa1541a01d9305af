"""torch → ONNX export that is not trusted until checked.

An export has failed when the exporter raises, *or* ``onnx.checker`` or onnxruntime
refuses the file, *or* the graph misses fp32 parity with the torch model — at the
example shape and, for dynamic axes, at a second size. Then the other exporter
(``torch.export``-based ↔ TorchScript-based) is tried; each handles models the
other cannot.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgekit import onnxio
from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.errors import InputError
from edgekit.models.torchref import TorchReference
from edgekit.parity.metrics import OutputAccumulator, rule_for
from edgekit.signature import TensorSpec

EXPORTERS = ("dynamo", "torchscript")


class ExportError(InputError):
    """Every exporter failed; the message lists why each did."""


@dataclass
class ExportResult:
    path: Path
    exporter: str
    attempts: list[dict[str, str]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


def exporter_order(kind: str, requested: str) -> tuple[str, ...]:
    """Which exporters to try, in order, for this kind of source."""
    if requested != "auto":
        if requested not in EXPORTERS:
            raise InputError(f"unknown exporter '{requested}'", note=f"choose auto, {', '.join(EXPORTERS)}")
        if kind == "torch.export" and requested == "torchscript":
            raise InputError("a torch.export program can only be exported with the dynamo exporter")
        return (requested,)
    if kind == "torch.export":
        return ("dynamo",)
    if kind == "torchscript":
        return ("torchscript",)  # ScriptModules cannot be traced by torch.export
    return EXPORTERS


def export(
    module: Any,
    kind: str,
    specs: list[TensorSpec],
    example: dict[str, np.ndarray],
    varied: dict[str, np.ndarray] | None,
    output_names: list[str],
    scratch: Path,
    exporter: str = "auto",
    opset: int | None = None,
) -> ExportResult:
    """Exports, validates, and returns the first graph that passes every check.

    Raises:
        ExportError: every exporter failed; each one's reason is listed.
    """
    reference = TorchReference(module, [s.name for s in specs], output_names)
    probes = [example] + ([varied] if varied is not None else [])
    expected = [reference(feed) for feed in probes]
    attempts: list[dict[str, str]] = []
    for name, feed in _plan(exporter_order(kind, exporter), example, varied):
        resized = feed is not example
        path = scratch / f"export-{name}{'-resized' if resized else ''}" / "model.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        attempt = {"exporter": name} | ({"example": _shape_text(feed)} if resized else {})
        try:
            _fresh_trace_state()
            _quietly(_EXPORT[name], module, specs, feed, output_names, path, opset)
            onnxio.load_checked(path)
            checks = _validate(path, specs, output_names, probes, expected)
        except Exception as err:  # any exporter or validation failure means: try the next one
            attempts.append(attempt | {"error": _summary(err)})
            continue
        attempts.append(attempt | {"error": ""})
        resize_note = [f"exported at input shape {attempt['example']} (the example's size was specialised)"
                       ] if resized else []
        return ExportResult(path, name, attempts, resize_note + checks)
    raise ExportError(
        "could not export the model to ONNX: "
        + "; ".join(f"{a['exporter']} exporter{' at ' + a['example'] if 'example' in a else ''}: {a['error']}"
                    for a in attempts),
        note=_options_note(kind, {a["exporter"] for a in attempts}, _dynamic_dims(specs)),
    )


def _plan(order: tuple[str, ...], example: dict[str, np.ndarray],
          varied: dict[str, np.ndarray] | None) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Each exporter at the example, then dynamo once more at the second size: an example at a
    degenerate size (a sequence of length 1 after pooling) is specialised, and baked, by
    torch.export, where a representative size exports dynamically (both sizes are checked)."""
    plan = [(name, example) for name in order]
    if varied is not None and "dynamo" in order:
        plan.append(("dynamo", varied))
    return plan


def _shape_text(feed: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{n}:{'x'.join(map(str, a.shape))}" for n, a in feed.items())


def _options_note(kind: str, tried: set[str], dims: dict[str, dict[int, str]]) -> str:
    """What a user can still try, most specific first."""
    options = []
    untried = [e for e in exporter_order(kind, "auto") if e not in tried]
    if untried:
        options.append(f"--exporter {untried[0]}")
    if any(dims.values()):
        options.append("fewer --dynamic axes (a fixed size exports where a dynamic one does not), or an example "
                       "at a typical size rather than a degenerate one (0, 1, or equal to another dim)")
    options.append("another --opset")
    options.append("export it to .onnx yourself and compile that")
    return "try " + "; ".join(options)


# aten ops whose export decomposition torch.onnx swaps in by writing ``py_kernels`` directly
# (torch.export._patches), which does not clear the op's dispatch cache.
_RNN_OPS = ("lstm", "gru", "rnn_tanh", "rnn_relu")


def _fresh_trace_state() -> None:
    """Clears the process state that made an export's outcome depend on earlier exports.

    After one trace, ``aten.lstm``'s dispatch cache holds the default decomposition, which
    unrolls the recurrence over the example's sequence length; the while_loop decomposition
    that torch.onnx patches in for dynamic shapes is then bypassed in every later export of
    the process, baking that length into a Reshape (a CRNN with a dynamic width exported
    dynamically once per process). Dynamo's own caches are reset too.
    """
    import torch

    torch._dynamo.reset()
    for op_name in _RNN_OPS:
        packet = getattr(torch.ops.aten, op_name, None)
        for overload in packet.overloads() if packet is not None else ():
            cache = getattr(getattr(packet, overload), "_dispatch_cache", None)
            if cache is not None:
                cache.clear()


def _dynamic_dims(specs: list[TensorSpec]) -> dict[str, dict[int, str]]:
    return {s.name: {i: d for i, d in enumerate(s.shape) if isinstance(d, str)} for s in specs}


def _export_dynamo(module: Any, specs: list[TensorSpec], example: dict[str, np.ndarray],
                   output_names: list[str], path: Path, opset: int | None) -> None:
    import torch

    args = tuple(torch.from_numpy(example[s.name]) for s in specs)
    if isinstance(module, torch.export.ExportedProgram):
        program = torch.onnx.export(module, (), dynamo=True, input_names=[s.name for s in specs],
                                    output_names=output_names, opset_version=opset, verbose=False)
    else:
        dims = _dynamic_dims(specs)
        dynamic_shapes = tuple(
            {axis: torch.export.Dim.DYNAMIC for axis in dims[s.name]} or None for s in specs
        )
        program = torch.onnx.export(
            module, args, dynamo=True, input_names=[s.name for s in specs], output_names=output_names,
            dynamic_shapes=dynamic_shapes if any(dynamic_shapes) else None,
            opset_version=opset, verbose=False,
        )
    program.save(str(path), external_data=_is_large(module))


def _export_torchscript(module: Any, specs: list[TensorSpec], example: dict[str, np.ndarray],
                        output_names: list[str], path: Path, opset: int | None) -> None:
    import torch

    args = tuple(torch.from_numpy(example[s.name]) for s in specs)
    dynamic_axes = {name: axes for name, axes in _dynamic_dims(specs).items() if axes}
    kwargs = {"opset_version": opset} if opset else {}
    torch.onnx.export(
        module, args, str(path), dynamo=False, input_names=[s.name for s in specs],
        output_names=output_names, dynamic_axes=dynamic_axes or None, **kwargs,
    )


_EXPORT: dict[str, Callable[..., None]] = {"dynamo": _export_dynamo, "torchscript": _export_torchscript}


def _is_large(module: Any) -> bool:
    state = module.state_dict
    state = state() if callable(state) else state  # an ExportedProgram's is a dict
    return sum(t.numel() * t.element_size() for t in state.values() if hasattr(t, "numel")) > (
        onnxio.EXTERNAL_DATA_THRESHOLD
    )


def _validate(path: Path, specs: list[TensorSpec], output_names: list[str],
              probes: list[dict[str, np.ndarray]], expected: list[dict[str, np.ndarray]]) -> list[str]:
    """Renames the graph's dims to the signature's, checks fp32 parity at every probe shape."""
    model = onnx.load(str(path), load_external_data=False)
    graph_names = [v.name for v in model.graph.output]
    if graph_names != output_names:
        raise ValueError(f"graph outputs {graph_names} differ from the model's {output_names}")
    session = OnnxRuntime(path, optimization="basic")
    actual = [session._run(feed) for feed in probes]
    _fix_signature(model, specs, probes, actual)
    onnx.save_model(model, str(path))  # external data stays where it is
    rule = rule_for("fp32")
    checks = []
    for feed, want, got in zip(probes, expected, actual):
        shape = {k: list(v.shape) for k, v in feed.items()}
        for name in output_names:
            acc = OutputAccumulator(name, rule)
            acc.add(want[name], got[name], None)
            metrics = acc.result()
            if not metrics.passed:
                raise ValueError(f"output '{name}' at input shape {shape} misses fp32 parity: "
                                 + "; ".join(metrics.failures))
        checks.append(f"fp32 parity with torch at input shape {shape}")
    return checks


def _fix_signature(model: onnx.ModelProto, specs: list[TensorSpec],
                   probes: list[dict[str, np.ndarray]], actual: list[dict[str, np.ndarray]]) -> None:
    """Gives inputs the signature's dim names, and outputs dims measured at two sizes.

    An output dim that changed between probe sizes is dynamic; it takes the name of
    the input dim it tracked, if any. Exporters otherwise leave names like ``s77``.
    """
    by_name = {s.name: s for s in specs}
    for value in model.graph.input:
        if value.name in by_name:
            onnxio.set_dims(value, by_name[value.name].shape)
    for value in model.graph.output:
        shapes = [run[value.name].shape for run in actual]
        dims: list[int | str] = []
        for axis, size in enumerate(shapes[0]):
            sizes = [s[axis] for s in shapes]
            if len(set(sizes)) == 1 and len(shapes) > 1:
                dims.append(int(size))
                continue
            dims.append(_matching_input_dim(specs, probes, sizes) or
                        (f"{value.name}_dim{axis}" if len(shapes) > 1 else _declared(value, axis, size)))
        onnxio.set_dims(value, tuple(dims))


def _declared(value: onnx.ValueInfoProto, axis: int, size: int) -> int | str:
    dims = value.type.tensor_type.shape.dim
    if axis < len(dims) and not (dims[axis].HasField("dim_value") and dims[axis].dim_value > 0):
        return f"{value.name}_dim{axis}"
    return int(size)


def _matching_input_dim(specs: list[TensorSpec], probes: list[dict[str, np.ndarray]],
                        sizes: list[int]) -> str | None:
    for spec in specs:
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, str) and [p[spec.name].shape[axis] for p in probes] == sizes:
                return dim
    return None


def _quietly(fn: Callable[..., None], *args: Any) -> None:
    """Runs an exporter with its progress prints and deprecation chatter captured."""
    sink = io.StringIO()
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                _native_output_captured():
            warnings.simplefilter("ignore")
            fn(*args)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        said = logging.getLogger("edgekit.export.output")  # debug detail: `-v` and --log-file show it
        for line in sink.getvalue().splitlines():
            if line.strip():
                said.debug(line.rstrip())


@contextlib.contextmanager
def _native_output_captured() -> Any:
    """Points file descriptors 1 and 2 at a scratch file while an exporter runs.

    torch's C++ side writes to them directly: the TorchScript exporter prints the whole IR
    graph ("Torch IR graph at exception") when it fails, because ``setup_onnx_logging`` tests
    the function ``_jit_is_onnx_log_enabled`` instead of calling it (always on, torch 2.13).
    That text would land in ``edgekit compile --json`` output.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no such descriptors (a daemon): nothing to protect
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def _summary(err: BaseException) -> str:
    """The exporter's real reason: torch wraps it in generic "step 3/3 … next steps" text, so the
    innermost cause comes first, then the wrapper's name."""
    chain = [err]
    while (chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    root = chain[-1]
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(root)).split())
    text = text if len(text) < 400 else text[:400] + "…"
    found = f"{type(root).__name__}: {text}" if text else type(root).__name__
    return found if root is err else f"{found} (raised as {type(err).__name__})"
