"""``package.module:name`` references into the user's own code (model factories, data callables)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


def import_reference(text: str) -> Any:
    """The object ``text`` names, imported as the user's shell would: with the working folder on the path.

    Raises ImportError or AttributeError as Python does; callers say what the reference was for.
    """
    module_name, _, attr = text.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return getattr(importlib.import_module(module_name), attr)
