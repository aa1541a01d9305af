"""Backends: one folder each, a build half (``target.py``) and a run half (``runtime.py``).

``BACKENDS`` is the one registry: bundle target name → its Target and Runtime classes as
``"module:Class"`` strings, so that listing targets imports no backend. Adding a target is
one folder here and one line below (docs/ARCHITECTURE.md has the recipe). The naming scheme:
a folder is named after its backend library (onnxruntime, openvino, tensorrt); the target
name users type says where it runs (cpu, intel-cpu, nvidia-gpu).
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
