"""`edgekit matrix` on a terminal: the live table's content (rendered without a TTY), and plain lines off one."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from rich.console import Console

from edgekit.matrix.compiler import CellResult
from edgekit.matrix.live import PENDING, LiveTable, progress
from edgekit.matrix.plan import parse_plan


def _plan(tmp_path: Path):
    (tmp_path / "a.onnx").write_bytes(b"")  # never read: the plan is only laid out
    (tmp_path / "b.onnx").write_bytes(b"")
    data = {"targets": ["cpu", "intel-cpu"], "precisions": ["fp32", "int8"],
            "models": {"mlp-a": {"model": "a.onnx"}, "mlp-b": {"model": "b.onnx", "precisions": ["fp32"]}}}
    return parse_plan(data, "test plan", tmp_path)


def _render(grid: LiveTable) -> str:
    out = StringIO()
    Console(file=out, width=160, color_system=None).print(grid.table())
    return out.getvalue()


def test_live_table_fills_in_as_cells_finish(tmp_path) -> None:
    plan = _plan(tmp_path)
    grid = LiveTable(plan.cells())
    assert grid.models == ["mlp-a", "mlp-b"]
    assert set(grid.columns) == {("cpu", "fp32"), ("intel-cpu", "fp32"), ("cpu", "int8"), ("intel-cpu", "int8")}
    before = _render(grid)
    assert "0/6 cells done" in before and before.count(PENDING) == 6
    grid.update(CellResult("mlp-a", "fp32", "cpu", "passed", key_metric="max abs 1e-7", p50_ms=0.0123))
    grid.update(CellResult("mlp-a", "int8", "intel-cpu", "failed", message="parity: min cosine 0.91"))
    grid.update(CellResult("mlp-b", "fp32", "intel-cpu", "no-worker", message="no worker for intel-cpu"))
    text = _render(grid)
    assert "3/6 cells done" in text and text.count(PENDING) == 3
    row_a = next(line for line in text.splitlines() if "mlp-a" in line)
    assert "PASS 0.0123 ms" in row_a and "FAIL parity: min cosine 0.91" in row_a
    row_b = next(line for line in text.splitlines() if "mlp-b" in line)
    assert "no worker" in row_b and "FAIL" not in row_b
    col = grid.columns.index(("cpu", "int8"))
    assert grid.rows()[1][1 + col] == ""  # mlp-b has no int8 cell: blank, not pending


def test_progress_prints_lines_off_a_terminal_and_feeds_the_table_on_one(tmp_path) -> None:
    plan = _plan(tmp_path)
    printed: list[str] = []
    result = CellResult("mlp-a", "fp32", "cpu", "passed", p50_ms=0.5)
    with progress(plan, lambda r: printed.append(r.key), tty=False) as on_result:
        on_result(result)
    assert printed == ["mlp-a/fp32/cpu"]
    with progress(plan, lambda r: printed.append(r.key), tty=True) as on_result:
        on_result(result)
        grid = on_result.__self__
        assert isinstance(grid, LiveTable) and grid.done == 1
    assert printed == ["mlp-a/fp32/cpu"]  # the table, not a line, took the result
