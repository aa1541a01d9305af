"""`edgekit matrix` progress on a terminal: a rich live table (rows: models; columns: target ×
precision) whose cells fill in as they finish. Off a terminal, or without rich installed, the
caller's one-line-per-cell printer is used instead, so logs and CI output stay plain text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from edgekit.matrix.compiler import NO_WORKER, PASSED, CellResult
from edgekit.matrix.plan import Cell, Plan
from edgekit.matrix.report import _ICON

OnResult = Callable[[CellResult], None]
PENDING = "…"
_STYLE = {"passed": "green", "failed": "red", "error": "red", "no-worker": "yellow"}


def cell_text(result: CellResult | None) -> str:
    """What one table cell shows: pending, or the verdict with p50 latency (or why it has none)."""
    if result is None:
        return PENDING
    bits = [_ICON.get(result.status, result.status)]
    if result.p50_ms is not None:
        bits.append(f"{result.p50_ms:.3g} ms")
    elif result.status not in (PASSED, NO_WORKER) and result.message:
        bits.append(result.message[:40])
    return " ".join(bits)


class LiveTable:
    """The grid of a plan's cells and what has finished so far."""

    def __init__(self, cells: list[Cell]) -> None:
        self.models = list(dict.fromkeys(c.model for c in cells))
        self.columns = list(dict.fromkeys((c.target, c.precision) for c in cells))
        self.planned = {(c.model, c.target, c.precision) for c in cells}
        self.results: dict[tuple[str, str, str], CellResult] = {}

    def update(self, result: CellResult) -> None:
        self.results[(result.model, result.target, result.precision)] = result

    @property
    def done(self) -> int:
        return len(self.results)

    def rows(self) -> list[list[str]]:
        """Plain text of the grid: one row per model, "" where the plan has no such cell."""
        return [[model, *(cell_text(self.results.get((model, t, p))) if (model, t, p) in self.planned else ""
                          for t, p in self.columns)] for model in self.models]

    def table(self) -> Any:
        """The rich Table of the grid (cells coloured by verdict)."""
        from rich.table import Table

        table = Table(title=f"edgekit matrix: {self.done}/{len(self.planned)} cells done", title_justify="left")
        table.add_column("model", style="bold")
        for target, precision in self.columns:
            table.add_column(f"{target}\n{precision}")
        for model, row in zip(self.models, self.rows()):
            styled = []
            for (target, precision), text in zip(self.columns, row[1:]):
                result = self.results.get((model, target, precision))
                style = _STYLE.get(result.status, "") if result else "dim"
                styled.append(f"[{style}]{text}[/]" if style and text else text)
            table.add_row(model, *styled)
        return table

    def __rich__(self) -> Any:  # rich.live.Live re-renders this on every refresh
        return self.table()


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def progress(plan: Plan, print_line: OnResult, tty: bool | None = None) -> Iterator[OnResult]:
    """Yields the ``on_result`` callback for ``run_matrix``: the live table when stderr is a
    terminal (``tty`` overrides the check) and rich is installed, else ``print_line``."""
    tty = sys.stderr.isatty() if tty is None else tty
    if not tty or not _rich_available():
        yield print_line
        return
    from rich.console import Console
    from rich.live import Live

    grid = LiveTable(plan.cells())
    with Live(grid, console=Console(stderr=True), refresh_per_second=4, transient=False):
        yield grid.update
