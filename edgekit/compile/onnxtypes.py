"""ONNX element types as numpy dtype names, or a refusal that names the type.

Every ONNX type is either mapped to the numpy dtype edgekit feeds and compares, or refused
by name with what to do: numpy has no native bfloat16, float8, float4/6, int2/int4, and
edgekit's runtimes feed plain numpy arrays; sequences, maps and optionals are not tensors.
"""

from __future__ import annotations

import onnx

from edgekit.errors import InputError

T = onnx.TensorProto
NUMPY: dict[int, str] = {
    T.FLOAT: "float32", T.DOUBLE: "float64", T.FLOAT16: "float16", T.UINT8: "uint8", T.INT8: "int8",
    T.UINT16: "uint16", T.INT16: "int16", T.UINT32: "uint32", T.INT32: "int32", T.UINT64: "uint64",
    T.INT64: "int64", T.BOOL: "bool", T.COMPLEX64: "complex64", T.COMPLEX128: "complex128",
}
# Types numpy holds only through extension packages (ml_dtypes) that edgekit's runtimes do not feed.
NO_NUMPY = "numpy has no native type for it, so edgekit cannot feed or compare it"
REFUSED: dict[int, str] = {
    T.UNDEFINED: "the file declares no element type",
    T.STRING: "edgekit's targets compile numeric tensors only",
}


def type_name(elem_type: int) -> str:
    try:
        return T.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


def numpy_dtype(elem_type: int, where: str) -> str:
    """The numpy dtype name of an ONNX tensor element type, or an InputError naming it.

    Raises:
        InputError: ``where`` (e.g. "input 'x'") has a type edgekit cannot feed or compare.
    """
    if elem_type in NUMPY:
        return NUMPY[elem_type]
    reason = REFUSED.get(elem_type, NO_NUMPY)
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
