"""The bundle manifest as a type: ``Manifest.from_dict`` validates against the published schema
(``edgekit/manifest.schema.json``) and ``to_dict`` writes it back, byte for byte.

The typed fields are the ones a loader relies on (signature, targets and their files, the files
table, precision, the parity verdict); every other section stays in ``raw``, in the order it was
written, so a field a newer edgekit adds survives a round trip. To add a field: the schema, a
dataclass field here (if loaders read it), ``compiler/manifest.assemble_manifest``, and a test.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import BundleError
from edgekit.schema_check import problems
from edgekit.signature import TensorSpec

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The published JSON Schema of ``manifest.json`` (draft 2020-12)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _merge(raw: Mapping[str, Any], typed: dict[str, Any]) -> dict[str, Any]:
    """``raw``'s keys in their order, the typed ones rendered from their fields; new typed keys last."""
    out = {k: typed[k] if k in typed else copy.deepcopy(v) for k, v in raw.items()}
    out.update({k: v for k, v in typed.items() if k not in out})
    return out


@dataclass(frozen=True)
class FileEntry:
    """A file of the bundle: what ``read_bundle`` verifies it against."""

    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class TargetEntry:
    """One compiled target: its name, files by role and, when its shapes were fixed, its inputs."""

    name: str
    files: Mapping[str, str]
    backend: str | None = None
    precision: str | None = None
    inputs: tuple[TensorSpec, ...] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetEntry:
        specs = data.get("inputs")
        return cls(data["name"], dict(data["files"]), data.get("backend"), data.get("precision"),
                   tuple(TensorSpec.from_dict(s) for s in specs) if specs is not None else None, data)

    def to_dict(self) -> dict[str, Any]:
        typed: dict[str, Any] = {"name": self.name, "files": dict(self.files)}
        for key, value in (("backend", self.backend), ("precision", self.precision)):
            if value is not None or key in self.raw:
                typed[key] = value
        if self.inputs is not None or "inputs" in self.raw:
            typed["inputs"] = [s.to_dict() for s in self.inputs] if self.inputs is not None else None
        return _merge(self.raw, typed)


@dataclass(frozen=True)
class ParitySummary:
    """The compile's verdict and how it judged: ``check`` and ``selfcheck`` judge the same way."""

    passed: bool | None
    rule_overrides: Mapping[str, float] = field(default_factory=dict)
    rule_precision: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParitySummary:
        return cls(data.get("passed"), dict(data.get("rule_overrides") or {}), data.get("rule_precision"), data)

    def to_dict(self) -> dict[str, Any]:
        typed: dict[str, Any] = {"passed": self.passed}
        if self.rule_overrides or "rule_overrides" in self.raw:
            typed["rule_overrides"] = dict(self.rule_overrides)
        if self.rule_precision is not None:
            typed["rule_precision"] = self.rule_precision
        return _merge(self.raw, typed)


@dataclass(frozen=True)
class Manifest:
    """A validated ``manifest.json``. ``raw`` is the parsed document (read it, never change it)."""

    schema_version: int
    edgekit_version: str
    precision: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    targets: tuple[TargetEntry, ...]
    files: Mapping[str, FileEntry]
    parity: ParitySummary | None = None
    name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def target_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    @classmethod
    def from_dict(cls, data: Any, where: str = "bundle manifest") -> Manifest:
        """Validates ``data`` (schema, then what a schema cannot say) and types it.

        Raises:
            BundleError: one line naming ``where`` and the first broken field's path.
        """
        validate(data, where)
        sig = data["signature"]
        parity = data.get("parity")
        return cls(
            schema_version=data["schema_version"], edgekit_version=data["edgekit_version"],
            precision=data["precision"],
            inputs=tuple(TensorSpec.from_dict(s) for s in sig["inputs"]),
            outputs=tuple(TensorSpec.from_dict(s) for s in sig["outputs"]),
            targets=tuple(TargetEntry.from_dict(t) for t in data["targets"]),
            files={k: FileEntry(v["sha256"], int(v["size"])) for k, v in data["files"].items()},
            parity=ParitySummary.from_dict(parity) if parity is not None else None,
            name=data.get("name"), raw=data,
        )

    def to_dict(self) -> dict[str, Any]:
        """The document, in the order it was written: ``json.dumps(m.to_dict(), indent=2)`` is the file."""
        typed: dict[str, Any] = {
            "schema_version": self.schema_version, "edgekit_version": self.edgekit_version,
            "signature": _merge(self.raw.get("signature", {}), {"inputs": [s.to_dict() for s in self.inputs],
                                                                "outputs": [s.to_dict() for s in self.outputs]}),
            "precision": self.precision,
            "targets": [t.to_dict() for t in self.targets],
            "files": {k: f.to_dict() for k, f in self.files.items()},
        }
        if self.parity is not None or "parity" in self.raw:
            typed["parity"] = self.parity.to_dict() if self.parity is not None else None
        if self.name is not None:
            typed["name"] = self.name
        return _merge(self.raw, typed)


def validate(data: Any, where: str = "bundle manifest") -> None:
    """Raises BundleError for a manifest that is not the schema this edgekit reads."""
    if not isinstance(data, dict):
        raise BundleError(f"{where} is not a JSON object")
    version = data.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int or version != SCHEMA_VERSION:  # not 1.0, not true
        raise BundleError(
            f"{where} has schema version {version!r}; this edgekit reads version {SCHEMA_VERSION}",
            note="rebuild the bundle with this edgekit, or load it with the edgekit that built it",
        )
    found = problems(data, schema())
    if found and found[0].path == () and found[0].keyword == "required":
        raise BundleError(f"{where} lacks field(s): {', '.join(k for k in found[0].expected if k not in data)}")
    if found:
        raise BundleError(f"{where} is malformed: {found[0].message()}")
    for i, target in enumerate(data["targets"]):
        for role, path in target["files"].items():
            if path not in data["files"]:
                raise BundleError(f"{where} is malformed: targets[{i}].files.{role} names {path!r}, "
                                  "a file the manifest does not list")
    _refuse_float_integers(data, where)


def _refuse_float_integers(data: dict[str, Any], where: str) -> None:
    """JSON Schema counts 8.0 as an integer; sizes and dimensions written so are refused all the same
    (edgekit writes them as integers, and a float dimension would reach numpy as a shape)."""
    numbers = [(f"files[{json.dumps(k)}].size", v["size"]) for k, v in data["files"].items()]
    tensors = [(f"signature.{side}[{j}]", s) for side in ("inputs", "outputs")
               for j, s in enumerate(data["signature"][side])]
    tensors += [(f"targets[{i}].inputs[{j}]", s) for i, t in enumerate(data["targets"])
                for j, s in enumerate(t.get("inputs") or [])]
    numbers += [(f"{name}.shape[{k}]", d) for name, spec in tensors for k, d in enumerate(spec["shape"])]
    for name, value in numbers:
        if isinstance(value, float):
            raise BundleError(f"{where} is malformed: {name} must be an integer, not {value!r}")
