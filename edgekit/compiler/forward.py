"""How a torch model's forward is called and what it returns, for models from the wild.

``--pin NAME=VALUE`` fixes a non-tensor keyword argument (``return_all=false``) for the
export and the reference alike; tensor keyword arguments are inputs, fed by name. Outputs
that are dicts, namedtuples, dataclasses or nested tuples are flattened (models/torchref)
and named from their keys/fields, or by ``--output-names``. The exporters see a module that
takes the inputs positionally and returns a flat tuple, which both can trace.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Any

from edgekit.errors import InputError, one_line
from edgekit.models.torchref import TorchReference, flatten_outputs

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*")
_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_output_names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """``"a,b"`` or ``["a", "b"]`` as a tuple of distinct names; None when not given."""
    if value is None:
        return None
    names = tuple(n.strip() for n in (value.split(",") if isinstance(value, str) else value))
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if not names or bad:
        raise InputError(f"--output-names has an invalid name {bad[0]!r}" if bad else "--output-names is empty",
                         note="give names separated by commas, e.g. --output-names boxes,scores")
    if len(set(names)) != len(names):
        raise InputError(f"--output-names repeats a name: {', '.join(names)}")
    return names


def parse_pins(value: Mapping[str, Any] | Iterable[Any] | str | None) -> tuple[tuple[str, Any], ...]:
    """``{"return_all": False}``, ``["return_all=false"]`` or pairs, as (name, value) pairs.

    Text values are literals: true/false/none (any case), numbers, quoted strings, lists and
    tuples of those (``ast.literal_eval``, which runs no code); anything else stays a string.
    """
    if not value:
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        items = [value] if isinstance(value, str) else list(value)
        pairs = [_parse_pin(i) if isinstance(i, str) else tuple(i) for i in items]
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"--pin names an argument twice: {', '.join(names)}")
    for name, pinned in pairs:
        if hasattr(pinned, "detach") or hasattr(pinned, "__array__"):
            raise InputError(f"--pin {name}: a tensor is an input, not a pinned argument",
                             note=f"give it as an input named '{name}' (example, --input or eval data)")
    return tuple((str(n), v) for n, v in pairs)


def _parse_pin(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise InputError(f"--pin '{text}' is not of the form NAME=VALUE", note="e.g. --pin return_all=false")
    raw = raw.strip()
    if raw.lower() in _WORDS:
        return name, _WORDS[raw.lower()]
    try:
        return name, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return name, raw


def forward_parameters(module: Any) -> dict[str, inspect.Parameter] | None:
    """forward()'s parameters by name, or None when it has no readable signature."""
    try:
        return dict(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError, AttributeError):
        return None


def check_pins(module: Any, kind: str, pins: tuple[tuple[str, Any], ...], inputs: list[str]) -> None:
    """Refuses pins the model's forward cannot take, or that are also inputs.

    Raises:
        InputError: a pin on a TorchScript/.pt2 source, an unknown argument, or an input.
    """
    if not pins:
        return
    if kind in ("torchscript", "torch.export"):
        raise InputError(f"--pin applies to nn.Module sources; a {kind} model's arguments are fixed")
    params = forward_parameters(module) or {}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    for name, _ in pins:
        if name in inputs:
            raise InputError(f"--pin {name}: '{name}' is also an input", note="pin it or give it, not both")
        if name not in params and not takes_any:
            raise InputError(f"--pin {name}: forward() has no argument '{name}'",
                             note=f"its arguments: {', '.join(params) or 'none readable'}")


def calls_by_name(module: Any, inputs: list[str]) -> bool:
    """Whether the inputs are forward() argument names (so they are passed by keyword)."""
    params = forward_parameters(module)
    return params is not None and all(n in params for n in inputs)


def needs_wrapper(module: Any, kind: str, pins: tuple[tuple[str, Any], ...], inputs: list[str]) -> bool:
    """Whether the exporters need the flat, positional view of this module's forward."""
    if kind in ("torchscript", "torch.export", "hf"):
        return False
    if pins:
        return True
    params = forward_parameters(module)
    if params is None or not calls_by_name(module, inputs):
        return False
    positional = [n for n, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[: len(inputs)] != inputs  # an input skipped over, or keyword-only


def structured(value: Any) -> bool:
    """Whether a forward() result is more than tensors, lists, tuples and dicts of them."""
    if hasattr(value, "detach"):
        return False
    if isinstance(value, dict):
        return any(v is None or structured(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return hasattr(value, "_fields") or any(structured(v) for v in value)
    return True


def flat_module(module: Any, inputs: list[str], pins: tuple[tuple[str, Any], ...]) -> Any:
    """An nn.Module taking ``inputs`` positionally and returning the flattened outputs as a tuple."""
    import torch

    by_name = calls_by_name(module, inputs)
    fixed = dict(pins)

    class FlatForward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *tensors: Any) -> tuple[Any, ...]:
            args, kwargs = ((), dict(zip(inputs, tensors))) if by_name else (tensors, {})
            return tuple(flatten_outputs(self.inner(*args, **kwargs, **fixed))[1])

    return FlatForward().eval()


def torch_module(source: Any, inputs: list[str], pins: tuple[tuple[str, Any], ...]) -> Any:
    """The module the reference runs and the exporters trace: the source's, or its flat view
    when pins are given or the inputs are keyword arguments it must be called with by name."""
    check_pins(source.module, source.kind, pins, inputs)
    if needs_wrapper(source.module, source.kind, pins, inputs):
        return flat_module(source.module, inputs, pins)
    return source.module


def named_outputs(source: Any, module: Any, inputs: list[str], opts: Any,
                  feed: dict[str, Any]) -> tuple[Any, list[str]]:
    """Runs the model once on ``feed``: the module to export (flat when its result is structured)
    and its output names (``--output-names``, else keys/fields, else ``output_N``).

    Raises:
        InputError: the model fails on its own example, or ``--output-names`` has the wrong count.
    """
    try:
        raw = TorchReference(module, inputs).raw(feed)
        names, _ = flatten_outputs(raw)
    except InputError:
        raise
    except Exception as err:  # the user's model failed on its own example: their error, with cause
        raise InputError(f"the torch model fails on the example input: {type(err).__name__}: "
                         f"{one_line(err, 300)}") from err
    if len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(names))]
    if opts.output_names is not None:
        if len(opts.output_names) != len(names):
            raise InputError(f"--output-names gives {len(opts.output_names)} name(s); the model returns "
                             f"{len(names)} tensor(s) ({', '.join(names)})")
        names = list(opts.output_names)
    if structured(raw) and source.kind not in ("torchscript", "torch.export") and module is source.module:
        module = flat_module(module, inputs, ())
    return module, names
