"""``edgekit run`` and ``edgekit inspect``: use a bundle, or look inside it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._common import open_bundle
from edgekit.cli._display import echo_out, logging_options
from edgekit.cli._help import SectionedCommand, examples
from edgekit.errors import InputError


@click.command("run", cls=SectionedCommand,
               epilog=examples(
    "edgekit run model.edgekit --input x=sample.npy",
    "edgekit run model.edgekit.zip --input x=sample.npy --output outputs.npz --json"))
@click.argument("bundle", type=click.Path())
@click.option("--input", "input_", multiple=True, metavar="NAME=FILE.npy", required=True,
              help="An input array from a .npy file (repeat per input).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write outputs to this .npz.")
@click.option("--target", help="Run on exactly this target.")
@click.option("--accept-failed", is_flag=True, help="Run a bundle that failed parity.")
@click.option("--verify-key", type=click.Path(dir_okay=False), help="Refuse the bundle unless this key signed it.")
@click.option("--json", "as_json", is_flag=True, help="Print the target and the outputs (full values) as JSON.")
@logging_options
def run_cmd(bundle: str, input_: tuple[str, ...], output: str | None, target: str | None,
            accept_failed: bool, verify_key: str | None, as_json: bool) -> None:
    """Run BUNDLE on inputs from .npy files."""
    import numpy as np

    from edgekit.api import load
    from edgekit.safeio import check_output_path, load_npy

    if output:
        output = output if output.endswith(".npz") else f"{output}.npz"  # what np.savez writes
        check_output_path(output, "--output")
    feed = {}
    for item in input_:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise InputError(f"--input '{item}' is not of the form NAME=FILE.npy")
        feed[name] = load_npy(Path(file), f"--input {name}")
    rt = load(bundle, target, accept_failed=accept_failed, verify_key=verify_key)
    outputs = rt.run(feed)
    if output:
        np.savez(output, **outputs)
        if not as_json:
            click.echo(f"wrote {len(outputs)} output(s) to {output}")
    if as_json:
        echo_out(json.dumps({"target": rt.target, "target_reason": rt.target_reason, "outputs": {
            name: {"dtype": str(arr.dtype), "shape": list(arr.shape), "values": np.asarray(arr).tolist()}
            for name, arr in outputs.items()}}))
        return
    for name, arr in outputs.items():
        flat = np.asarray(arr).reshape(-1)
        preview = np.array2string(flat[:8], precision=5, separator=", ")
        click.echo(f"{name}: {arr.dtype}{list(arr.shape)} {preview}{' …' if flat.size > 8 else ''}")


@click.command("inspect", cls=SectionedCommand,
               epilog=examples(
    "edgekit inspect model.edgekit",
    "edgekit inspect model.edgekit.zip --json"))
@click.argument("bundle", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@logging_options
def inspect_cmd(bundle: str, as_json: bool) -> None:
    """Show BUNDLE's signature, targets, precision, sizes, parity, and build host vs this host."""
    from edgekit.cli._tables import show
    from edgekit.describe import describe_parts

    b = open_bundle(bundle)
    if as_json:
        echo_out(json.dumps(b.manifest, indent=2))
    else:
        show(describe_parts(b))
