"""The errors edgekit raises on purpose.

Each subclass names who must act. A bug in edgekit itself is *not* an
``EdgekitError``: it surfaces with its traceback so that it gets reported.
"""

from __future__ import annotations


class EdgekitError(Exception):
    """Root of every error edgekit raises deliberately. CLI exit code: 2."""

    exit_code = 2

    def __init__(self, message: str, note: str | None = None) -> None:
        self.message = message
        self.note = note
        super().__init__(message if note is None else f"{_sentence(message)} Note: {note}")


def _sentence(text: str) -> str:
    """A message that ends as a sentence, so that a following note does not run into it."""
    stripped = text.rstrip()
    return stripped if stripped.endswith((".", "!", "?", ":")) else f"{stripped}."


def one_line(value: object, limit: int | None = None) -> str:
    """A backend's multi-line message as one line (at most ``limit`` characters), for error text."""
    text = " ".join(str(value).split())
    return text if limit is None else text[:limit]


class InputError(EdgekitError):
    """The user's model, data or arguments are wrong; the message says what was expected."""


class TargetUnavailable(EdgekitError):
    """A backend or device is missing on this host; the message says how to get it."""

    exit_code = 4


class ParityError(EdgekitError):
    """The artifact does not behave like the reference model."""

    exit_code = 3

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class BundleError(EdgekitError):
    """A bundle is missing, corrupt, tampered with, or was marked as failed."""


class TargetBuildError(EdgekitError):
    """A backend refused to compile the graph; says which target and why."""


class InternalError(EdgekitError):
    """A backend failed on a graph edgekit itself produced: edgekit's bug, not the user's input.

    One clear line (which stage, which graph, the backend's message) and exit code 1, with
    the cause kept for ``--debug``.
    """

    exit_code = 1
    BUG_NOTE = "this is a bug in edgekit, not in your model or data; please report it with the --debug output"

    def __init__(self, message: str, note: str | None = None) -> None:
        super().__init__(message, note or self.BUG_NOTE)
