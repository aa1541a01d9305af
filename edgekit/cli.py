"""The ``edgekit`` command: thin — parse, call the API, print.

User errors print one line (``error: …``) and exit 2 (3 failed parity, 4 backend
unavailable); a bug prints its traceback and exits 1. ``--debug`` shows tracebacks
for user errors too.
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from edgekit.errors import EdgekitError, InputError
from edgekit.layout import Layout
from edgekit.runtimes.base import MODES

EXIT_PARITY = 3
# compile options that bench takes too
BENCH_SHARED = ("weights", "input", "dynamic", "calib", "eval", "allow-pickle")
BENCH_HELP = {"input": "For a MODEL, as in compile.", "dynamic": "For a MODEL, as in compile.",
              "calib": "For a MODEL at int8, as in compile.", "eval": "For a MODEL, as in compile."}


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _lower(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Target and precision names are case-insensitive (``--precision INT8``)."""
    return value.strip().lower() if isinstance(value, str) else value


def _open_bundle(path: str) -> Any:
    """A bundle folder or a packed ``.edgekit.zip`` (unpacked into the user cache, as load does)."""
    from edgekit.archive import bundle_folder
    from edgekit.bundle import read_bundle

    return read_bundle(bundle_folder(path))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors too.")
@click.version_option(package_name="edgekit", message="edgekit %(version)s")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edgekit: a trained model in, a verified edge artifact out."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    from edgekit.config import load_settings

    # Read for every command, but only the commands that use it (compile) fail on an error in it.
    settings = load_settings(Path.cwd())
    ctx.obj["settings"] = settings
    ctx.default_map = {"compile": settings.defaults} if settings.defaults else None


def _option_decorators(flags: tuple[str, ...] | None = None,
                       helps: dict[str, str] | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Click options generated from ``COMPILE_OPTIONS`` (all, or the named flags, in that order)."""
    from edgekit.compiler.options import COMPILE_OPTIONS, OPTIONS_BY_FLAG

    chosen = [OPTIONS_BY_FLAG[f] for f in flags] if flags else list(COMPILE_OPTIONS)
    kinds: dict[str, Any] = {"int": int, "float": float, "file": click.Path(dir_okay=False),
                             "path": click.Path(), "str": None, "flag": None}

    def decorate(fn: Callable[..., Any]) -> Any:
        for opt in reversed(chosen):
            kwargs: dict[str, Any] = {"help": (helps or {}).get(opt.flag, opt.help) or None,
                                      "metavar": opt.metavar, "callback": _lower if opt.lower else None}
            if opt.kind == "flag":
                kwargs["is_flag"] = True
            elif opt.multiple:
                kwargs["multiple"] = True
            else:
                kwargs["type"] = click.Choice(list(opt.choices)) if opt.choices else kinds[opt.kind]
                if opt.minimum is not None:
                    kwargs["type"] = click.IntRange(min=opt.minimum)
                if opt.default is not None:
                    kwargs.update(default=opt.default, show_default=opt.show_default)
            fn = click.option(f"--{opt.flag}", opt.dest, **kwargs)(fn)
        return fn

    return decorate


@cli.command("compile")
@click.argument("model", required=False)
@_option_decorators()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def compile_cmd(model: str | None, as_json: bool, **params: Any) -> None:
    """Compile MODEL (.onnx, TorchScript, .pt2, or package.module:factory) into a verified bundle."""
    from dataclasses import replace

    from edgekit.config import Settings

    settings = (click.get_current_context().obj or {}).get("settings") or Settings()
    settings.for_command()  # a bad settings file stops the command that reads it
    if not model:
        raise InputError("no MODEL given", note="pass it, or set `model` in [tool.edgekit] or edgekit.toml")
    if settings.defaults and not as_json:
        _echo_err(f"settings: {settings.origin}")
    from edgekit.extras import require_compile

    require_compile("edgekit compile")
    from edgekit.api import compile as compile_api
    from edgekit.compiler.options import CompileOptions

    opts = replace(CompileOptions.from_cli(params), settings_file=settings.origin if settings.defaults else None)
    art = compile_api(model, options=opts, log=None if as_json else _echo_err)
    if as_json:
        click.echo(json.dumps({"bundle": str(art.path), "passed": art.passed,
                               "reports": {n: r.to_dict() for n, r in art.reports.items()}}, indent=2))
    else:
        from edgekit.describe import bundle_size

        click.echo(f"bundle: {art.path} ({bundle_size(art.path) / 1e6:.2f} MB)")
        for name, report in art.reports.items():
            click.echo(f"{name}: {report.summary()}")
            for failure in report.failures:
                click.echo(f"  failure: {failure}")
            for note in report.notes:
                if note.startswith("WARNING"):
                    click.echo(f"  {note}")
    if not art.passed:
        _echo_err(f"error: the bundle was written but failed parity; see {art.path / 'parity.md'}")
        raise click.exceptions.Exit(EXIT_PARITY)


@cli.command("check")
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
@_option_decorators(("allow-pickle",))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def check_cmd(bundle: str, against: str | None, weights: str | None, data: str | None, target: str | None,
              verify_key: str | None, report_file: str | None, junit: str | None, save_inputs: str | None,
              load_inputs: str | None, layers: bool, allow_pickle: bool, as_json: bool) -> None:
    """Re-run parity on BUNDLE: its golden samples on this host, or against the original model."""
    from edgekit.api import check
    from edgekit.safeio import check_output_path

    for path_value, flag in ((report_file, "--report"), (junit, "--junit")):
        if path_value:
            check_output_path(path_value, flag)  # before the check runs
    if load_inputs:
        from edgekit.parity.saved_inputs import inputs_folder

        if data:
            raise InputError("give --data or --load-inputs, not both")
        data = str(inputs_folder(load_inputs))
    if save_inputs and Path(save_inputs).is_dir() and any(Path(save_inputs).iterdir()):
        raise InputError(f"--save-inputs folder '{save_inputs}' is not empty", note="give a new or empty folder")
    if layers:
        from edgekit.api import check_layers
        from edgekit.parity.layers import format_layers

        if against and not against.endswith(".onnx"):
            raise InputError(f"--layers compares ONNX graphs tensor by tensor; --against '{against}' is not an "
                             ".onnx file", note="export it to .onnx and pass that, or compile with --keep-fp32 "
                             "and leave out --against")
        result = check_layers(bundle, against, data, target=target)
        if as_json:
            click.echo(json.dumps(result, indent=2, default=str))
        else:
            click.echo("\n".join([*result["notes"], format_layers(result)]))
        return
    report = check(bundle, against, data, target=target, weights=weights, verify_key=verify_key,
                   allow_pickle=allow_pickle)
    name = report.candidate.split(" ")[0]
    if save_inputs:
        from edgekit.parity.saved_inputs import check_batches
        from edgekit.parity.saved_inputs import save_inputs as write_inputs

        count = write_inputs(save_inputs, check_batches(_open_bundle(bundle), name, data))
        _echo_err(f"wrote {count} input batch(es) to {save_inputs}")
    if report_file:
        from edgekit.parity.writer import markdown, parity_document

        path = Path(report_file)
        if path.suffix == ".json":
            path.write_text(json.dumps(parity_document({name: report}), indent=2, allow_nan=False) + "\n")
        elif path.suffix in (".html", ".htm"):
            from edgekit.parity.html import render

            path.write_text(render({name: report}, _open_bundle(bundle).manifest), encoding="utf-8")
        else:
            path.write_text(markdown({name: report}))
    if junit:
        from edgekit.parity.junit import write_junit

        write_junit({name: report}, junit)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(f"checked {report.candidate}")
        click.echo(report.summary())
        for failure in report.failures:
            click.echo(f"  failure: {failure}")
        for warning in report.warnings:
            click.echo(f"  warning: {warning}")
    if not report.passed:
        raise click.exceptions.Exit(EXIT_PARITY)


@cli.command("run")
@click.argument("bundle", type=click.Path())
@click.option("--input", "input_", multiple=True, metavar="NAME=FILE.npy", required=True,
              help="An input array from a .npy file (repeat per input).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write outputs to this .npz.")
@click.option("--target", help="Run on exactly this target.")
@click.option("--accept-failed", is_flag=True, help="Run a bundle that failed parity.")
@click.option("--verify-key", type=click.Path(dir_okay=False), help="Refuse the bundle unless this key signed it.")
@click.option("--json", "as_json", is_flag=True, help="Print the target and the outputs (full values) as JSON.")
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
        click.echo(json.dumps({"target": rt.target, "target_reason": rt.target_reason, "outputs": {
            name: {"dtype": str(arr.dtype), "shape": list(arr.shape), "values": np.asarray(arr).tolist()}
            for name, arr in outputs.items()}}))
        return
    for name, arr in outputs.items():
        flat = np.asarray(arr).reshape(-1)
        preview = np.array2string(flat[:8], precision=5, separator=", ")
        click.echo(f"{name}: {arr.dtype}{list(arr.shape)} {preview}{' …' if flat.size > 8 else ''}")


@cli.command("inspect")
@click.argument("bundle", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def inspect_cmd(bundle: str, as_json: bool) -> None:
    """Show BUNDLE's signature, targets, precision, sizes, parity, and build host vs this host."""
    from edgekit.describe import describe

    b = _open_bundle(bundle)
    if as_json:
        click.echo(json.dumps(b.manifest, indent=2))
    else:
        click.echo(describe(b))


@cli.command("bench")
@click.argument("items", nargs=-1, required=True, metavar="BUNDLE…|MODEL")
@click.option("--targets", "--target", "targets", callback=_lower,
              help="Targets to measure (default: every one the bundles have / this host runs).")
@click.option("--precisions", "--precision", "precisions", default="fp32", callback=_lower,
              show_default=True, help="For a MODEL: precisions to build.")
@click.option("--against", metavar="MODEL", help="torch model for the speed-up column (a MODEL is its own).")
@_option_decorators(BENCH_SHARED, BENCH_HELP)
@click.option("--batch", default=8, show_default=True, type=int, help="Batch size of the throughput column.")
@click.option("--warmup", default=10, show_default=True, type=int)
@click.option("--iterations", default=200, show_default=True, type=int, help="Timed batch-1 runs at most.")
@click.option("--time-budget", default=10.0, show_default=True, type=float, help="Seconds per candidate at most.")
@click.option("--threads", type=int, help="Intra-op threads for every backend and torch.")
@click.option("--mode", type=click.Choice(list(MODES)), default="latency", show_default=True,
              help="throughput: load in throughput mode; samples/s at batch 1 and at the best batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False), help="Write the table as CSV.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write a latency-vs-parity chart.")
def bench_cmd(items: tuple[str, ...], targets: str | None, precisions: str, against: str | None,
              batch: int, warmup: int, iterations: int, time_budget: float, threads: int | None, mode: str,
              as_json: bool, csv_file: str | None, plot_file: str | None, **params: Any) -> None:
    """Measure bundles (or build MODEL at --targets x --precisions): one row per target x precision."""
    import math
    import tempfile

    from edgekit import bench
    from edgekit.safeio import check_output_path

    if batch < 1 or iterations < 1 or warmup < 0 or not (math.isfinite(time_budget) and time_budget > 0):
        raise InputError("--batch and --iterations must be >= 1, --warmup >= 0, "
                         "--time-budget a finite number > 0")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be >= 1 (got {threads})")
    for path_value, flag in ((csv_file, "--csv"), (plot_file, "--plot")):
        if path_value:
            check_output_path(path_value, flag)
    options = bench.BenchOptions(warmup, iterations, time_budget, batch, threads, mode=mode)
    from edgekit import extras

    if plot_file:
        extras.require_plotting("bench --plot")
    if (len(items) == 1 and not _is_bundle(items[0])) or against:
        extras.require_compile("bench MODEL" if not against else "bench --against")
    target_list = [t.strip() for t in targets.split(",")] if targets else None
    log = None if as_json else _echo_err
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        bundles, reference = list(items), against
        if len(items) == 1 and not _is_bundle(items[0]):
            from edgekit.api import compile as compile_api
            from edgekit.compiler.options import cli_keywords

            reference = reference or items[0]
            bundles = []
            for precision in [p.strip() for p in precisions.split(",") if p.strip()]:
                if log:
                    log(f"building {precision} for {','.join(target_list or ['cpu'])}")
                art = compile_api(items[0], target=target_list or "cpu", precision=precision,
                                  out=Path(tmp) / f"{precision}.edgekit", **cli_keywords(params, BENCH_SHARED))
                bundles.append(str(art.path))
        bundles = [str(_open_bundle(b).path) if b.endswith(".zip") else b for b in bundles]  # packed ones too
        torch_ms = None
        if reference is not None:
            feed, _, _ = bench.bench_feeds(_open_bundle(bundles[0]), batch)
            torch_ms = bench.torch_latency(reference, params["weights"], feed, options, params["allow_pickle"])
        rows = bench.bench_bundles(bundles, target_list, options, torch_ms, log)
    if csv_file:
        bench.write_csv(rows, csv_file)
    if plot_file:
        bench.plot(rows, plot_file)
    if as_json:
        click.echo(json.dumps({"torch_eager_p50_ms": torch_ms, "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        if torch_ms is not None:
            click.echo(f"torch eager p50: {torch_ms:.3f} ms (batch 1, same inputs and threads)")
        click.echo(bench.format_table(rows))


def _is_bundle(item: str) -> bool:
    path = Path(item)
    return (path / Layout.MANIFEST).is_file() or (item.endswith(".zip") and path.is_file())


@cli.command("pack")
@click.argument("bundle", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="Archive to write (NAME.edgekit.zip).")
@click.option("--force", is_flag=True, help="Replace an existing archive.")
@click.option("--slim", is_flag=True, help="Leave out what an app does not need: reports, reference graph "
              "(the signature stays valid).")
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


@cli.command("keygen")
@click.argument("keyfile", type=click.Path(dir_okay=False))
def keygen_cmd(keyfile: str) -> None:
    """Create an Ed25519 signing key KEYFILE (private, mode 600) and KEYFILE.pub."""
    from edgekit.signing import generate_key

    click.echo(f"private key: {keyfile}\npublic key:  {generate_key(Path(keyfile))}")


@cli.command("sign")
@click.argument("bundle", type=click.Path())
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="Ed25519 private key (PEM).")
def sign_cmd(bundle: str, key: str) -> None:
    """Sign BUNDLE's manifest (which holds every file's sha256) with an Ed25519 key."""
    from edgekit.bundle import read_bundle
    from edgekit.signing import sign

    if bundle.endswith(".zip") and Path(bundle).is_file():
        raise InputError(f"'{bundle}' is an archive; sign the bundle folder, then pack it",
                         note="the archive keeps the folder's signature.json, and load(verify_key=) checks it")
    click.echo(f"signature: {sign(read_bundle(bundle), key)}")


@cli.command("targets")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def targets_cmd(as_json: bool) -> None:
    """List every target, its backend version, and whether it is available here (or why not)."""
    from edgekit.targets import describe_targets

    rows = describe_targets()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "available" if row["available"] else f"unavailable: {row['reason']}"
        click.echo(f"{row['name']:<12} {row['backend']:<12} {row['version'] or '-':<12} {state}")


@cli.command("matrix")
@click.argument("plan_file", metavar="FILE", type=click.Path())
@click.option("--out", default="build/matrix", show_default=True, type=click.Path(file_okay=False),
              help="Folder for cell bundles, merged bundles and matrix.json/.md/.html.")
@click.option("--jobs", default=1, show_default=True, type=int, help="Local: cells built at once (processes).")
@click.option("--cluster", metavar="ray://HOST:PORT|HOST:PORT|auto",
              help="Run on a Ray cluster (nodes started with `edgekit worker`); auto: RAY_ADDRESS.")
@click.option("--max-retries", default=2, show_default=True, type=int, help="Ray: retries of a cell whose worker died.")
@click.option("--artifacts", type=click.Path(file_okay=False),
              help="Ray: a folder every node can write (shared file system) for cell bundles.")
def matrix_cmd(plan_file: str, out: str, jobs: int, cluster: str | None, max_retries: int,
               artifacts: str | None) -> None:
    """Build every model x target x precision of a release plan (edgekit.matrix.toml or pyproject)."""
    from edgekit.matrix.live import progress  # a live table when stderr is a terminal, else one line per cell
    from edgekit.matrix.plan import load_plan
    from edgekit.matrix.report import progress_line
    from edgekit.matrix.runner import run_matrix

    plan = load_plan(plan_file)
    with progress(plan, lambda r: _echo_err(progress_line(r))) as on_result:
        result = run_matrix(plan, out, jobs=jobs, cluster=cluster, max_retries=max_retries, artifacts=artifacts,
                            on_result=on_result)
    click.echo(f"matrix: {Path(out) / 'matrix.html'}")
    for key, path in result.document["bundles"].items():
        click.echo(f"bundle {key}: {Path(out) / path}")
    if result.required_failures:
        _echo_err(f"error: {len(result.required_failures)} required cell(s) failed:")
        for failure in result.required_failures:
            _echo_err(f"  {failure}")
        raise click.exceptions.Exit(EXIT_PARITY)


@cli.command("worker", context_settings={"ignore_unknown_options": True})
@click.option("--address", metavar="HOST:PORT", help="The Ray head to join (omit with --head).")
@click.option("--head", is_flag=True, help="Start a new cluster's head node on this host.")
@click.option("--slots", default=1, show_default=True, type=int, help="Concurrent builds per target on this node.")
@click.option("--node-ip-address", help="The address this node binds and advertises.")
@click.option("--dry-run", is_flag=True, help="Print the `ray start` command instead of running it.")
@click.argument("ray_args", nargs=-1, type=click.UNPROCESSED)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI, turning user errors into one line and an exit code."""
    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    bad = next((a for a in args if "\x00" in str(a)), None)
    if bad is not None:  # no path or value can hold one; click would fail deep in os.stat
        _echo_err(f"error: argument {bad!r} contains a NUL byte; expected a path or value without one")
        return 2
    if not args:  # bare `edgekit`: the usage, as asked for, not as an error
        args = ["--help"]
    try:
        result = cli.main(args=args, prog_name="edgekit", standalone_mode=False)
    except EdgekitError as err:
        if debug:
            raise
        from edgekit.messages import for_cli

        _echo_err(f"error: {for_cli(str(err))}")
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except OSError as err:
        if err.errno not in _USER_PATH_ERRNOS or debug:
            raise
        _echo_err(f"error: path '{_short(err.filename)}': {err.strerror}; check the paths given")
        return 2
    except click.Abort:
        _echo_err("aborted")
        return 130
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        _echo_err(f"error: {err.format_message()}{hint}")
        return 2
    except click.ClickException as err:
        _echo_err(f"error: {err.format_message()}")
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
