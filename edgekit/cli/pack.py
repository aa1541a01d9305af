"""``edgekit pack``, ``keygen`` and ``sign``: ship a bundle as one file, signed."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._display import logging_options
from edgekit.cli._help import SectionedCommand, examples
from edgekit.errors import InputError


@click.command("pack", cls=SectionedCommand,
               epilog=examples(
    "edgekit pack model.edgekit",
    "edgekit pack model.edgekit --slim --out app.edgekit.zip"))
@click.argument("bundle", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="Archive to write (NAME.edgekit.zip).")
@click.option("--force", is_flag=True, help="Replace an existing archive.")
@click.option("--slim", is_flag=True, help="Leave out what an app does not need: reports, reference graph "
              "(the signature stays valid).")
@logging_options
def pack_cmd(bundle: str, out: str | None, force: bool, slim: bool) -> None:
    """Pack a verified BUNDLE into one NAME.edgekit.zip for shipping (load reads it directly)."""
    from edgekit.archive import pack

    path = pack(bundle, out, force, slim=slim)
    if slim:
        from edgekit.bundle import read_bundle
        from edgekit.slim import droppable

        m = read_bundle(bundle, verify=False).manifest
        left = droppable(m)
        saved = sum(m["files"][p]["size"] for p in left)
        click.echo(f"left out {len(left)} file(s), {saved / 1e6:.2f} MB: {', '.join(left) or 'none'}")
    click.echo(f"archive: {path} ({path.stat().st_size / 1e6:.2f} MB)")


@click.command("keygen", cls=SectionedCommand,
               epilog=examples(
    "edgekit keygen release.key"))
@click.argument("keyfile", type=click.Path(dir_okay=False))
@logging_options
def keygen_cmd(keyfile: str) -> None:
    """Create an Ed25519 signing key KEYFILE (private, mode 600) and KEYFILE.pub."""
    from edgekit.signing import generate_key

    click.echo(f"private key: {keyfile}\npublic key:  {generate_key(Path(keyfile))}")


@click.command("sign", cls=SectionedCommand,
               epilog=examples(
    "edgekit sign model.edgekit --key release.key"))
@click.argument("bundle", type=click.Path())
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="Ed25519 private key (PEM).")
@logging_options
def sign_cmd(bundle: str, key: str) -> None:
    """Sign BUNDLE's manifest (which holds every file's sha256) with an Ed25519 key."""
    from edgekit.bundle import read_bundle
    from edgekit.signing import sign

    if bundle.endswith(".zip") and Path(bundle).is_file():
        raise InputError(f"'{bundle}' is an archive; sign the bundle folder, then pack it",
                         note="the archive keeps the folder's signature.json, and load(verify_key=) checks it")
    click.echo(f"signature: {sign(read_bundle(bundle), key)}")
