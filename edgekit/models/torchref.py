"""The torch model as a reference: feed dict in, flat named numpy outputs out."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edgekit.errors import InputError


def flatten_outputs(value: Any) -> tuple[list[str], list[Any]]:
    """Flattens a forward() result the way the ONNX exporters do, with readable names.

    Dicts, namedtuples and dataclasses are named by their keys/fields (None entries, as in
    a Hugging Face ``ModelOutput``, are left out); plain tuples and lists by position.
    """
    if hasattr(value, "detach"):
        return ["output"], [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        value = dict(zip(value._fields, value))
    if isinstance(value, dict):
        names, leaves = [], []
        for key, item in value.items():
            if item is None:
                continue
            sub_names, sub_leaves = flatten_outputs(item)
            names += [str(key) if n == "output" else f"{key}_{n}" for n in sub_names]
            leaves += sub_leaves
        return names, leaves
    if isinstance(value, (list, tuple)):
        names, leaves = [], []
        for index, item in enumerate(value):
            sub_names, sub_leaves = flatten_outputs(item)
            names += [f"output_{index}" if n == "output" else f"output_{index}_{n.removeprefix('output_')}"
                      for n in sub_names]
            leaves += sub_leaves
        return names, leaves
    raise InputError(f"the model returned {type(value).__name__}; expected tensors (or tuples/dicts of them)")


class TorchReference:
    """Runs the torch model in eager fp32 under ``inference_mode``."""

    def __init__(self, module: Any, input_names: list[str], output_names: list[str] | None = None) -> None:
        import torch

        self._torch = torch
        self.module = module.module() if isinstance(module, torch.export.ExportedProgram) else module
        self.input_names = input_names
        self.output_names = output_names

    def raw(self, feed: dict[str, np.ndarray]) -> Any:
        torch = self._torch
        args = [torch.from_numpy(np.ascontiguousarray(feed[n])) for n in self.input_names]
        with torch.inference_mode():
            return self.module(*args)

    def __call__(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names, leaves = flatten_outputs(self.raw(feed))
        if self.output_names is not None:
            names = self.output_names
        return {n: leaf.detach().cpu().numpy() for n, leaf in zip(names, leaves)}
