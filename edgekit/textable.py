"""A table as data: the library builds it, the plain text is aligned without cutting a cell,
and the CLI draws the same table with ``rich`` on a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """Columns, rows of strings, the right-aligned column indexes, and an indent for nesting in text."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()
    indent: int = 0

    @classmethod
    def of(cls, columns: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = (),
           indent: int = 0) -> Table:
        return cls(tuple(columns), tuple(tuple("" if c is None else str(c) for c in r) for r in rows),
                   frozenset(right), indent)

    def plain(self) -> str:
        """Aligned text, every cell whole: columns are as wide as their widest cell."""
        lines = [self.columns, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.columns))]
        out = []
        for line in lines:
            cells = [c.rjust(w) if i in self.right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
            out.append(" " * self.indent + "  ".join(cells).rstrip())
        return "\n".join(out)
