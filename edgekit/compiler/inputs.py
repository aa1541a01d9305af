"""The model's input signature and example feeds, from whatever the user gave.

Sources, in order: example tensors passed in Python, ``--input NAME:SHAPE:DTYPE``,
the first record of the evaluation data, a ``.pt2`` program's placeholders, or
an ONNX graph's declared inputs. ``--dynamic NAME:AXIS[:DIMNAME][:MIN:OPT:MAX]`` marks
axes, optionally with the size range that range-planning backends (TensorRT) build for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.errors import InputError
from edgekit.safeio import check_allocation
from edgekit.signature import TensorSpec

INPUT_SYNTAX = "NAME:SHAPE[:DTYPE], e.g. x:1x3x224x224:float32"
DYNAMIC_SYNTAX = "NAME:AXIS[:DIMNAME][:MIN:OPT:MAX], e.g. x:0, tokens:1:seq or x:0:1:8:32"
DTYPES = ("float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool")


@dataclass(frozen=True)
class InputArg:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class DynamicArg:
    name: str
    axis: int
    dim: str | None = None
    range: tuple[int, int, int] | None = None  # (min, opt, max) sizes, when given


def parse_input(text: str) -> InputArg:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not re.fullmatch(r"\d+([x,]\d+)*", parts[1]):
        raise InputError(f"--input '{text}' is not of the form {INPUT_SYNTAX}")
    dtype = parts[2] if len(parts) == 3 else "float32"
    if dtype not in DTYPES:
        raise InputError(f"--input '{text}' has unknown dtype '{dtype}'", note=f"choose from {', '.join(DTYPES)}")
    shape = tuple(int(d) for d in re.split(r"[x,]", parts[1]))
    if any(d <= 0 for d in shape):
        raise InputError(f"--input '{text}' has a zero-sized dimension")
    check_allocation(int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize, f"--input '{text}'")
    return InputArg(parts[0], shape, dtype)


def parse_dynamic(text: str) -> DynamicArg:
    parts = text.split(":")
    if len(parts) not in (2, 3, 5, 6) or not parts[0] or not parts[1].isdigit():
        raise InputError(f"--dynamic '{text}' is not of the form {DYNAMIC_SYNTAX}")
    dim = parts[2] if len(parts) in (3, 6) else None
    if dim is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dim):
        raise InputError(f"--dynamic '{text}': dim name '{dim}' must be an identifier")
    size_range = None
    if len(parts) >= 5:
        sizes = parts[-3:]
        if not all(p.isdigit() for p in sizes):
            raise InputError(f"--dynamic '{text}': MIN:OPT:MAX must be three whole numbers",
                             note=f"the form is {DYNAMIC_SYNTAX}")
        lo, opt, hi = (int(p) for p in sizes)
        if not 1 <= lo <= opt <= hi:
            raise InputError(f"--dynamic '{text}': sizes must satisfy 1 <= MIN <= OPT <= MAX, got {lo}:{opt}:{hi}")
        size_range = (lo, opt, hi)
    return DynamicArg(parts[0], int(parts[1]), dim, size_range)


def dim_name(arg: DynamicArg) -> str:
    return arg.dim or ("batch" if arg.axis == 0 else f"{arg.name}_dim{arg.axis}")


def torch_signature(
    names: list[str] | None,
    example_inputs: tuple[Any, ...] | None,
    input_args: list[InputArg],
    first_record: dict[str, np.ndarray] | None,
    dynamic: list[DynamicArg],
) -> tuple[list[TensorSpec], dict[str, np.ndarray] | None]:
    """Specs of a torch model's inputs, and the example feed when one was given."""
    example = None
    if example_inputs is not None:
        arrays = [_to_numpy(t) for t in example_inputs]
        names = _names_for(len(arrays), names, input_args)
        example = dict(zip(names, arrays))
        concrete = {n: (a.shape, str(a.dtype)) for n, a in example.items()}
    elif input_args:
        concrete = {a.name: (a.shape, a.dtype) for a in input_args}
    elif first_record is not None:
        concrete = {n: ((1, *a.shape), str(a.dtype)) for n, a in first_record.items()}
    else:
        raise InputError(
            "the model's input shapes are unknown",
            note=f"give --input {INPUT_SYNTAX} (once per input), or --eval data",
        )
    specs = [TensorSpec(n, tuple(shape), dtype) for n, (shape, dtype) in concrete.items()]
    return apply_dynamic(specs, dynamic), example


def apply_dynamic(specs: list[TensorSpec], dynamic: list[DynamicArg]) -> list[TensorSpec]:
    """Marks the requested axes dynamic; unknown names or axes are errors."""
    by_name = {s.name: s for s in specs}
    shapes = {s.name: list(s.shape) for s in specs}
    for arg in dynamic:
        if arg.name not in by_name:
            raise InputError(f"--dynamic names input '{arg.name}', which the model does not have",
                             note=f"inputs: {', '.join(by_name)}")
        if not 0 <= arg.axis < len(shapes[arg.name]):
            raise InputError(f"--dynamic {arg.name}:{arg.axis}: input '{arg.name}' has rank "
                             f"{len(shapes[arg.name])}")
        shapes[arg.name][arg.axis] = dim_name(arg)
    return [TensorSpec(s.name, tuple(shapes[s.name]), s.dtype) for s in specs]


def random_feed(specs: list[TensorSpec], shapes: dict[str, tuple[int, ...]], rng: np.random.Generator,
                int_high: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Seeded random inputs: normal floats; integers in [0, high) (2 unless an example says more)."""
    feed = {}
    for spec in specs:
        shape = shapes[spec.name]
        dtype = np.dtype(spec.dtype)
        # Random values are drawn as 8-byte numbers: refuse a shape this host cannot hold.
        check_allocation(int(np.prod(shape, dtype=object)) * 8,
                         f"an example input '{spec.name}' of shape {list(shape)}")
        if dtype == np.bool_:
            feed[spec.name] = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.integer):
            high = (int_high or {}).get(spec.name, 2)
            feed[spec.name] = rng.integers(0, max(high, 1), size=shape).astype(dtype)
        else:
            feed[spec.name] = rng.standard_normal(shape).astype(dtype)
    return feed


def varied_shapes(specs: list[TensorSpec], shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]] | None:
    """Shapes with every dynamic dim changed (consistently per dim name), or None if none is dynamic."""
    new_size: dict[str, int] = {}
    for spec in specs:
        for i, d in enumerate(spec.shape):
            if isinstance(d, str) and d not in new_size:
                size = shapes[spec.name][i]
                new_size[d] = size + 1 if size < 4 else size - 1
    if not new_size:
        return None
    return {
        s.name: tuple(new_size[d] if isinstance(d, str) else shapes[s.name][i] for i, d in enumerate(s.shape))
        for s in specs
    }


def _names_for(count: int, names: list[str] | None, input_args: list[InputArg]) -> list[str]:
    if input_args:
        if len(input_args) != count:
            raise InputError(f"{len(input_args)} --input given for {count} example inputs")
        return [a.name for a in input_args]
    if names and len(names) >= count:
        return names[:count]
    return [f"input_{i}" for i in range(count)] if count > 1 else ["input"]


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().contiguous().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise InputError(f"example input of type {type(value).__name__} is not a tensor or array")
