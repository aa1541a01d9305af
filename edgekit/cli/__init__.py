"""The ``edgekit`` command: thin — parse, call the API, print.

User errors print one line (``error: …``) and exit 2 (3 failed parity, 4 backend
unavailable); a bug prints its traceback and exits 1. ``--debug`` shows tracebacks
for user errors too. Each command lives in its own module; this one holds the group
and the entry point.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

import click

from edgekit.cli._common import CONTEXT, EXIT_PARITY, echo_err
from edgekit.cli.bench import BENCH_SHARED, bench_cmd
from edgekit.cli.check import check_cmd
from edgekit.cli.compile import compile_cmd
from edgekit.cli.matrix import matrix_cmd, worker_cmd
from edgekit.cli.pack import keygen_cmd, pack_cmd, sign_cmd
from edgekit.cli.run import inspect_cmd, run_cmd
from edgekit.cli.targets import targets_cmd
from edgekit.errors import EdgekitError

__all__ = ["BENCH_SHARED", "EXIT_PARITY", "cli", "main"]


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors too.")
@click.version_option(package_name="edgekit", message="edgekit %(version)s")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edgekit: a trained model in, a verified edge artifact out."""
    if ctx.invoked_subcommand is None:  # bare `edgekit`: the help, as asked for, not a usage error
        click.echo(ctx.get_help())
        ctx.exit(0)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    from edgekit.config import load_settings

    # Read for every command, but only the commands that use it (compile) fail on an error in it.
    settings = load_settings(Path.cwd())
    ctx.obj["settings"] = settings
    ctx.default_map = {"compile": settings.defaults} if settings.defaults else None


for _command in (compile_cmd, check_cmd, run_cmd, inspect_cmd, bench_cmd, pack_cmd, keygen_cmd, sign_cmd,
                 targets_cmd, matrix_cmd, worker_cmd):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI, turning user errors into one line and an exit code."""
    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    bad = next((a for a in args if "\x00" in str(a)), None)
    if bad is not None:  # no path or value can hold one; click would fail deep in os.stat
        echo_err(f"error: argument {bad!r} contains a NUL byte; expected a path or value without one")
        return 2
    if not args:  # bare `edgekit`: the usage, as asked for, not as an error
        args = ["--help"]
    try:
        result = cli.main(args=args, prog_name="edgekit", standalone_mode=False)
    except EdgekitError as err:
        if debug:
            raise
        from edgekit.messages import for_cli

        echo_err(f"error: {for_cli(str(err))}")
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except OSError as err:
        if err.errno not in _USER_PATH_ERRNOS or debug:
            raise
        echo_err(f"error: path '{_short(err.filename)}': {err.strerror}; check the paths given")
        return 2
    except click.Abort:
        echo_err("aborted")
        return 130
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        echo_err(f"error: {err.format_message()}{hint}")
        return 2
    except click.ClickException as err:
        echo_err(f"error: {err.format_message()}")
        return err.exit_code
    return result if isinstance(result, int) else 0


# A path argument no file system can hold, or one that runs through a file: always the caller's.
_USER_PATH_ERRNOS = (errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP)


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 120 else f"{text[:60]}…{text[-40:]}"


def _entry() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
