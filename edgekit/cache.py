"""The user cache folder: where edgekit keeps what it derives on a host (compiled
models, unpacked archives, TensorRT engines), never inside a bundle, which may be
read-only. ``EDGEKIT_CACHE_DIR`` overrides it; else ``$XDG_CACHE_HOME/edgekit``."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(kind: str) -> Path:
    """``<cache root>/<kind>``; not created here."""
    base = os.environ.get("EDGEKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgekit")
    return Path(base) / kind
