"""``edgekit matrix`` and ``edgekit worker``: release builds over many compiles, locally or on Ray."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._common import EXIT_PARITY, echo_err
from edgekit.cli._display import logging_options
from edgekit.cli._help import SectionedCommand, examples
from edgekit.errors import InputError


@click.command("matrix", cls=SectionedCommand,
               epilog=examples(
    "edgekit matrix edgekit.matrix.toml --jobs 2",
    "edgekit matrix edgekit.matrix.toml --cluster auto"))
@click.argument("plan_file", metavar="FILE", type=click.Path())
@click.option("--out", default="build/matrix", show_default=True, type=click.Path(file_okay=False),
              help="Folder for cell bundles, merged bundles and matrix.json/.md/.html.")
@click.option("--jobs", default=1, show_default=True, type=int, help="Local: cells built at once (processes).")
@click.option("--cluster", metavar="ray://HOST:PORT|HOST:PORT|auto",
              help="Run on a Ray cluster (nodes started with `edgekit worker`); auto: RAY_ADDRESS.")
@click.option("--max-retries", default=2, show_default=True, type=int, help="Ray: retries of a cell whose worker died.")
@click.option("--artifacts", type=click.Path(file_okay=False),
              help="Ray: a folder every node can write (shared file system) for cell bundles.")
@logging_options
def matrix_cmd(plan_file: str, out: str, jobs: int, cluster: str | None, max_retries: int,
               artifacts: str | None) -> None:
    """Build every model x target x precision of a release plan (edgekit.matrix.toml or pyproject)."""
    from edgekit.matrix.live import progress  # a live table when stderr is a terminal, else one line per cell
    from edgekit.matrix.plan import load_plan
    from edgekit.matrix.report import progress_line
    from edgekit.matrix.runner import run_matrix

    plan = load_plan(plan_file)
    with progress(plan, lambda r: echo_err(progress_line(r))) as on_result:
        result = run_matrix(plan, out, jobs=jobs, cluster=cluster, max_retries=max_retries, artifacts=artifacts,
                            on_result=on_result)
    click.echo(f"matrix: {Path(out) / 'matrix.html'}")
    for key, path in result.document["bundles"].items():
        click.echo(f"bundle {key}: {Path(out) / path}")
    if result.required_failures:
        echo_err(f"error: {len(result.required_failures)} required cell(s) failed:")
        for failure in result.required_failures:
            echo_err(f"  {failure}")
        raise click.exceptions.Exit(EXIT_PARITY)


@click.command("worker", cls=SectionedCommand, context_settings={"ignore_unknown_options": True},
               epilog=examples(
    "edgekit worker --head",
    "edgekit worker --address 10.0.0.1:6379 --slots 2"))
@click.option("--address", metavar="HOST:PORT", help="The Ray head to join (omit with --head).")
@click.option("--head", is_flag=True, help="Start a new cluster's head node on this host.")
@click.option("--slots", default=1, show_default=True, type=int, help="Concurrent builds per target on this node.")
@click.option("--node-ip-address", help="The address this node binds and advertises.")
@click.option("--dry-run", is_flag=True, help="Print the `ray start` command instead of running it.")
@click.argument("ray_args", nargs=-1, type=click.UNPROCESSED)
@logging_options
def worker_cmd(address: str | None, head: bool, slots: int, node_ip_address: str | None, dry_run: bool,
               ray_args: tuple[str, ...]) -> None:
    """Join (or start) a Ray cluster, advertising one resource per target this host can build."""
    import shlex
    import subprocess

    from edgekit.matrix.worker import ray_start_command
    from edgekit.targets import describe_targets

    if head == bool(address):
        raise InputError("give exactly one of --address HOST:PORT and --head")
    if slots < 1:
        raise InputError(f"--slots must be >= 1, not {slots}")
    cmd = ray_start_command(describe_targets(), address=address, head=head, slots=slots,
                            node_ip=node_ip_address, extra=ray_args)
    if dry_run:
        click.echo(shlex.join(cmd))
        return
    try:
        code = subprocess.call(cmd)
    except FileNotFoundError as err:
        raise InputError("`ray` is not installed here", note="pip install 'edgekit[ray]'") from err
    if code:
        raise click.exceptions.Exit(code)
