"""Backends: one folder each, a build half (``target.py``) and a run half (``runtime.py``).

The naming scheme: a folder is named after its backend library (onnxruntime, openvino,
tensorrt); the target name users type says where it runs (cpu, intel-cpu, nvidia-gpu).
The registry that maps one to the other is ``edgekit/registry.py``.
"""
