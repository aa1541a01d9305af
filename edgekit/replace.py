"""Committing a staged bundle so that a kill at any instant leaves the old bundle or the new one.

- Replacing swaps the two folders in one step with Linux ``renameat2(RENAME_EXCHANGE)``;
  where the kernel or file system lacks it, the old bundle is renamed into a locked
  ``-old-`` folder first and the new one renamed into place.
- Staging and ``-old-`` folders are ``flock``-ed by their owner (``edgekit.locks``); a
  later run removes only unlocked ones, and *restores* an ``-old-`` bundle whose place
  is empty (a kill between the two renames) instead of deleting it.
- ``kill_point`` lets tests end the process at a named step (``EDGEKIT_TEST_KILL_AT``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
from pathlib import Path

from edgekit.locks import is_locked

log = logging.getLogger("edgekit.replace")
KILL_ENV = "EDGEKIT_TEST_KILL_AT"
NO_EXCHANGE_ENV = "EDGEKIT_NO_RENAME_EXCHANGE"  # tests: take the two-rename fallback
OLD_MARK = "-old-"
RETIRED_NAME = "b"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def kill_point(step: str) -> None:
    """Ends the process abruptly at ``step`` when a test asks for it; a no-op otherwise."""
    if os.environ.get(KILL_ENV) == step:
        os._exit(137)


def exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two existing paths; False when this system cannot (then nothing changed)."""
    if os.environ.get(NO_EXCHANGE_ENV) or not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    libc = _libc()
    renameat2 = getattr(libc, "renameat2", None) if libc is not None else None
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def replace_dir(staging: Path, out: Path, retired: Path) -> None:
    """Puts ``staging`` at ``out``. An existing ``out`` is swapped out atomically when possible,
    else moved into ``retired`` (a locked, empty folder) before the new one moves in."""
    if not out.exists():
        kill_point("before-rename")
        os.rename(staging, out)
        return
    kill_point("before-exchange")
    if exchange(staging, out):
        kill_point("after-exchange")
        shutil.rmtree(staging, ignore_errors=True)  # now the old bundle
        return
    os.rename(out, retired / RETIRED_NAME)
    kill_point("between-renames")
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(retired / RETIRED_NAME, out)  # put the old bundle back before failing
        raise
    kill_point("after-renames")


def clean_staging(out: Path, prefix: str) -> None:
    """Removes what dead runs left beside ``out``; restores an old bundle a kill left without a home."""
    folder = out.parent
    for stale in sorted(folder.glob(f"{_escape(prefix)}*")):
        if not stale.is_dir() or stale.is_symlink() or is_locked(stale):
            continue
        old = stale / RETIRED_NAME
        if OLD_MARK in stale.name and not out.exists() and not out.is_symlink() and old.is_dir():
            try:
                os.rename(old, out)
                log.warning("restored the bundle %s that an interrupted --force replace had moved aside", out)
            except OSError as err:
                log.warning("could not restore %s from %s: %s", out, old, err)
                continue
        shutil.rmtree(stale, ignore_errors=True)


def _escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
