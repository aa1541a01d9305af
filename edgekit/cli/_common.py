"""What every command module shares: stderr output, option generation, opening bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from edgekit.cli._help import GroupedOption
from edgekit.layout import Layout

EXIT_PARITY = 3
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def lower(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Target and precision names are case-insensitive (``--precision INT8``)."""
    return value.strip().lower() if isinstance(value, str) else value


def open_bundle(path: str) -> Any:
    """A bundle folder or a packed ``.edgekit.zip`` (unpacked into the user cache, as load does)."""
    from edgekit.archive import bundle_folder
    from edgekit.bundle import read_bundle

    return read_bundle(bundle_folder(path))


def is_bundle(item: str) -> bool:
    path = Path(item)
    return (path / Layout.MANIFEST).is_file() or (item.endswith(".zip") and path.is_file())


def option_decorators(flags: tuple[str, ...] | None = None,
                      helps: dict[str, str] | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Click options generated from ``COMPILE_OPTIONS`` (all, or the named flags, in that order)."""
    from edgekit.compiler.options import COMPILE_OPTIONS, OPTIONS_BY_FLAG

    chosen = [OPTIONS_BY_FLAG[f] for f in flags] if flags else list(COMPILE_OPTIONS)
    kinds: dict[str, Any] = {"int": int, "float": float, "file": click.Path(dir_okay=False),
                             "path": click.Path(), "str": None, "flag": None}

    def decorate(fn: Callable[..., Any]) -> Any:
        for opt in reversed(chosen):
            kwargs: dict[str, Any] = {"help": (helps or {}).get(opt.flag, opt.help) or None,
                                      "metavar": opt.metavar, "callback": lower if opt.lower else None,
                                      "cls": GroupedOption, "group": opt.group if flags is None else ""}
            if opt.kind == "flag":
                kwargs["is_flag"] = True
            elif opt.multiple:
                kwargs["multiple"] = True
            else:
                kwargs["type"] = click.Choice(list(opt.choices)) if opt.choices else kinds[opt.kind]
                if opt.minimum is not None:
                    kwargs["type"] = click.IntRange(min=opt.minimum)
                if opt.default is not None:
                    kwargs.update(default=opt.default, show_default=opt.show_default)
            fn = click.option(f"--{opt.flag}", opt.dest, **kwargs)(fn)
        return fn

    return decorate
