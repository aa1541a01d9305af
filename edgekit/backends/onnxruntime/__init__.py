"""onnxruntime: the `cpu` target (an optimised ONNX graph) and its runtime; also edgekit's reference runner."""
