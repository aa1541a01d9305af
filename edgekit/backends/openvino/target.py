"""Target ``intel-cpu``: the bundle's ONNX converted to OpenVINO IR (.xml + .bin).

Weights are saved as they are (no fp16 compression of an fp32 graph); dynamic axes
stay dynamic, unless static shapes are asked for: then the IR is reshaped to the
example shapes, and the runtime refuses other sizes with an InputError. The manifest
records the precision the CPU plugin really executes the compute-heavy layers in, read
from the compiled model's runtime information.

bf16: the IR stays fp32 and the CPU plugin is asked for bf16 execution; layers the
accuracy-aware fallback found sensitive (``keep_f32``: ONNX output tensor names) are marked
in the IR to stay f32 (``mark_f32``; the search is edgekit/compiler/bf16.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekit.errors import InputError
from edgekit.precision import GRAPH_PRECISIONS, Precision
from edgekit.targets.base import Target

COMPUTE_LAYERS = ("Convolution", "FullyConnected", "MatMul", "GroupConvolution", "Deconvolution")
# The rt_info key of OpenVINO's DisableFP16Compression attribute (what ov::disable_fp16_compression
# sets): the CPU plugin keeps such a node in f32 under a bf16 hint once the IR is saved and read back.
PRECISE_KEY = "precise_0"


def mark_f32(model: Any, tensors: Sequence[str]) -> list[str]:
    """Marks the ops producing these ONNX tensors to stay f32; returns the tensors found."""
    wanted, found = set(tensors), set()
    for op in model.get_ordered_ops():
        names = set(op.output(0).get_names()) if op.get_output_size() else set()
        if wanted & names:
            op.get_rt_info()[PRECISE_KEY] = ""
            found |= wanted & names
    return sorted(found)


class IntelCpuTarget(Target):
    name = "intel-cpu"
    backend = "openvino"
    packages = ("openvino",)
    precisions = (*GRAPH_PRECISIONS, Precision.BF16.value)

    def check_precision(self, precision: str) -> None:
        super().check_precision(precision)
        from edgekit.native import unsupported_reason

        reason = unsupported_reason(precision)
        if reason is not None:
            raise InputError(f"target '{self.name}' cannot run {precision} on this host: {reason}",
                             note="use fp32 or int8 here, or build on a CPU with AVX512_BF16 or AMX "
                                  "(Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later)")

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
        if precision == Precision.BF16:
            details.update(self._bf16_details(model, options.get("keep_f32") or ()))
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
    def _bf16_details(model: Any, keep_f32: Any) -> dict[str, Any]:
        """Refuses a plugin that cannot run bf16; marks the fallback's layers to stay f32."""
        import openvino as ov

        from edgekit.native import unsupported_reason

        reason = unsupported_reason("bf16", capabilities=ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        if reason is not None:
            raise InputError(f"target 'intel-cpu' cannot run bf16 on this host: {reason}",
                             note="use fp32 or int8 here")
        return {"execution_precision": "bf16", "kept_f32": mark_f32(model, keep_f32)}

    @staticmethod
    def _execution(xml: Path, precision: str) -> dict[str, Any]:
        """Compiles once (no cache) to read which precision the compute layers run in."""
        import openvino as ov

        from edgekit.backends.openvino.runtime import compile_config, layer_precisions

        compiled = ov.Core().compile_model(str(xml), "CPU", compile_config(precision))
        return layer_precisions(compiled, COMPUTE_LAYERS)
