"""Release-build settings: ``[tool.edgekit]`` in pyproject.toml, or an edgekit.toml.

Keys are the CLI flag names of ``edgekit compile`` (``target``, ``precision``,
``input``, ``dynamic``, ``eval``, ``out``, …); flags given on the command line win.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from edgekit.compiler.options import COMPILE_OPTIONS
from edgekit.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Flag name (as in the file) → click parameter name, from the one option table.
COMPILE_KEYS = {o.flag: o.dest for o in COMPILE_OPTIONS}


def load_config(folder: Path) -> dict[str, Any]:
    """The click ``default_map`` from the folder's settings file; empty when there is none."""
    table, origin = _read_table(folder)
    table.pop("matrix", None)  # [tool.edgekit.matrix] is an `edgekit matrix` plan, read by edgekit.matrix.plan
    if not table:
        return {}
    unknown = sorted(set(table) - set(COMPILE_KEYS))
    if unknown:
        raise InputError(
            f"{origin} has unknown edgekit setting(s): {', '.join(unknown)}",
            note=f"keys are compile flag names: {', '.join(COMPILE_KEYS)}",
        )
    defaults = {}
    for key, value in table.items():
        if key in ("input", "dynamic") and isinstance(value, str):
            value = [value]
        defaults[COMPILE_KEYS[key]] = value
    return {"compile": defaults}


def _read_table(folder: Path) -> tuple[dict[str, Any], str]:
    own = folder / "edgekit.toml"
    if own.is_file():
        data = _parse(own)
        tool = data.get("tool")
        return _table(tool.get("edgekit", data) if isinstance(tool, dict) else data, own), str(own)
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        return _table(_section(_parse(pyproject)), pyproject), f"{pyproject} [tool.edgekit]"
    return {}, ""


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
