"""Model signatures: named, typed, possibly dynamic tensors. Pure Python."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Dim = int | str


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor in a model's signature; a ``str`` dimension is dynamic."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str

    def __str__(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        return cls(str(data["name"]), tuple(data["shape"]), str(data["dtype"]))


def describe_signature(specs: list[TensorSpec]) -> str:
    return "(" + "; ".join(str(s) for s in specs) + ")"


