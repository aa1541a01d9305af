"""``--help`` in sections: compile's options grouped as its rows say, logging options last,
and each command's summary whole in ``edgekit --help`` (click cuts it at 45 characters)."""

from __future__ import annotations

from typing import Any

import click

LOGGING = "Logging"
OTHER = "Options"


class GroupedOption(click.Option):
    """A click option that knows the help section it belongs to."""

    def __init__(self, *args: Any, group: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group


class SectionedCommand(click.Command):
    """Lists options by section: compile's groups (``COMPILE_OPTIONS``) in order, then the rest, then logging."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.short_help is None and self.help:
            self.short_help = self.help.strip().splitlines()[0]  # the whole first line, not cut with "…"

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from edgekit.compiler.options import GROUPS

        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                sections.setdefault(getattr(param, "group", "") or OTHER, []).append(record)
        order = [g for g in GROUPS if g in sections] + [OTHER] * (OTHER in sections)
        order += [g for g in sections if g not in order and g != LOGGING] + [LOGGING] * (LOGGING in sections)
        for name in order:
            with formatter.section(name):
                formatter.write_dl(sections[name])


def examples(*lines: str) -> str:
    """An "Examples:" epilog that click prints as written (``\\b`` stops it rewrapping the lines)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
