"""The public Python API beyond compile and load: re-checking a built artifact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgekit.errors import InputError
from edgekit.parity.report import ParityReport
from edgekit.runtimes import Runtime, load


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


REFERENCE_MODEL = "reference/model.onnx"


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
    from edgekit.calibration.sources import batches, open_data
    from edgekit.parity.golden import GOLDEN_FILE, load_golden
    from edgekit.parity.layers import compare_layers
    from edgekit.parity.metrics import rule_for

    b = read_bundle(bundle_folder(bundle))
    if target is not None:
        b.target(target)
    notes = []
    if target not in (None, "cpu"):
        notes.append(f"target {target}: its compiled model does not expose intermediate tensors; "
                     "the portable graph it compiles from is compared")
    if b.precision == "fp32" and against is None:
        reference = b.file("model.onnx")
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
        candidate = b.file("model.onnx")
    if data is not None:
        feeds = [batch.feed for batch in batches(open_data(data), b.inputs)]
    else:
        feeds = [batch.feed for batch, _ in load_golden(b.file(GOLDEN_FILE), [s.name for s in b.inputs],
                                                          [s.name for s in b.outputs])]
    result = compare_layers(reference, candidate, feeds, rule_for(b.precision))
    result["reference"], result["candidate"], result["notes"] = str(reference), str(candidate), notes
    return result
