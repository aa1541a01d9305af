"""``edgekit check``: re-run parity on a bundle (golden samples, or against the original model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgekit.cli._common import EXIT_PARITY, echo_err, open_bundle, option_decorators
from edgekit.cli._display import echo_out, logging_options
from edgekit.cli._help import SectionedCommand, examples
from edgekit.errors import InputError


@click.command("check", cls=SectionedCommand,
               epilog=examples(
    "edgekit check model.edgekit",
    "edgekit check model.edgekit --against model.onnx --data test.npz --report parity.html",
    "edgekit check model.edgekit --layers"))
@click.argument("bundle", type=click.Path())
@click.option("--against", metavar="MODEL", help="Original model to compare with (default: golden samples).")
@click.option("--weights", type=click.Path(dir_okay=False), help="State dict for a factory --against.")
@click.option("--data", "--eval", "data", metavar="DATA", help="Data to compare on (needs --against).")
@click.option("--target", help="Which of the bundle's targets to check.")
@click.option("--verify-key", type=click.Path(dir_okay=False), help="Refuse the bundle unless this key signed it.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False),
              help="Write the report: .json, .md or .html (by the file's suffix).")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write the verdicts as JUnit XML.")
@click.option("--save-inputs", type=click.Path(file_okay=False), metavar="DIR",
              help="Write the inputs this check compared to DIR, to reproduce it elsewhere.")
@click.option("--load-inputs", type=click.Path(file_okay=False), metavar="DIR",
              help="Compare on inputs written by --save-inputs (with --against).")
@click.option("--layers", is_flag=True, help="Find the layer where accuracy was lost (fp32 graph vs artifact).")
@option_decorators(("allow-pickle",))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@logging_options
def check_cmd(bundle: str, against: str | None, weights: str | None, data: str | None, target: str | None,
              verify_key: str | None, report_file: str | None, junit: str | None, save_inputs: str | None,
              load_inputs: str | None, layers: bool, allow_pickle: bool, as_json: bool) -> None:
    """Re-run parity on BUNDLE: its golden samples on this host, or against the original model."""
    from edgekit.api import check

    data = _check_arguments(report_file, junit, data, save_inputs, load_inputs)
    if layers:
        _check_layers(bundle, against, data, target, as_json)
        return
    report = check(bundle, against, data, target=target, weights=weights, verify_key=verify_key,
                   allow_pickle=allow_pickle)
    name = report.candidate.split(" ")[0]
    if save_inputs:
        from edgekit.parity.saved_inputs import check_batches
        from edgekit.parity.saved_inputs import save_inputs as write_inputs

        count = write_inputs(save_inputs, check_batches(open_bundle(bundle), name, data))
        echo_err(f"wrote {count} input batch(es) to {save_inputs}")
    if report_file:
        _write_report(Path(report_file), bundle, name, report)
    if junit:
        from edgekit.parity.junit import write_junit

        write_junit({name: report}, junit)
    _print_report(report, as_json)
    if not report.passed:
        raise click.exceptions.Exit(EXIT_PARITY)


def _check_arguments(report_file: str | None, junit: str | None, data: str | None, save_inputs: str | None,
                     load_inputs: str | None) -> str | None:
    """Refuses bad output paths and input folders before the check runs; returns the DATA to compare on."""
    from edgekit.safeio import check_output_path

    for path_value, flag in ((report_file, "--report"), (junit, "--junit")):
        if path_value:
            check_output_path(path_value, flag)
    if load_inputs:
        from edgekit.parity.saved_inputs import inputs_folder

        if data:
            raise InputError("give --data or --load-inputs, not both")
        data = str(inputs_folder(load_inputs))
    if save_inputs and Path(save_inputs).is_dir() and any(Path(save_inputs).iterdir()):
        raise InputError(f"--save-inputs folder '{save_inputs}' is not empty", note="give a new or empty folder")
    return data


def _check_layers(bundle: str, against: str | None, data: str | None, target: str | None, as_json: bool) -> None:
    from edgekit.api import check_layers
    from edgekit.parity.layers import format_layers

    if against and not against.endswith(".onnx"):
        raise InputError(f"--layers compares ONNX graphs tensor by tensor; --against '{against}' is not an "
                         ".onnx file", note="export it to .onnx and pass that, or compile with --keep-fp32 "
                         "and leave out --against")
    result = check_layers(bundle, against, data, target=target)
    if as_json:
        echo_out(json.dumps(result, indent=2, default=str))
    else:
        click.echo("\n".join([*result["notes"], format_layers(result)]))


def _write_report(path: Path, bundle: str, name: str, report: Any) -> None:
    """The report as .json, .html or (anything else) Markdown, by the file's suffix."""
    from edgekit.parity.writer import markdown, parity_document

    if path.suffix == ".json":
        path.write_text(json.dumps(parity_document({name: report}), indent=2, allow_nan=False) + "\n")
    elif path.suffix in (".html", ".htm"):
        from edgekit.parity.html import render

        path.write_text(render({name: report}, open_bundle(bundle).manifest), encoding="utf-8")
    else:
        path.write_text(markdown({name: report}))


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        echo_out(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"checked {report.candidate}")
    click.echo(report.summary())
    for failure in report.failures:
        click.echo(f"  failure: {failure}")
    for warning in report.warnings:
        click.echo(f"  warning: {warning}")
