"""Reading, checking and writing ONNX files, with external data for models over 2 GB."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.errors import InputError
from edgekit.signature import TensorSpec

if TYPE_CHECKING:
    import onnx

# Protobuf refuses messages over 2 GiB; stay clear of it with a margin.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Bytes held by initializers, counted without serialising (safe past 2 GB)."""
    total = 0
    for tensor in model.graph.initializer:
        if tensor.HasField("raw_data"):
            total += len(tensor.raw_data)
        else:
            total += max(1, int(np.prod(tensor.dims))) * 4
    return total


def load_checked(path: Path) -> onnx.ModelProto:
    """Loads an ONNX file (with its external data) after ``onnx.checker`` accepts it."""
    import onnx

    if not path.is_file():
        raise InputError(f"ONNX file '{path}' does not exist")
    try:
        onnx.checker.check_model(str(path))
        return onnx.load(str(path))
    except Exception as err:  # onnx raises ValidationError, DecodeError, OSError ...
        raise InputError(f"'{path}' is not a valid ONNX model: {str(err).strip().splitlines()[0]}") from err


def save(model: onnx.ModelProto, path: Path) -> list[Path]:
    """Saves ``model``; weights go to ``<name>.data`` beside it when they near 2 GB."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    if initializer_bytes(model) > EXTERNAL_DATA_THRESHOLD:
        data = path.with_name(path.name + ".data")
        onnx.save_model(
            model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
            location=data.name, size_threshold=1024,
        )
        return [path, data]
    onnx.save_model(model, str(path))
    return [path]


def uses_external_data(path: Path) -> bool:
    """True when any initializer of the file lives outside it (exporters name those files freely)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def value_spec(value: onnx.ValueInfoProto, role: str = "value") -> TensorSpec:
    """The spec of a graph input/output; types numpy cannot hold are refused by name."""
    from edgekit.onnxtypes import EXOTIC_DTYPES, check_tensor_value, numpy_dtype, type_name

    where = f"{role} '{value.name}'"
    check_tensor_value(value, where)
    ttype = value.type.tensor_type
    dims: list[int | str] = []
    for axis, dim in enumerate(ttype.shape.dim):
        # Some exporters (Paddle, old TF converters) store a dynamic dim as dim_value -1 or 0:
        # any dim without a positive size is dynamic, like a symbolic or unnamed one.
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or f"{value.name}_dim{axis}")
    dtype = numpy_dtype(ttype.elem_type, where)
    if role == "output" and dtype in EXOTIC_DTYPES:  # fed as typed OrtValues; never returned as numpy
        raise InputError(f"{where} has ONNX element type {type_name(ttype.elem_type)}: onnxruntime returns "
                         "no numpy array of it, so edgekit cannot compare it",
                         note="put a Cast to float32 at the model's output (bfloat16/float8 inputs are fine)")
    return TensorSpec(value.name, tuple(dims), dtype)


def name_dynamic_dims(model: onnx.ModelProto) -> int:
    """Rewrites graph input/output dims stored as ``dim_value`` <= 0 (or unset) to named dims.

    Backends read such a dim differently (a fixed -1, a fixed 0, or dynamic); a named dim is
    dynamic to all of them. Returns how many dims were rewritten.
    """
    changed = 0
    for value in [*model.graph.input, *model.graph.output]:
        if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if (dim.HasField("dim_value") and dim.dim_value > 0) or dim.dim_param:
                continue
            dim.dim_param = f"{value.name}_dim{axis}"
            changed += 1
    return changed


def graph_signature(model: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's real inputs (initializers excluded) and outputs."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [value_spec(v, "input") for v in model.graph.input if v.name not in inits]
    return inputs, [value_spec(v, "output") for v in model.graph.output]


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def set_metadata(model: onnx.ModelProto, values: dict[str, Any]) -> None:
    """Sets metadata_props, keeping every existing key not overwritten."""
    merged = metadata(model)
    merged.update({k: str(v) for k, v in values.items()})
    del model.metadata_props[:]
    for key, value in merged.items():
        model.metadata_props.add(key=key, value=value)


def set_dims(value: onnx.ValueInfoProto, dims: tuple[int | str, ...]) -> None:
    """Rewrites a graph input/output's declared shape."""
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d
