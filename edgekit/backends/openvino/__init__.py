"""OpenVINO: the `intel-cpu` target (OpenVINO IR) and its runtime."""
