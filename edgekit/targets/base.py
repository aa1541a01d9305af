"""The Target interface: build a bundle's portable ONNX into one backend's files.

A target is small: a name, an availability probe that says *why not*, and a
``_build`` hook. The base class owns timing, the files table and error context.
"""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, InputError, TargetBuildError, TargetUnavailable, one_line
from edgekit.precision import GRAPH_PRECISIONS


class Target:
    """Builds one backend's artifact from ONNX; subclasses implement ``_build``."""

    name: str = ""
    backend: str = ""
    packages: tuple[str, ...] = ()  # distributions the backend may come from; the first installed is recorded
    precisions: tuple[str, ...] = GRAPH_PRECISIONS  # what its backend can run
    refusals: dict[str, str] = {}  # precision -> why this backend does not run it (measured)

    def probe(self) -> str | None:
        """None when this target can build and run here, else the reason it cannot."""
        from edgekit.runtimes import runtime_class

        return runtime_class(self.name).probe()

    def version(self) -> str | None:
        for dist in self.packages:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    def require(self) -> None:
        reason = self.probe()
        if reason is not None:
            raise TargetUnavailable(f"target '{self.name}' is unavailable: {reason}")

    def check_precision(self, precision: str) -> None:
        if precision not in self.precisions:
            why = f": {self.refusals[precision]}" if precision in self.refusals else ""
            raise InputError(f"target '{self.name}' ({self.backend}) cannot run precision '{precision}'{why}",
                             note=f"it runs: {', '.join(self.precisions)}")

    def build(self, onnx_path: Path, precision: str, bundle_dir: Path, **options: Any) -> dict[str, Any]:
        """Builds into ``bundle_dir/<name>/``; returns the manifest entry of this target."""
        self.require()
        out_dir = bundle_dir / self.name
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            files, details = self._build(onnx_path, precision, out_dir, **options)
        except EdgekitError:
            raise
        except Exception as err:  # a backend refusing the graph is a per-target error, not a crash
            raise TargetBuildError(
                f"target '{self.name}' ({self.backend}) cannot compile this model: "
                f"{one_line(err, 500)}"
            ) from err
        return {
            "name": self.name,
            "backend": self.backend,
            "backend_version": self.version(),
            "precision": precision,
            "files": {role: path.relative_to(bundle_dir).as_posix() for role, path in files.items()},
            "build_seconds": round(time.perf_counter() - start, 3),
            **details,
        }

    def _build(self, onnx_path: Path, precision: str, out_dir: Path,
               **options: Any) -> tuple[dict[str, Path], dict[str, Any]]:
        raise NotImplementedError
