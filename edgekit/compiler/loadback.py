"""The verify hook of a compile's commit: the staged bundle must load back before it replaces anything.

Lives in the compiler (it runs runtimes); ``bundle.commit_bundle`` only calls the hook it is given.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import BundleError, EdgekitError
from edgekit.runtimes import load


def check_loads_back(staging: Path, targets: list[str]) -> None:
    """Loads the staged bundle through ``edgekit.load`` for every target and re-runs its golden
    samples (which must pass where the build's parity passed): a bundle that would not load
    never replaces one that does.

    Raises:
        BundleError: a target does not load, or fails its own golden check.
    """
    for name in targets:
        try:
            with load(staging, name, accept_failed=True) as runtime:
                report = runtime.selfcheck(raise_on_failure=False)
                verdicts = (runtime.bundle.manifest.get("parity") or {}).get("targets") or {}
        except EdgekitError as err:
            raise BundleError(f"the bundle just built does not load back for target '{name}': {err}; "
                              "nothing was written or replaced") from err
        # A target that failed parity at build time is written anyway (exit 3): it must run its
        # golden samples, but only a passing one must pass them again.
        if not report.passed and (verdicts.get(name) or {}).get("passed") is not False:
            raise BundleError(f"the bundle just built fails its own golden check on target '{name}' "
                              f"({report.summary()}); nothing was written or replaced")
