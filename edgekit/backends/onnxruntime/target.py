"""Target ``cpu``: onnxruntime's CPU provider, with the graph optimised offline.

Offline optimisation stops at the *extended* level: those fusions are portable
across CPUs, while the *all* level adds layout transforms (NCHWc) tied to the
build host's ISA. The runtime applies that last level on the host that runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.backends.onnxruntime.runtime import create_session, session_options
from edgekit.targets.base import Target

OFFLINE_LEVEL = "extended"


class CpuTarget(Target):
    name = "cpu"
    backend = "onnxruntime"
    packages = ("onnxruntime",)
    refusals = {"bf16": "onnxruntime's CPU provider has no bf16 MatMul/Conv kernels (benchmarks/bf16_probe.py); "
                        "bf16 runs on --target intel-cpu"}

    def _build(self, onnx_path: Path, precision: str, out_dir: Path,
               **options: Any) -> tuple[dict[str, Path], dict[str, Any]]:
        from edgekit import onnxio

        out = out_dir / "model.onnx"
        opts = session_options(level=OFFLINE_LEVEL)
        opts.optimized_model_filepath = str(out)
        if onnxio.uses_external_data(onnx_path):
            opts.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", out.name + ".data"
            )
            opts.add_session_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
            )
        create_session(onnx_path, opts)  # writes the optimised graph as a side effect
        files = {"model": out}
        if (out_dir / (out.name + ".data")).exists():
            files["weights"] = out_dir / (out.name + ".data")
        return files, {"graph_optimization": OFFLINE_LEVEL}
