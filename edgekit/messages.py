"""Error text as the command line should show it: advice names flags, not Python keywords.

Library messages carry both spellings, ``pass --force (force=True)`` or
``pass accept_failed=True (CLI: --accept-failed)``; the CLI keeps only the flag.
"""

from __future__ import annotations

import re

_KEYWORD_AFTER_FLAG = re.compile(r"\s*\(\w+=[^()\s]+\)")  # " (force=True)" after the flag
_KEYWORD_BEFORE_FLAG = re.compile(r"\b\w+=[^()\s]+\s*\(CLI:\s*(--[\w-]+(?:\s+[^()]*)?)\)")


def for_cli(text: str) -> str:
    """``pass --force (force=True)`` → ``pass --force``; ``x=True (CLI: --x)`` → ``--x``."""
    return _KEYWORD_BEFORE_FLAG.sub(r"\1", _KEYWORD_AFTER_FLAG.sub("", text))
