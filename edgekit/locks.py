"""Liveness of private working folders by ``flock``, not by process id.

A folder in use (a compile's staging folder, a load's verified copy) is locked with
``fcntl.flock`` on its own directory descriptor for as long as it is used. The kernel
drops the lock when the holder dies, however it dies, and the lock is seen across PID
namespaces and containers sharing the file system, where ``kill(pid, 0)`` is blind.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger("edgekit.locks")


class DirLock:
    """An exclusive flock on a folder, released by ``close`` (or by the process ending)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def __enter__(self) -> DirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hold_dir_lock(folder: Path) -> DirLock:
    """Locks ``folder`` (or a file) this process just created, for the life of the returned lock."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return DirLock(fd)


def is_locked(folder: Path) -> bool:
    """True when some live process holds ``folder``'s (or a file's) lock, or it cannot be checked."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return True  # gone, or not a folder we may judge: leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def remove_unlocked_dirs(folder: Path, prefix: str, min_age_s: float = 0.0) -> list[Path]:
    """Removes ``prefix*`` folders and files in ``folder`` that no live process holds; returns them.

    ``min_age_s`` spares entries modified more recently (one just created, not yet locked).
    """
    removed = []
    now = time.time()
    with contextlib.suppress(OSError):
        for stale in folder.glob(f"{glob_escape(prefix)}*"):
            if stale.is_symlink() or (min_age_s and now - stale.lstat().st_mtime < min_age_s) or is_locked(stale):
                continue
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
    if removed:
        log.debug("removed %d stale folder(s) in %s", len(removed), folder)
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
