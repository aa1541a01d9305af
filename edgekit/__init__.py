"""edgekit: a trained model in, a verified edge artifact out, behind one runtime API.

``import edgekit`` and ``edgekit.load(...).run(...)`` need numpy and the bundle's
backend only: torch, onnx and onnxsim are imported by compilation alone.
"""

from __future__ import annotations

import logging

from edgekit.api import Artifact, check, check_layers, compile, load
from edgekit.errors import BundleError, EdgekitError, InputError, ParityError, TargetUnavailable
from edgekit.runtimes import Runtime
from edgekit.signature import TensorSpec

# A library installs no handler of its own: progress and notes go wherever the application's logging
# sends them (the `edgekit` command draws them on stderr), and nowhere by default.
logging.getLogger("edgekit").addHandler(logging.NullHandler())

try:
    from importlib.metadata import version as _version

    __version__ = _version("edgekit")
except Exception:  # running from a source tree that is not installed
    __version__ = "0.0.0"


__all__ = [
    "Artifact", "BundleError", "EdgekitError", "InputError", "ParityError", "Runtime", "TargetUnavailable",
    "TensorSpec", "check", "check_layers", "compile", "load", "__version__",
]
