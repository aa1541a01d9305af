"""Optional dependencies: whether a package is installed, found without importing it."""

from __future__ import annotations


def module_missing(name: str) -> bool:
    """True when ``name`` cannot be imported here; looks for it without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True
