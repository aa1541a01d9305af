"""The public Python API: ``compile``, ``load``, ``check`` and ``check_layers``.

The CLI calls only these. ``compile`` parses its keywords once into ``CompileOptions``
(see ``edgekit/compiler/options.py``, the one option table) and dispatches to auto mode.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.compiler.artifact import Artifact
from edgekit.compiler.options import CompileOptions
from edgekit.errors import InputError
from edgekit.layout import Layout
from edgekit.parity.report import ParityReport
from edgekit.progress import reporter
from edgekit.runtimes import Runtime, load

__all__ = ["Artifact", "check", "check_layers", "compile", "load"]


Log = Callable[[str], None]


def compile(  # noqa: A001  (the public name; shadows the builtin inside this module only)
    model: Any,
    example_inputs: tuple[Any, ...] | None = None,
    *,
    options: CompileOptions | None = None,
    log: Log | None = None,
    **keywords: Any,
) -> Artifact:
    """Compiles a model into a verified bundle.

    Args:
        model: an ``nn.Module`` / ``ExportedProgram``, or a MODEL string (``.onnx``,
            TorchScript, ``.pt2``, ``package.module:factory``).
        example_inputs: example tensors for an ``nn.Module`` (a tuple, forward order).
        options: typed options; else ``keywords`` are parsed into them.
        log: receives progress lines; silent when None.
        keywords: the ``CompileOptions`` fields (one per row of ``COMPILE_OPTIONS``):
            target: a target name, a comma-separated list, a list, or ``auto``.
            precision: ``fp32``, ``fp16``, ``int8`` (static, QDQ, calibrated), ``int8-dynamic`` or ``auto``.
            inputs: ``NAME:SHAPE[:DTYPE]`` strings (or InputArg) giving input shapes.
            dynamic: ``NAME:AXIS[:DIMNAME][:MIN:OPT:MAX]`` strings (or DynamicArg) marking dynamic axes.
            weights: a state dict (safetensors or ``torch.save``) for a factory or module.
            eval_data: DATA to check parity on; seeded random inputs when absent.
            out: the ``NAME.edgekit`` directory to write; default ``<model name>.edgekit``.
            force: replace an existing bundle at ``out`` (the old one stays until the new is complete).
            allow_pickle: allow a model file that runs code when loaded (TorchScript, .pt2, pickled model).
            exporter: ``auto`` (torch.export-based, then TorchScript-based), ``dynamo`` or ``torchscript``.
            simplify: run onnxsim (its result is kept only when numerically identical).
            opset: ONNX opset for the export; the exporter's default when None.
            seed: seed of the random parity inputs (and of random calibration).
            output_names: a torch model's output names, in order (``"a,b"`` or a list); by default
                dict keys, namedtuple/dataclass fields, else ``output_N``.
            pin: non-tensor forward keyword arguments fixed at export (``{"return_all": False}`` or
                ``["return_all=false"]``); tensor keyword arguments are inputs, given by name.
            calibration: DATA to calibrate int8 on (required for int8 unless random_calibration).
            calib_method: ``minmax``, ``entropy`` or ``percentile``.
            calib_samples: calibration samples to use at most.
            shuffle_calibration: shuffle calibration samples (seeded by ``seed``) before taking them.
            random_calibration: calibrate int8 on random inputs; the report says so first.
            preprocess: an ImagePreprocess (or its text) for image-folder calibration/eval data.
            max_accuracy_drop: accuracy points the artifact may lose (int8 default: 1).
            atol, rtol, min_cosine, min_top1: the user's parity criteria on top of the precision's
                default rule: ``["1e-3", "logits=1e-2"]`` (a number applies to every output,
                ``OUTPUT=NUMBER`` to one); ``tolerances={"atol": [...], ...}`` sets them at once.
            metric: ``package.module:function``, a task metric that must pass (parity/user_metric.py).
            settings_file: the settings file the CLI applied (recorded in the manifest).
            fallback: leave the most sensitive nodes in float when int8 misses parity.
            quant_config: full control of quantization (op types, per-channel, excluded nodes).
            static_shapes: targets that can specialise (intel-cpu) fix every input at its example
                shape; the portable ONNX keeps its dynamic axes.
            junit: also write the parity verdicts as JUnit XML to this file.
            keep_fp32: for fp16/int8, also keep the fp32 graph (``reference/model.onnx``), so that
                ``edgekit check --layers`` can localise errors on the device without the original.
            selection: how ``auto`` chose this target and precision (recorded in the manifest).

    Returns:
        The Artifact; ``artifact.parity.passed`` says whether it may ship.

    Raises:
        InputError, TargetUnavailable, TargetBuildError: before or while building.
    """
    from edgekit import bundle as bundle_io
    from edgekit.compiler.pipeline import compile_model, default_out

    if options is not None and keywords:
        raise TypeError("compile() takes options= or keywords, not both")
    opts = options or CompileOptions.from_keywords(**keywords)
    logging.getLogger("edgekit.api").debug("compile %s with %s", model, opts)
    if opts.is_auto:
        from edgekit.auto import compile_auto

        bundle_io.check_destination(opts.out if opts.out is not None else default_out(model), opts.force)
        return compile_auto(model, example_inputs, opts, reporter(log))
    return compile_model(model, example_inputs, opts, log)



def check(
    runtime: Runtime | str | os.PathLike[str],
    reference: Any = None,
    data: Any = None,
    *,
    target: str | None = None,
    weights: str | Path | None = None,
    accept_failed: bool = True,
    verify_key: str | os.PathLike[str] | bytes | None = None,
    allow_pickle: bool = False,
) -> ParityReport:
    """Re-runs parity on a built artifact.

    Without ``reference``, the bundle's golden samples are re-run on this host and
    compared with the outputs recorded at build time (no torch needed). With a
    ``reference`` (an ``nn.Module`` or MODEL string), the artifact is compared with
    it on ``data`` (or, without data, on the golden inputs).

    Args:
        runtime: a loaded Runtime or a bundle path.
        reference: the original model, to compare against.
        data: DATA to compare on (needs ``reference``).
        target: which of the bundle's targets to check, when given a path.
        weights: state dict for a factory ``reference``.
        accept_failed: check a bundle that failed parity at build time (default: yes).
        verify_key: refuse the bundle unless this Ed25519 public key signed it.
        allow_pickle: allow a ``reference`` file that runs code when loaded (TorchScript, .pt2, pickle).
    """
    rt = runtime if isinstance(runtime, Runtime) else load(runtime, target, accept_failed=accept_failed,
                                                           verify_key=verify_key)
    if reference is None:
        if data is not None:
            raise InputError("checking on new data needs a reference model", note="pass --against MODEL")
        return rt.selfcheck(raise_on_failure=False)
    from edgekit.parity.against import check_against

    return check_against(rt, reference, data, weights, allow_pickle)


REFERENCE_MODEL = Layout.REFERENCE_MODEL


def check_layers(
    bundle: str | os.PathLike[str],
    against: str | os.PathLike[str] | None = None,
    data: Any = None,
    *,
    target: str | None = None,
) -> dict[str, Any]:
    """Finds the layer where accuracy was lost: fp32 graph vs the artifact, tensor by tensor.

    The reference is ``against`` (an fp32 ``.onnx``), else the fp32 graph the bundle keeps
    (``compile --keep-fp32``), else, for an fp32 bundle, its portable graph (then the cpu
    target's optimised graph is the candidate). Inputs: ``data``, else the golden samples.
    """
    from edgekit.archive import bundle_folder
    from edgekit.bundle import read_bundle
    from edgekit.data.sources import batches, open_data
    from edgekit.parity.golden import GOLDEN_FILE, load_golden
    from edgekit.parity.layers import compare_layers
    from edgekit.parity.metrics import rule_for

    b = read_bundle(bundle_folder(bundle))
    if target is not None:
        b.target(target)
    notes = []
    if target not in (None, "cpu", "intel-cpu"):
        notes.append(f"target {target}: its compiled model does not expose intermediate tensors; "
                     "the portable graph it compiles from is compared")
    if b.precision == "fp32" and against is None:
        reference = b.file(Layout.PORTABLE_MODEL)
        candidate = b.target_file("cpu", "model") if "cpu" in b.target_names else reference
    else:
        if against is not None:
            reference = Path(against)
            if reference.suffix != ".onnx" or not reference.is_file():
                raise InputError(f"--layers --against needs an fp32 .onnx file; '{against}' is not one")
        elif REFERENCE_MODEL in b.manifest["files"]:
            reference = b.file(REFERENCE_MODEL)
        else:
            raise InputError(
                f"bundle {b.path.name} is {b.precision} and keeps no fp32 graph to compare its layers with",
                note="pass --against the fp32 .onnx, or compile with --keep-fp32",
            )
        candidate = b.file(Layout.PORTABLE_MODEL)
    if data is not None:
        feeds = [batch.feed for batch in batches(open_data(data), b.inputs)]
    else:
        feeds = [batch.feed for batch, _ in load_golden(b.file(GOLDEN_FILE), [s.name for s in b.inputs],
                                                          [s.name for s in b.outputs])]
    candidate_values = None
    if target == "intel-cpu":  # OpenVINO's own intermediates, read from its compiled IR
        from edgekit.backends.openvino.runtime import compile_config
        from edgekit.parity.ov_layers import openvino_intermediates

        candidate = b.target_file(target, "model")
        candidate_values = openvino_intermediates(candidate, feeds, compile_config(b.precision))
        notes.append("intel-cpu: OpenVINO's own intermediate tensors, each exposed as an output "
                     "(exposed tensors are not fused away)")
    result = compare_layers(reference, candidate, feeds, rule_for(b.precision), candidate_values)
    result["reference"], result["candidate"], result["notes"] = str(reference), str(candidate), notes
    return result
