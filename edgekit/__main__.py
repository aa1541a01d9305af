from edgekit.cli import _entry

_entry()
