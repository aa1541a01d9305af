"""The matrix report as data (``matrix.json``, schema ``matrix.schema.json``) and its renderings
(``matrix.md``, ``matrix.html``): rows = models, columns = target × precision."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from edgekit.layout import Layout
from edgekit.matrix.compiler import NO_WORKER, PASSED, CellResult

SCHEMA_FILE = Path(__file__).with_name("matrix.schema.json")
SCHEMA_VERSION = 1
_ICON = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "no-worker": "no worker"}


def required_failures(results: list[CellResult], required: tuple[str, ...]) -> list[str]:
    """``model/precision/target: why`` for every cell of a required target that did not pass."""
    return [f"{r.key}: {r.status}{' - ' + r.message if r.message else ''}"
            for r in results if r.target in required and r.status != PASSED]


def matrix_document(results: list[CellResult], *, plan_origin: str, executor: str, required: tuple[str, ...],
                    bundles: dict[str, str], notes: list[str]) -> dict[str, Any]:
    """The ``matrix.json`` document: every cell, in plan order, and the verdict."""
    failures = required_failures(results, required)
    columns = _columns(results)
    return {
        "schema_version": SCHEMA_VERSION,
        "plan": plan_origin,
        "executor": executor,
        "passed": not failures,
        "required": list(required),
        "required_failures": failures,
        "models": list(dict.fromkeys(r.model for r in results)),
        "columns": [{"target": t, "precision": p} for t, p in columns],
        "cells": [_cell_dict(r, required) for r in results],
        "bundles": bundles,
        "fastest": fastest_passing(results),
        "notes": notes,
    }


def fastest_passing(results: list[CellResult]) -> dict[str, str]:
    """``model/target`` → the precision with the lowest p50 among the cells that passed (what
    ``--precision auto`` would ship), measured on the node that built the cell."""
    best: dict[str, CellResult] = {}
    for r in results:
        key = f"{r.model}/{r.target}"
        if r.status == PASSED and r.p50_ms is not None and (key not in best or r.p50_ms < best[key].p50_ms):
            best[key] = r
    return {k: r.precision for k, r in best.items()}


def _cell_dict(r: CellResult, required: tuple[str, ...]) -> dict[str, Any]:
    data = {k: v for k, v in r.to_dict().items() if k != "parity"}
    data["required"] = r.target in required
    data["parity_html"] = f"{r.bundle}/{Layout.PARITY_HTML}" if r.bundle else None
    return data


def _columns(results: list[CellResult]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.target, r.precision) for r in results))


def _cell_text(cell: dict[str, Any]) -> tuple[str, list[str]]:
    parts = [m for m in (cell["key_metric"],) if m]
    if cell["p50_ms"] is not None:
        parts.append(f"p50 {cell['p50_ms']:.3f} ms")
    if cell["size_bytes"] is not None:
        parts.append(f"{cell['size_bytes'] / 1e6:.2f} MB")
    checked = cell.get("dataset_parity") or {}
    if checked.get("samples"):
        parts.append(f"{'passes' if checked['passed'] else 'FAILS'} on all {checked['samples']} parity-data samples")
    if cell["status"] not in (PASSED,) and cell["message"]:
        parts.append(cell["message"][:160])
    return _ICON[cell["status"]], parts


def _grid(doc: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, list[dict[str, Any] | None]]]]:
    """The (target, precision) columns and, per model, its cell in each column (None: not planned)."""
    cols = [(c["target"], c["precision"]) for c in doc["columns"]]
    by = {(c["model"], c["target"], c["precision"]): c for c in doc["cells"]}
    return cols, [(model, [by.get((model, t, p)) for t, p in cols]) for model in doc["models"]]


def markdown(doc: dict[str, Any]) -> str:
    """A Markdown table for pull requests; failure cells link to their parity.md."""
    cols, grid = _grid(doc)
    verdict = "PASSED" if doc["passed"] else f"FAILED ({len(doc['required_failures'])} required cell(s))"
    lines = [f"# edgekit matrix: {verdict}", "", f"Plan: `{doc['plan']}`; executor: {doc['executor']}.", "",
             "| model | " + " | ".join(f"{t} {p}" for t, p in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for model, cells in grid:
        row = []
        for cell in cells:
            if cell is None:
                row.append("")
                continue
            icon, parts = _cell_text(cell)
            if cell["status"] != PASSED and cell["bundle"]:
                icon = f"[{icon}]({cell['bundle']}/{Layout.PARITY_MD})"
            row.append("<br>".join([f"**{icon}**", *(p.replace("|", "\\|") for p in parts)]))
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    if doc["required_failures"]:
        lines += ["", "Required cells that failed:", *(f"- {f}" for f in doc["required_failures"])]
    lines += ["", *(f"Note: {n}" for n in doc["notes"])]
    return "\n".join(lines).rstrip() + "\n"


def render_html(doc: dict[str, Any]) -> str:
    """One offline page; failure cells link to their parity.html."""
    esc = html.escape
    cols, grid = _grid(doc)
    head = "".join(f"<th>{esc(t)}<br>{esc(p)}</th>" for t, p in cols)
    rows = []
    for model, cells in grid:
        tds = []
        for cell in cells:
            if cell is None:
                tds.append("<td></td>")
                continue
            icon, parts = _cell_text(cell)
            label = esc(icon)
            if cell["status"] != PASSED and cell["parity_html"]:
                label = f'<a href="{esc(cell["parity_html"])}">{label}</a>'
            extra = "".join(f"<div>{esc(x)}</div>" for x in parts)
            tds.append(f'<td class="{esc(cell["status"])}"><b>{label}</b>{extra}</td>')
        rows.append(f"<tr><th>{esc(model)}</th>{''.join(tds)}</tr>")
    verdict = "PASSED" if doc["passed"] else "FAILED"
    failures = "".join(f"<li>{esc(f)}</li>" for f in doc["required_failures"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgekit matrix</title><style>"
        "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:6px;"
        "vertical-align:top;font-size:13px}.passed{background:#e6f4ea}.failed,.error{background:#fce8e6}"
        f".no-worker{{background:#f1f3f4}}</style></head><body><h1>edgekit matrix: {verdict}</h1>"
        f"<p>Plan: {esc(doc['plan'])}; executor: {esc(doc['executor'])}</p>"
        f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>"
        + (f"<h2>Required cells that failed</h2><ul>{failures}</ul>" if failures else "")
        + "</body></html>\n"
    )


def write_matrix_reports(out: Path, doc: dict[str, Any]) -> None:
    (out / "matrix.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    (out / "matrix.md").write_text(markdown(doc))
    (out / "matrix.html").write_text(render_html(doc), encoding="utf-8")


def progress_line(r: CellResult) -> str:
    """One line per finished cell, for stderr."""
    bits = [f"{r.key}: {_ICON[r.status]}"]
    if r.key_metric:
        bits.append(r.key_metric)
    if r.p50_ms is not None:
        bits.append(f"p50 {r.p50_ms:.3f} ms")
    if r.status not in (PASSED, NO_WORKER) and r.message or r.status == NO_WORKER:
        bits.append(r.message[:200])
    bits.append(f"({r.seconds:.1f} s)")
    return "  ".join(bits)
