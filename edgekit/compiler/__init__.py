"""The compiler: model → checked fp32 ONNX → lowered precision → per-target builds → parity → bundle.

``edgekit.compile`` (the public function, in ``edgekit/api.py``) parses options and calls
``compiler.pipeline.compile_model``. Nothing heavy is imported here.
"""
