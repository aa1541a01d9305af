"""Runtimes: load a bundle and run it, with numpy and one backend — no torch.

The registry maps each target to its runtime class as a ``"module:Class"`` string,
so that listing or choosing targets never imports a backend.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from edgekit.bundle import Bundle, read_bundle
from edgekit.errors import BundleError, InputError, TargetUnavailable
from edgekit.registry import BACKENDS
from edgekit.runtimes.base import Runtime
from edgekit.runtimes.choice import PREFERENCE, order_targets  # noqa: F401 (PREFERENCE: public name)
from edgekit.signature import TensorSpec

RUNTIMES: dict[str, str] = {b.target: b.runtime for b in BACKENDS}  # a view of the one registry


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
    verify_key: str | os.PathLike[str] | bytes | None = None,
    **options: Any,
) -> Runtime:
    """Loads a bundle for one of its targets and returns its Runtime.

    Args:
        path: the ``NAME.edgekit`` directory, a ``NAME.edgekit.zip`` from ``edgekit pack``
            (unpacked safely into the user cache), or an already read Bundle.
        target: run on exactly this target. By default, the one the bundle measured fastest
            when built on a host of this class, else the most specialised of the bundle's
            targets that this host can run (nvidia-gpu, then intel-cpu, then cpu); the choice
            and its reason are ``rt.target`` and ``rt.target_reason``. With a target given,
            never falls back to another backend.
        accept_failed: load a bundle whose parity check failed (refused otherwise).
        threads: intra-op threads for the backend; default: the backend's choice.
        verify: check every file's sha256 against the manifest (default on).
        verify_key: an Ed25519 public key (PEM file or bytes): refuse any bundle it did not sign.
        **options: backend options, e.g. ``hint="THROUGHPUT"`` or ``cache_dir=`` for intel-cpu, and
            ``mode="throughput"`` on cpu and intel-cpu: all cores serve ``rt.run_many(feeds)``
            (OpenVINO's THROUGHPUT hint and several infer requests; onnxruntime single-threaded
            runs in parallel), at the cost of one call's latency.

    Raises:
        BundleError: missing, corrupt or tampered bundle; a failed bundle; unknown target.
        TargetUnavailable: the requested (or every) target cannot run on this host.
    """
    if isinstance(path, Bundle):
        bundle = path
    else:
        if str(path).endswith(".zip") and os.path.isfile(path):
            from edgekit.archive import unpack

            path = unpack(path)
        if verify or verify_key is not None:  # a signature covers hashes
            from edgekit.snapshot import verified_snapshot

            # Verify and run the same bytes: the backend opens a private verified copy.
            bundle = verified_snapshot(path, verify_key)
            verify_key = None
        else:
            bundle = read_bundle(path, verify=False)
    if verify_key is not None:
        from edgekit.signing import verify as verify_signature

        verify_signature(bundle, verify_key)
    if bundle.parity_passed is False and not accept_failed:
        raise BundleError(
            f"bundle {bundle.origin or bundle.path} failed its parity check when it was built",
            note="see its parity.md; pass accept_failed=True (CLI: --accept-failed) to load it anyway",
        )
    names, why = ([target], "asked for") if target else order_targets(bundle.manifest, list(bundle.target_names))
    if target:
        bundle.target(target)  # raises BundleError when the bundle lacks it
    reasons = []
    for name in names:
        cls = runtime_class(name)
        reason = cls.probe()
        if reason is None:
            unknown = sorted(set(options) - set(cls.options))
            if unknown:
                raise InputError(f"option(s) {', '.join(unknown)} do not apply to target '{name}'",
                                 note=f"it takes: {', '.join(cls.options) or 'none'}")
            rt = cls.from_bundle(bundle, name, threads=threads, **options)
            rt.target_reason = why if not reasons else f"{why}; skipped {'; '.join(reasons)}"
            return rt
        reasons.append(f"{name}: {reason}")
    raise TargetUnavailable(
        f"bundle {(bundle.origin or bundle.path).name} cannot run on this host: " + "; ".join(reasons)
    )
