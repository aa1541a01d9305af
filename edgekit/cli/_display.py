"""The terminal side of logging: where progress records go, at what detail, in what form.

The library logs (``edgekit.progress`` and friends) and never prints. Each command gets
``-v/--verbose``, ``-q/--quiet``, ``--log-file FILE`` and ``--debug`` from ``logging_options``:
progress goes to stderr (also with ``--json``, whose stdout stays one JSON document), as a
``rich`` display on a terminal and as plain ``[  3.2s] …`` lines elsewhere. Other packages'
records and Python warnings show only with ``-v``; ``--log-file`` gets everything.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
CHATTY = ("matplotlib", "PIL")  # thousands of debug lines (font scans) that say nothing about the compile
_STATE: dict[str, Any] = {"stdout": None}


def real_stdout() -> TextIO:
    """The stdout a command's result goes to (``sys.stdout`` may be sent to the log meanwhile)."""
    return _STATE["stdout"] or sys.stdout


class _OwnOrVerbose(logging.Filter):
    """edgekit's own records always; other packages' and warnings only with -v. Counters never (bars draw them)."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "progress", None) is not None:
            return False
        return self.verbose or record.name == "edgekit" or record.name.startswith("edgekit.")


class PlainHandler(logging.Handler):
    """``[  3.2s] message`` lines on stderr: elapsed time since the command started."""

    def __init__(self, start: float, stream: TextIO | None = None) -> None:
        super().__init__()
        # Bound now: a library that swaps sys.stderr for a while (an exporter's chatter) must not swallow us.
        self.start, self.stream = start, stream or sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream
            prefix = "" if record.name.startswith("edgekit") else f"{record.levelname.lower()}: {record.name}: "
            stream.write(f"[{time.monotonic() - self.start:6.1f}s] {prefix}{record.getMessage()}\n")
            stream.flush()
        except Exception:  # a closed stream must not break the command
            self.handleError(record)


class RichHandler(logging.Handler):
    """A rich display on a terminal: each stage with its elapsed time, bars for counters."""

    def __init__(self, start: float, verbose: bool) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.start, self.filter_own = start, _OwnOrVerbose(verbose)
        self.console = Console(file=sys.stderr)  # bound now, as PlainHandler's stream
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=self.console, transient=True)
        self.tasks: dict[str, Any] = {}
        self.totals: dict[str, int | None] = {}
        self.stage: tuple[str, float] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            counter = getattr(record, "progress", None)
            if counter is not None:
                self._count(*counter)
                return
            if not self.filter_own.filter(record):
                return
            self._drop_open_counters()  # a counter without a total (parity samples) ends at the next line
            stage = getattr(record, "stage", None)
            if stage:
                self.close_stage()
                self.stage = (stage, time.monotonic())
            style = "yellow" if record.levelno >= logging.WARNING else "dim" if record.levelno < logging.INFO else ""
            elapsed = f"[dim][{time.monotonic() - self.start:6.1f}s][/dim] "
            message = _escape(record.getMessage())
            self.console.print(elapsed + (f"[{style}]{message}[/{style}]" if style else message), highlight=False,
                               soft_wrap=True)
        except Exception:
            self.handleError(record)

    def _count(self, done: int, total: int | None, label: str) -> None:
        if label not in self.tasks:
            self.bars.start()
            self.tasks[label] = self.bars.add_task(label, total=total)
        self.totals[label] = total
        self.bars.update(self.tasks[label], completed=done, total=total)
        if total is not None and done >= total:
            self.bars.remove_task(self.tasks.pop(label))
            if not self.tasks:
                self.bars.stop()

    def _drop_open_counters(self) -> None:
        for label in [k for k, total in self.totals.items() if total is None and k in self.tasks]:
            self.bars.remove_task(self.tasks.pop(label))
        if not self.tasks:
            self.bars.stop()

    def close_stage(self) -> None:
        """Says how long the stage that just ended took."""
        if self.stage is not None:
            name, began = self.stage
            self.console.print(f"[dim]         {name} took {time.monotonic() - began:.1f}s[/dim]", highlight=False)
            self.stage = None

    def close(self) -> None:
        for task in list(self.tasks.values()):
            self.bars.remove_task(task)
        self.tasks.clear()
        self.bars.stop()
        self.close_stage()
        super().close()


def finish_stages() -> None:
    """Closes the running stage's timer before a command prints its result."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RichHandler):
            handler.close_stage()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def logging_session(verbose: bool, quiet: bool, log_file: str | None, json_mode: bool) -> Iterator[None]:
    """Installs the handlers for one command and removes them after (tests run many commands in one process)."""
    start = time.monotonic()
    root, own = logging.getLogger(), logging.getLogger("edgekit")
    saved = (root.level, own.level, sys.stdout, _STATE["stdout"])
    handlers: list[logging.Handler] = []
    tty = sys.stderr.isatty() and not quiet
    console: logging.Handler = RichHandler(start, verbose) if tty else PlainHandler(start)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if not tty:
        console.addFilter(_OwnOrVerbose(verbose))
    handlers.append(console)
    if log_file:
        from edgekit.safeio import check_output_path

        check_output_path(log_file, "--log-file")
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
        handlers.append(file_handler)
    for handler in handlers:
        root.addHandler(handler)
    everything = verbose or bool(log_file)
    root.setLevel(logging.DEBUG if everything else logging.WARNING)
    own.setLevel(logging.DEBUG if everything or tty else logging.WARNING if quiet else logging.INFO)
    chatty = {name: logging.getLogger(name).level for name in CHATTY}
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO)
    logging.captureWarnings(True)
    _STATE["stdout"] = sys.stdout
    if json_mode:  # a third-party print during a library call must not break the one JSON document
        from edgekit.progress import _LogStream

        sys.stdout = _LogStream(logging.getLogger("edgekit.stdout"))  # type: ignore[assignment]
    try:
        yield
    finally:
        logging.captureWarnings(False)
        if sys.stdout is not saved[2]:
            sys.stdout.flush()
            sys.stdout = saved[2]
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for name, level in chatty.items():
            logging.getLogger(name).setLevel(level)
        root.setLevel(saved[0])
        own.setLevel(saved[1])
        _STATE["stdout"] = saved[3]


def logging_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds -v/-q/--log-file/--debug to a command and runs it inside a logging session."""

    @functools.wraps(fn)
    def wrapper(*args: Any, verbose: bool, quiet: bool, log_file: str | None, **kwargs: Any) -> Any:
        if verbose and quiet:
            from edgekit.errors import InputError

            raise InputError("give -v/--verbose or -q/--quiet, not both")
        with logging_session(verbose, quiet, log_file, bool(kwargs.get("as_json"))):
            return fn(*args, **kwargs)

    from edgekit.cli._help import LOGGING, GroupedOption

    grouped: dict[str, Any] = {"cls": GroupedOption, "group": LOGGING}
    options = [
        click.option("-v", "--verbose", is_flag=True, help="Show debug detail and other packages' log records.",
                     **grouped),
        click.option("-q", "--quiet", is_flag=True, help="Show warnings and errors only, no progress.", **grouped),
        click.option("--log-file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Also write everything (debug level, timestamped) to FILE.", **grouped),
        click.option("--debug", is_flag=True, expose_value=False, help="Show tracebacks for user errors too.",
                     **grouped),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def echo_out(text: str) -> None:
    """A command's result on the real stdout, even while third-party prints are sent to the log."""
    click.echo(text, file=real_stdout())
