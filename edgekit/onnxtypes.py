"""ONNX element types as numpy dtype names, or a refusal that names the type.

Every ONNX type is either mapped to the numpy dtype edgekit feeds and compares, or refused
by name with what to do. numpy has no native bfloat16, float8 or int4: those map to the
``ml_dtypes`` types (installed with onnx, imported only when such a type is met, so the
embedded runtime imports without it); float4/6 and int2 are refused, and so are sequences,
maps and optionals, which are not tensors.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from edgekit.errors import InputError

if TYPE_CHECKING:
    import onnx

# Types numpy holds only through extension packages (ml_dtypes) that edgekit's runtimes do not feed.
NO_NUMPY = "numpy has no native type for it, so edgekit cannot feed or compare it"
NO_ML_DTYPES = "numpy holds it only through the ml_dtypes package, which is not installed (pip install ml_dtypes)"

# ONNX element type name -> ml_dtypes type name (one element per byte in numpy, as ml_dtypes stores them)
EXOTIC = {
    "BFLOAT16": "bfloat16", "FLOAT8E4M3FN": "float8_e4m3fn", "FLOAT8E4M3FNUZ": "float8_e4m3fnuz",
    "FLOAT8E5M2": "float8_e5m2", "FLOAT8E5M2FNUZ": "float8_e5m2fnuz",
}
# ml_dtypes has int4/uint4, one element per byte; ONNX packs them two per byte and neither
# onnxruntime nor OpenVINO takes such a numpy array as an input.
PACKED = "ONNX packs it two elements per byte, and neither onnxruntime nor OpenVINO takes it as a numpy input"
EXOTIC_DTYPES = frozenset(EXOTIC.values())


def np_dtype(name: str) -> np.dtype:
    """``np.dtype(name)``, importing ml_dtypes first for its types (which registers them with numpy).

    Raises:
        InputError: ``name`` is an ml_dtypes type and ml_dtypes is not installed.
    """
    if name in EXOTIC_DTYPES:
        try:
            import ml_dtypes
        except ImportError as err:
            raise InputError(f"dtype {name}: {NO_ML_DTYPES}") from err
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


@cache
def _tables() -> tuple[dict[int, str], dict[int, str]]:
    """(ONNX type -> numpy dtype name, refused ONNX type -> why); onnx is imported on first use only."""
    import onnx

    t = onnx.TensorProto
    numpy = {
        t.FLOAT: "float32", t.DOUBLE: "float64", t.FLOAT16: "float16", t.UINT8: "uint8", t.INT8: "int8",
        t.UINT16: "uint16", t.INT16: "int16", t.UINT32: "uint32", t.INT32: "int32", t.UINT64: "uint64",
        t.INT64: "int64", t.BOOL: "bool", t.COMPLEX64: "complex64", t.COMPLEX128: "complex128",
    }
    refused = {
        t.UNDEFINED: "the file declares no element type",
        t.STRING: "edgekit's targets compile numeric tensors only",
        t.INT4: PACKED, t.UINT4: PACKED,
    }
    return numpy, refused


def type_name(elem_type: int) -> str:
    import onnx

    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


def numpy_dtype(elem_type: int, where: str) -> str:
    """The numpy dtype name of an ONNX tensor element type, or an InputError naming it.

    Raises:
        InputError: ``where`` (e.g. "input 'x'") has a type edgekit cannot feed or compare.
    """
    numpy, refused = _tables()
    if elem_type in numpy:
        return numpy[elem_type]
    exotic = EXOTIC.get(type_name(elem_type))
    if exotic is not None:
        try:
            return np_dtype(exotic).name
        except InputError:
            refused = {elem_type: NO_ML_DTYPES}
    reason = refused.get(elem_type, NO_NUMPY)
    raise InputError(
        f"{where} has ONNX element type {type_name(elem_type)}: {reason}",
        note="put a Cast to float32 (or int64) at the model's boundary, or export it in float32",
    )


def value_kind(value: onnx.ValueInfoProto) -> str:
    """``tensor`` or the name of the non-tensor type (sequence, map, optional, sparse_tensor)."""
    kind = value.type.WhichOneof("value")
    return "tensor" if kind in ("tensor_type", None) else kind.removesuffix("_type")


def check_tensor_value(value: onnx.ValueInfoProto, where: str) -> None:
    """Refuses a graph input/output that is not a tensor, by the name of its type."""
    kind = value_kind(value)
    if kind != "tensor":
        raise InputError(f"{where} is a {kind}, not a tensor; edgekit compiles models with tensor "
                         "inputs and outputs", note="wrap the model so that it takes and returns tensors")
