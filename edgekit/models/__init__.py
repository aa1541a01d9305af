"""Model sources: what a MODEL argument names (a module, TorchScript, ``.pt2``, ONNX, a factory),
loaded safely, and the torch model run as the parity reference. Used by compile, bench and parity."""
