"""Progress as ``logging`` records: the library never prints; whoever owns the terminal shows them.

Every progress line is an INFO record of the ``edgekit.progress`` logger. A stage's first
line carries ``extra={"stage": name}``; a counter (calibration batches, parity samples,
fallback rounds, recipes, bench candidates) carries ``extra={"progress": (done, total, label)}``
(``total`` None when unknown) as a DEBUG record, so a display can draw bars without flooding
a plain log. ``log=`` callbacks of the public API still receive the lines too.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

LOGGER_NAME = "edgekit.progress"
logger = logging.getLogger(LOGGER_NAME)

Log = Callable[[str], None]


class Reporter:
    """A ``say(message)`` callable that logs each line and passes it on to an optional ``log=`` callback."""

    def __init__(self, log: Log | None = None) -> None:
        self.log = log

    def __call__(self, message: str, *, stage: str | None = None) -> None:
        level = logging.WARNING if message.lower().startswith("warning") else logging.INFO
        logger.log(level, message, extra={"stage": stage} if stage else None)
        if self.log is not None:
            self.log(message)


def reporter(log: Any = None) -> Reporter:
    """``log`` as a Reporter: an existing Reporter is kept, so wrapping twice never doubles lines."""
    return log if isinstance(log, Reporter) else Reporter(log)


def stage(say: Any, name: str, message: str) -> None:
    """Says ``message`` as the start of stage ``name`` (a plain callback just gets the line)."""
    if isinstance(say, Reporter):
        say(message, stage=name)
    else:
        say(message)


def count(done: int, total: int | None, label: str) -> None:
    """One step of a counter, for progress bars (DEBUG: plain logs stay short)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s: %d/%s", label, done, total if total is not None else "?",
                     extra={"progress": (done, total, label)})


class _LogStream(io.TextIOBase):
    """A text stream whose every line becomes a DEBUG record of ``logger`` (a file-like stand-in for
    stdout: ``isatty()`` is False, ``fileno()`` is unsupported, as for any in-memory stream)."""

    def __init__(self, logger_: logging.Logger) -> None:
        super().__init__()
        self._logger, self._pending = logger_, ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:  # type: ignore[override]
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self._logger.debug(line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self._logger.debug(self._pending.rstrip())
        self._pending = ""


@contextlib.contextmanager
def prints_logged(name: str) -> Iterator[None]:
    """Python-level ``print`` of a third-party library goes to the log (logger ``name``), never to stdout."""
    stream = _LogStream(logging.getLogger(name))
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        stream.flush()
