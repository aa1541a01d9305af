"""Backend failures inside a compile stage, reported as which stage, which graph, what the backend said.

onnxruntime and OpenVINO raise their own untyped errors. Inside compile, a failure on a graph
edgekit produced (the portable, simplified, quantized or target graph) is edgekit's error, never
an ``InputError`` blaming the user: it becomes an ``InternalError`` (exit 1, bug-report hint).
Errors that already name who must act (a target's refusal, a parity verdict, bad user data
found by edgekit's own checks) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from edgekit.errors import EdgekitError, InputError, InternalError, one_line


@contextmanager
def stage_errors(stage: str, graph: str) -> Iterator[None]:
    """Wraps one stage: ``stage`` (e.g. "stage attribution") running the ``graph`` (e.g. "simplified")."""
    try:
        yield
    except InputError as err:
        cause = err.__cause__
        if cause is None or isinstance(cause, EdgekitError):
            raise  # edgekit's own check of the user's data or arguments
        raise InternalError(f"{stage}: the backend failed on the {graph} graph edgekit produced: "
                            f"{one_line(err.message, 500)}") from err
    except EdgekitError:
        raise
    except Exception as err:  # onnxruntime Fail/InvalidArgument, OpenVINO conversion errors, ...
        raise InternalError(f"{stage}: the backend failed on the {graph} graph edgekit produced: "
                            f"{type(err).__name__}: {one_line(err, 500)}") from err
