"""Size ranges for dynamic axes: what range-planning backends build for.

TensorRT plans kernels for one optimization profile: a min, opt and max shape per
dynamic input, and refuses anything outside it at run time. onnxruntime and OpenVINO
take any size, so the ranges matter to the ``nvidia-gpu`` target only; they are
derived once here, recorded in its manifest entry, and reused for every rebuild.

A range belongs to a *dim name*, not an input: inputs sharing a dim (``batch``) share
its range, so the profile never asks for shapes the model cannot take together.
"""

from __future__ import annotations

from edgekit.compiler.inputs import DynamicArg, dim_name
from edgekit.errors import InputError
from edgekit.signature import TensorSpec

Range = tuple[int, int, int]
Profiles = dict[str, dict[str, list[int]]]  # input -> {"min": shape, "opt": shape, "max": shape}

DEFAULT_MAX_FLOOR = 32


def default_range(example_size: int) -> Range:
    """Where only the axis is given: from 1 up to twice the example (at least 32), tuned for the example."""
    return (1, example_size, max(2 * example_size, DEFAULT_MAX_FLOOR))


def explicit_ranges(dynamic: list[DynamicArg]) -> dict[str, Range]:
    """The ``MIN:OPT:MAX`` ranges given on the command line, keyed by dim name."""
    ranges: dict[str, Range] = {}
    for arg in dynamic:
        if arg.range is None:
            continue
        dim = dim_name(arg)
        if dim in ranges and ranges[dim] != arg.range:
            raise InputError(
                f"--dynamic gives dim '{dim}' two ranges, {':'.join(map(str, ranges[dim]))} and "
                f"{':'.join(map(str, arg.range))}",
                note="inputs that share a dim share its range; give it once",
            )
        ranges[dim] = arg.range
    return ranges


def derive_profiles(specs: list[TensorSpec], example_shapes: dict[str, tuple[int, ...]],
                    ranges: dict[str, Range]) -> tuple[dict[str, Range], Profiles]:
    """Per dim name its (min, opt, max), and per dynamic input its min/opt/max shapes.

    Dims without an explicit range get :func:`default_range` of the example's size. An
    explicit range must contain the example size: the example is what parity runs on.
    """
    per_dim: dict[str, Range] = {}
    for spec in specs:
        for axis, dim in enumerate(spec.shape):
            if not isinstance(dim, str):
                continue
            size = example_shapes[spec.name][axis]
            if dim not in per_dim:
                per_dim[dim] = ranges.get(dim) or default_range(size)
            lo, _, hi = per_dim[dim]
            if not lo <= size <= hi:
                raise InputError(
                    f"the example size {size} of input '{spec.name}' axis {axis} (dim '{dim}') lies outside "
                    f"its range {lo}..{hi}",
                    note="widen the range in --dynamic NAME:AXIS:MIN:OPT:MAX, or change the example",
                )
    unused = sorted(set(ranges) - set(per_dim))
    if unused:
        raise InputError(f"--dynamic gives a range for dim(s) {', '.join(unused)}, which no input has")
    profiles: Profiles = {}
    for spec in specs:
        if any(isinstance(d, str) for d in spec.shape):
            fixed = example_shapes[spec.name]
            profiles[spec.name] = {
                key: [per_dim[d][k] if isinstance(d, str) else fixed[i] for i, d in enumerate(spec.shape)]
                for k, key in enumerate(("min", "opt", "max"))
            }
    return per_dim, profiles


def batch_limit(specs: list[TensorSpec], per_dim: dict[str, Range]) -> int | None:
    """The largest batch every input's leading dim allows, or None when no leading dim is dynamic."""
    limits = [per_dim[s.shape[0]][2] for s in specs if s.shape and isinstance(s.shape[0], str)]
    return min(limits) if limits else None
