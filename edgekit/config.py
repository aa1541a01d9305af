"""Release-build settings: ``[tool.edgekit]`` in pyproject.toml, or an edgekit.toml.

Found like ruff and pytest find theirs: the current folder, then each parent up to the
project root (a folder holding ``.git``) or the filesystem root; the first ``edgekit.toml``
or pyproject.toml with a ``[tool.edgekit]`` table wins. Keys are the CLI flag names of
``edgekit compile`` (``model``, ``target``, ``precision``, ``input``, …); flags given on the
command line win. Relative paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.compiler.options import COMPILE_OPTIONS
from edgekit.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Flag name (as in the file) → click parameter name: the one option table, plus compile's MODEL argument.
COMPILE_KEYS = {"model": "model", **{o.flag: o.dest for o in COMPILE_OPTIONS}}
LIST_KEYS = {o.flag for o in COMPILE_OPTIONS if o.multiple}  # repeatable flags
COMMA_KEYS = {"target"}  # one flag holding a comma-separated list
# Paths, relative to the settings file's folder: MODEL, file/path options and DATA (unless module:callable).
PATH_KEYS = {"model"} | {o.flag for o in COMPILE_OPTIONS if o.kind in ("file", "path") or o.metavar == "DATA"}
OUTPUT_KEYS = {o.flag for o in COMPILE_OPTIONS if o.kind == "path"} | {"junit"}  # need not exist yet


@dataclass(frozen=True)
class Settings:
    """The settings file that applies here: its defaults, where it is, and any error in it
    (raised only by the commands that read it)."""

    defaults: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    error: InputError | None = None

    def for_command(self) -> dict[str, Any]:
        """The defaults, or the file's error for a command that reads it."""
        if self.error is not None:
            raise self.error
        return self.defaults


def find_settings(start: Path) -> tuple[Path, str] | None:
    """The nearest settings file from ``start`` up to the project root, and how to name it."""
    for folder in [start, *start.parents]:
        own = folder / "edgekit.toml"
        if own.is_file():
            return own, str(own)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "edgekit" in _tool_tables(pyproject):
            return pyproject, f"{pyproject} [tool.edgekit]"
        if (folder / ".git").exists():
            return None
    return None


def load_settings(start: Path) -> Settings:
    """Reads the nearest settings file; an error in it is kept, not raised."""
    try:
        found = find_settings(start)
        if found is None:
            return Settings()
        path, origin = found
        data = _parse(path)
        tool = data.get("tool")
        own = tool.get("edgekit", data) if isinstance(tool, dict) else data
        table = _table(own if path.name == "edgekit.toml" else _section(data), path)
        table.pop("matrix", None)  # [tool.edgekit.matrix] is an `edgekit matrix` plan, read by edgekit.matrix.plan
        if not table:
            return Settings()
        return Settings(_defaults(table, origin, path.parent), origin)
    except InputError as err:
        return Settings(error=err, origin=str(start))


def load_config(folder: Path) -> dict[str, Any]:
    """The click ``default_map`` for ``compile`` (raises on a bad settings file)."""
    settings = load_settings(folder)
    defaults = settings.for_command()
    return {"compile": defaults} if defaults else {}


def _defaults(table: dict[str, Any], origin: str, base: Path) -> dict[str, Any]:
    unknown = sorted(set(table) - set(COMPILE_KEYS))
    if unknown:
        raise InputError(
            f"{origin} has unknown edgekit setting(s): {', '.join(unknown)}",
            note=f"keys are compile flag names: {', '.join(COMPILE_KEYS)}",
        )
    defaults = {}
    for key, value in table.items():
        if key in COMMA_KEYS and isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif key in LIST_KEYS and isinstance(value, dict):  # atol = {logits = 1e-3}
            value = [f"{k}={v}" for k, v in value.items()]
        elif key in LIST_KEYS and not isinstance(value, list):
            value = [value]
        if key in PATH_KEYS and isinstance(value, str):
            value = _relative_to(base, value, must_exist=key not in OUTPUT_KEYS)
        defaults[COMPILE_KEYS[key]] = value
    return defaults


def _relative_to(base: Path, value: str, must_exist: bool) -> str:
    """A relative path in the file, as seen from the file's folder (a module:callable stays)."""
    path = Path(value)
    if path.is_absolute() or (must_exist and not (base / path).exists()):
        return value
    return str(base / path)


def _tool_tables(pyproject: Path) -> dict[str, Any]:
    tool = _parse(pyproject).get("tool", {})
    return tool if isinstance(tool, dict) else {}


def _section(data: dict[str, Any]) -> Any:
    tool = data.get("tool", {})
    return tool.get("edgekit", {}) if isinstance(tool, dict) else {}


def _table(value: Any, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"settings file {path}: [tool.edgekit] is not a table")
    return dict(value)


def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"cannot read settings file {path}: {err}") from err
