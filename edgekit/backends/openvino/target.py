"""Target ``intel-cpu``: the bundle's ONNX converted to OpenVINO IR (.xml + .bin).

Weights are saved as they are (no fp16 compression of an fp32 graph); dynamic axes
stay dynamic, unless static shapes are asked for: then the IR is reshaped to the
example shapes, and the runtime refuses other sizes with an InputError. The manifest
records the precision the CPU plugin really executes the compute-heavy layers in, read
from the compiled model's runtime information.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.targets.base import Target

COMPUTE_LAYERS = ("Convolution", "FullyConnected", "MatMul", "GroupConvolution", "Deconvolution")


class IntelCpuTarget(Target):
    name = "intel-cpu"
    backend = "openvino"
    packages = ("openvino",)

    def _build(self, onnx_path: Path, precision: str, out_dir: Path,
               **options: Any) -> tuple[dict[str, Path], dict[str, Any]]:
        import openvino as ov

        model = ov.convert_model(str(onnx_path))
        details: dict[str, Any] = {}
        static = options.get("static_shapes")
        if static:
            # Fixed shapes let OpenVINO plan memory and pick kernels once; other sizes are refused.
            model.reshape({name: ov.PartialShape(list(shape)) for name, shape in static.items()})
            details["inputs"] = [{"name": n, "shape": list(s), "dtype": options["dtypes"][n]}
                                 for n, s in static.items()]
        xml = out_dir / "model.xml"
        ov.save_model(model, str(xml), compress_to_fp16=False)
        execution = self._execution(xml, precision)
        details["execution"] = execution
        if precision == "int8" and execution and not any(
            p in ("i8", "u8") for precisions in execution.values() for p in precisions
        ):
            details["warnings"] = [f"WARNING: OpenVINO runs no compute layer in int8 ({execution}); "
                                   "the QDQ graph executes in float on this CPU"]
        return {"model": xml, "weights": out_dir / "model.bin"}, details

    @staticmethod
    def _execution(xml: Path, precision: str) -> dict[str, Any]:
        """Compiles once (no cache) to read which precision the compute layers run in."""
        import openvino as ov

        from edgekit.backends.openvino.runtime import compile_config, layer_precisions

        compiled = ov.Core().compile_model(str(xml), "CPU", compile_config(precision))
        return layer_precisions(compiled, COMPUTE_LAYERS)
