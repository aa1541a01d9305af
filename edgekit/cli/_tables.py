"""Tables on stdout: ``rich`` tables on a terminal, plain aligned text otherwise (scripts and
tests read that); no cell is ever cut short."""

from __future__ import annotations

from collections.abc import Sequence

import click

from edgekit.cli._display import real_stdout
from edgekit.textable import Table


def show(parts: Sequence[str | Table]) -> None:
    """Lines and tables, in order."""
    out = real_stdout()
    if not out.isatty():
        click.echo("\n".join(p if isinstance(p, str) else p.plain() for p in parts), file=out)
        return
    from rich.console import Console
    from rich.padding import Padding

    console = Console(file=out, highlight=False, soft_wrap=True)
    for part in parts:
        if isinstance(part, str):
            console.print(part, markup=False)
        else:
            console.print(Padding(_rich(part), (0, 0, 0, part.indent), expand=False))


def _rich(table: Table) -> object:
    from rich import box
    from rich.table import Table as RichTable

    drawn = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, name in enumerate(table.columns):
        drawn.add_column(name, justify="right" if i in table.right else "left", overflow="fold")
    for row in table.rows:
        drawn.add_row(*row)
    return drawn
