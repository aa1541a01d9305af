"""``python -m edgekit.cli`` runs the command line, as ``python -m edgekit`` does."""

from edgekit.cli import _entry

_entry()
