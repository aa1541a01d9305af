"""``edgekit compile``: MODEL in, a verified bundle out."""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from edgekit.cli._common import EXIT_PARITY, echo_err, option_decorators
from edgekit.cli._display import echo_out, finish_stages, logging_options
from edgekit.cli._help import SectionedCommand, examples
from edgekit.errors import InputError


@click.command("compile", cls=SectionedCommand,
               epilog=examples(
    "edgekit compile model.onnx --eval test.npz",
    "edgekit compile mypkg.models:net --weights net.safetensors --input x:1x3x224x224 --dynamic x:0",
    "edgekit compile model.onnx --target cpu,intel-cpu --precision int8 --calib calib.npz",
    "edgekit compile model.onnx --precision auto --json > result.json"))
@click.argument("model", required=False)
@option_decorators()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@logging_options
def compile_cmd(model: str | None, as_json: bool, **params: Any) -> None:
    """Compile MODEL (.onnx, TorchScript, .pt2, or package.module:factory) into a verified bundle."""
    from dataclasses import replace

    from edgekit.config import Settings

    settings = (click.get_current_context().obj or {}).get("settings") or Settings()
    settings.for_command()  # a bad settings file stops the command that reads it
    if not model:
        raise InputError("no MODEL given", note="pass it, or set `model` in [tool.edgekit] or edgekit.toml")
    if settings.defaults:
        logging.getLogger("edgekit.cli").info("settings: %s", settings.origin)
    from edgekit.extras import require_compile

    require_compile("edgekit compile")
    from edgekit.api import compile as compile_api
    from edgekit.compiler.options import CompileOptions

    opts = replace(CompileOptions.from_cli(params), settings_file=settings.origin if settings.defaults else None)
    art = compile_api(model, options=opts)  # progress arrives as log records (cli/_display.py)
    finish_stages()
    if as_json:
        echo_out(json.dumps({"bundle": str(art.path), "passed": art.passed,
                               "reports": {n: r.to_dict() for n, r in art.reports.items()}}, indent=2))
    else:
        _print_result(art)
    if not art.passed:
        echo_err(f"error: the bundle was written but failed parity; see {art.path / 'parity.md'}")
        raise click.exceptions.Exit(EXIT_PARITY)


def _print_result(art: Any) -> None:
    from edgekit.describe import bundle_size

    click.echo(f"bundle: {art.path} ({bundle_size(art.path) / 1e6:.2f} MB)")
    for name, report in art.reports.items():
        click.echo(f"{name}: {report.summary()}")
        for failure in report.failures:
            click.echo(f"  failure: {failure}")
        for note in report.notes:
            if note.startswith("WARNING"):
                click.echo(f"  {note}")
