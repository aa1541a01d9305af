"""Runtimes: load a bundle and run it, with numpy and one backend — no torch.

The registry maps each target to its runtime class as a ``"module:Class"`` string,
so that listing or choosing targets never imports a backend.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from edgekit.bundle import Bundle, read_bundle
from edgekit.errors import BundleError, TargetUnavailable
from edgekit.runtimes.base import Runtime
from edgekit.signature import TensorSpec

RUNTIMES: dict[str, str] = {
    "cpu": "edgekit.runtimes.onnxruntime:OnnxRuntime",
}

__all__ = ["RUNTIMES", "Runtime", "TensorSpec", "load", "runtime_class"]


def runtime_class(target: str) -> Any:
    """The Runtime subclass for a target name; imports only its (light) module."""
    try:
        module_name, _, cls_name = RUNTIMES[target].partition(":")
    except KeyError:
        raise BundleError(
            f"no runtime for target '{target}' in this edgekit",
            note=f"known targets: {', '.join(RUNTIMES)}",
        ) from None
    return getattr(importlib.import_module(module_name), cls_name)


def load(
    path: str | os.PathLike[str] | Bundle,
    target: str | None = None,
    *,
    accept_failed: bool = False,
    threads: int | None = None,
    verify: bool = True,
) -> Runtime:
    """Loads a bundle for one of its targets and returns its Runtime.

    Args:
        path: the ``NAME.edgekit`` directory (or an already read Bundle).
        target: run on exactly this target; by default the bundle's first target
            this host can run. Never falls back silently to another backend.
        accept_failed: load a bundle whose parity check failed (refused otherwise).
        threads: intra-op threads for the backend; default: the backend's choice.
        verify: check every file's sha256 against the manifest (default on).

    Raises:
        BundleError: missing, corrupt or tampered bundle; a failed bundle; unknown target.
        TargetUnavailable: the requested (or every) target cannot run on this host.
    """
    bundle = path if isinstance(path, Bundle) else read_bundle(path, verify=verify)
    if bundle.parity_passed is False and not accept_failed:
        raise BundleError(
            f"bundle {bundle.path} failed its parity check when it was built",
            note="see its parity.md; pass accept_failed=True (CLI: --accept-failed) to load it anyway",
        )
    names = [target] if target else bundle.target_names
    if target:
        bundle.target(target)  # raises BundleError when the bundle lacks it
    reasons = []
    for name in names:
        cls = runtime_class(name)
        reason = cls.probe()
        if reason is None:
            return cls.from_bundle(bundle, name, threads=threads)
        reasons.append(f"{name}: {reason}")
    raise TargetUnavailable(
        f"bundle {bundle.path.name} cannot run on this host: " + "; ".join(reasons)
    )
