"""The one registry of backends: bundle target name → its Target (build half) and Runtime (run
half) as ``"module:Class"`` strings, so that listing targets imports no backend.

It sits on the ground floor: ``targets`` and ``runtimes`` (the contracts) read it, and the
backends in ``edgekit/backends/`` are imported by name only when used. Adding a target is one
folder in ``edgekit/backends/`` and one line below (docs/ARCHITECTURE.md has the recipe).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    target: str  # the name users pass (--target) and bundles record
    builder: str  # "module:Class" of its Target: builds the bundle's files
    runtime: str  # "module:Class" of its Runtime: loads and runs them
    preference: int  # load() without a target takes the lowest this host can run


BACKENDS: tuple[Backend, ...] = (
    Backend("cpu", "edgekit.backends.onnxruntime.target:CpuTarget",
            "edgekit.backends.onnxruntime.runtime:OnnxRuntime", preference=2),
    Backend("intel-cpu", "edgekit.backends.openvino.target:IntelCpuTarget",
            "edgekit.backends.openvino.runtime:OpenVinoRuntime", preference=1),
    Backend("nvidia-gpu", "edgekit.backends.tensorrt.target:NvidiaGpuTarget",
            "edgekit.backends.tensorrt.runtime:TensorRtRuntime", preference=0),
)
