"""``edgekit targets``: which targets this host can build and run, and what is missing."""

from __future__ import annotations

import json

import click

from edgekit.cli._display import echo_out, logging_options
from edgekit.cli._help import SectionedCommand, examples


@click.command("targets", cls=SectionedCommand,
               epilog=examples(
    "edgekit targets",
    "edgekit targets --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@logging_options
def targets_cmd(as_json: bool) -> None:
    """List every target, its backend version, and whether it is available here (or why not)."""
    from edgekit.targets import describe_targets

    rows = describe_targets()
    if as_json:
        echo_out(json.dumps(rows, indent=2))
        return
    from edgekit.cli._tables import show
    from edgekit.textable import Table

    show([Table.of(("target", "backend", "version", "state"),
                   [(r["name"], r["backend"], r["version"] or "-",
                     "available" if r["available"] else f"unavailable: {r['reason']}") for r in rows])])
