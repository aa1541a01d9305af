"""The release plan: ``edgekit.matrix.toml`` or ``[tool.edgekit.matrix]`` in pyproject.toml.

Parsed once into frozen dataclasses; every key is checked, so a typo is one clear error
(exit 2) rather than a silently ignored setting. Option keys are ``edgekit compile`` flag
names, taken from the one option table (``compiler/options.COMPILE_OPTIONS``) and parsed into
a ``CompileOptions`` per model; a key at the top is every model's default. The matrix owns
the flags it varies or sets per cell (``MATRIX_FLAGS``).

    targets = ["cpu", "intel-cpu", "nvidia-gpu"]
    precisions = ["fp32", "int8"]          # "auto": fp32, fp16, and int8 where a model has calib
    required = ["cpu"]                     # a failing cell of these targets fails the matrix
    max-accuracy-drop = 1.0                # a compile option at the top: every model's default

    [models.digits]
    model = "examples.digits.model:create"
    weights = "examples/digits/weights.safetensors"
    input = ["image:1x1x8x8"]
    dynamic = ["image:0"]
    eval = "build/digits_test.npz"
    calib = "build/digits_train.npz"
    parity-data = "data/digits-eval/"     # a large data set (files): every passing cell is checked on
    parity-shards = 16                     # all of it, in shards (Ray Data on a cluster), after it builds
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.compiler.options import COMPILE_OPTIONS, CompileOptions, Option
from edgekit.errors import InputError
from edgekit.precision import PRECISIONS, Precision

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLAN_FILE = "edgekit.matrix.toml"
# Compile flags the matrix sets itself: the axes (targets/precisions keys), each cell's output
# folder, and the plan-wide seed; a per-cell JUnit file would be overwritten cell by cell.
MATRIX_FLAGS = ("target", "precision", "out", "force", "junit", "seed")
PLAN_OPTIONS: dict[str, Option] = {o.flag: o for o in COMPILE_OPTIONS if o.flag not in MATRIX_FLAGS}
DATA_KEYS = ("parity-data", "parity-shards")  # the sharded check on a large data set (matrix/full_parity.py)
MODEL_KEYS = ("model", "targets", "precisions", *DATA_KEYS, *PLAN_OPTIONS)
TOP_KEYS = ("targets", "precisions", "required", "seed", "models", *DATA_KEYS, *PLAN_OPTIONS)
DEFAULT_SHARDS = 8
AUTO_PRECISIONS = (Precision.FP32, Precision.FP16, Precision.INT8)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelPlan:
    """One model of the release: a MODEL string and its compile options (target, precision and
    out are set per cell)."""

    name: str
    model: str
    options: CompileOptions = field(default_factory=CompileOptions)
    targets: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    parity_data: str | None = None  # files or a folder every worker can read: checked after the build
    parity_shards: int = DEFAULT_SHARDS


@dataclass(frozen=True)
class Cell:
    """One model × precision × target: the unit that is built, checked and timed."""

    model: str
    precision: str
    target: str

    @property
    def key(self) -> str:
        return f"{self.model}/{self.precision}/{self.target}"


@dataclass(frozen=True)
class Plan:
    """A parsed, validated release plan."""

    origin: str
    models: tuple[ModelPlan, ...]
    targets: tuple[str, ...]
    precisions: tuple[str, ...]
    required: tuple[str, ...] = ()
    seed: int = 0

    def model(self, name: str) -> ModelPlan:
        return next(m for m in self.models if m.name == name)

    def cells(self) -> list[Cell]:
        """Every cell, model by model; ``auto`` expanded per model (int8 only with calib data)."""
        return [Cell(m.name, p, t) for m in self.models for p in model_precisions(m, self.precisions)
                for t in (m.targets or self.targets)]


def model_precisions(model: ModelPlan, default: tuple[str, ...]) -> list[str]:
    """The model's precisions; ``auto`` is fp32, fp16 and, when the model has calibration data, int8."""
    out: list[str] = []
    for p in model.precisions or default:
        expanded = [a.value for a in AUTO_PRECISIONS if not a.needs_calibration or model.options.calibration] \
            if p == "auto" else [p]
        out.extend(e for e in expanded if e not in out)
    return out


def load_plan(path: str | Path) -> Plan:
    """Reads a plan file: an ``edgekit.matrix.toml`` or a pyproject.toml with ``[tool.edgekit.matrix]``."""
    file = Path(path)
    if file.is_dir():
        file = file / PLAN_FILE if (file / PLAN_FILE).is_file() else file / "pyproject.toml"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"cannot read matrix plan {file}: {err}") from err
    origin = str(file)
    if file.name == "pyproject.toml" or "tool" in data:
        data = data.get("tool", {}).get("edgekit", {}).get("matrix")
        origin = f"{file} [tool.edgekit.matrix]"
        if data is None:
            raise InputError(f"{file} has no [tool.edgekit.matrix] table",
                             note=f"write the plan there or in {PLAN_FILE}")
    return parse_plan(data, origin, file.resolve().parent)


def parse_plan(data: dict[str, Any], origin: str, base: Path) -> Plan:
    """Validates a plan's table; relative data paths are taken from ``base`` (the file's folder)."""
    from edgekit.targets import TARGETS

    _check_keys(data, TOP_KEYS, origin)
    targets = _names(data.get("targets", ["cpu"]), "targets", origin, TARGETS)
    precisions = _names(data.get("precisions", ["fp32"]), "precisions", origin, (*PRECISIONS, "auto"))
    required = _names(data.get("required", []), "required", origin, targets, allow_empty=True)
    defaults = _option_keywords(data, origin, base)
    data_defaults = _data_keys(data, origin, base, {})
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"{origin}: seed must be an integer >= 0, not {seed!r}")
    models_table = data.get("models")
    if not isinstance(models_table, dict) or not models_table:
        raise InputError(f"{origin} lists no models", note="add a [models.NAME] table with at least model = \"…\"")
    models = tuple(_model(name, table, origin, base, targets, defaults, data_defaults)
                   for name, table in models_table.items())
    return Plan(origin, models, targets, precisions, required, seed)


def _model(name: str, table: Any, origin: str, base: Path, targets: tuple[str, ...],
           defaults: dict[str, Any], data_defaults: dict[str, Any]) -> ModelPlan:
    where = f"{origin} [models.{name}]"
    if not _NAME.match(name):
        raise InputError(f"{where}: a model name may hold letters, digits, '.', '_' and '-' only")
    if not isinstance(table, dict):
        raise InputError(f"{where} must be a table")
    _check_keys(table, MODEL_KEYS, where)
    model = table.get("model")
    if not isinstance(model, str) or not model:
        raise InputError(f"{where} has no model", note="model = \"file.onnx\" or \"package.module:factory\"")
    if ":" not in model and not Path(model).is_absolute() and (base / model).exists():
        model = str(base / model)
    keywords = {**defaults, **_option_keywords(table, where, base)}
    data_keys = _data_keys(table, where, base, data_defaults)
    if data_keys.get("parity_data"):
        keywords["keep_fp32"] = True  # the sharded check compares against the bundle's fp32 graph
    try:
        options = CompileOptions.from_keywords(**keywords)
        _ = options.quant  # checks calib-method and calib-samples now, not in every cell
    except InputError as err:
        raise InputError(f"{where}: {err.message}", note=err.note) from err
    return ModelPlan(
        name=name, model=model, options=options,
        targets=_names(table.get("targets", []), "targets", where, targets, allow_empty=True),
        precisions=_names(table.get("precisions", []), "precisions", where, (*PRECISIONS, "auto"), allow_empty=True),
        **data_keys,
    )


def _data_keys(table: dict[str, Any], where: str, base: Path, defaults: dict[str, Any]) -> dict[str, Any]:
    """``parity-data`` (a path, from the plan's folder) and ``parity-shards`` (an integer >= 1)."""
    found = dict(defaults)
    if "parity-data" in table:
        value = table["parity-data"]
        if not isinstance(value, str) or not value:
            raise InputError(f"{where}: parity-data must be a path (an .npz or a folder), not {value!r}")
        found["parity_data"] = _path(value, base)
    if "parity-shards" in table:
        value = table["parity-shards"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{where}: parity-shards must be an integer >= 1, not {value!r}")
        found["parity_shards"] = value
    return found


def _option_keywords(table: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
    """``edgekit.compile`` keywords from a table's compile-flag keys, each checked by its ``Option`` row."""
    return {PLAN_OPTIONS[k].keyword: _option_value(PLAN_OPTIONS[k], v, where, base)
            for k, v in table.items() if k in PLAN_OPTIONS}


def _option_value(option: Option, value: Any, where: str, base: Path) -> Any:
    key = option.flag
    if option.multiple:
        return list(_strings(value, key, where))
    if option.kind == "flag":
        return option.keyword_value(_flag(value, key, where))
    if option.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {key} must be an integer, not {value!r}")
        return value
    if option.kind == "float":
        return _number(value, key, where)
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: {key} must be a non-empty string, not {value!r}")
    if option.choices and value not in option.choices:
        raise InputError(f"{where}: {key} names unknown value: {value}",
                         note=f"choose from: {', '.join(option.choices)}")
    if option.kind in ("file", "path") or option.metavar == "DATA":
        return _path(value, base)
    return value


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InputError(f"{where} has unknown key(s): {', '.join(unknown)}", note=f"allowed: {', '.join(allowed)}")


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: {key} must be a string or a list of strings, not {value!r}")
    return tuple(value)


def _names(value: Any, key: str, where: str, allowed: Any, allow_empty: bool = False) -> tuple[str, ...]:
    names = _strings(value, key, where)
    bad = [n for n in names if n not in allowed]
    if bad:
        raise InputError(f"{where}: {key} names unknown value(s): {', '.join(bad)}",
                         note=f"choose from: {', '.join(allowed)}")
    if not names and not allow_empty:
        raise InputError(f"{where}: {key} is empty")
    if len(set(names)) != len(names):
        raise InputError(f"{where}: {key} names a value twice")
    return names


def _flag(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _number(value: Any, key: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InputError(f"{where}: {key} must be a number >= 0, not {value!r}")
    return float(value)


def _path(value: str, base: Path) -> str:
    """A file or DATA value taken from the plan's folder; a module:callable data source stays as is."""
    if ":" in value and not Path(value).exists():
        return value
    return str(Path(value) if Path(value).is_absolute() else base / value)
