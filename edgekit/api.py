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
    """
    rt = runtime if isinstance(runtime, Runtime) else load(runtime, target, accept_failed=accept_failed,
                                                           verify_key=verify_key)
    if reference is None:
        if data is not None:
            raise InputError("checking on new data needs a reference model", note="pass --against MODEL")
        return rt.selfcheck(raise_on_failure=False)
    from edgekit.parity.against import check_against

    return check_against(rt, reference, data, weights)
