"""Verify and run the same bytes: a private, verified copy of a bundle for ``load``.

Checking hashes in the bundle folder and then handing a backend a *path* there leaves
a window in which a writer can swap a file. Instead every file is read once, its bytes
hashed while they are written into a fresh mode-0700 temporary folder that only this
process can write, and the backend opens that copy. With a verify key the signature is
checked first, over the very manifest bytes that are then parsed, before any (possibly
huge) model file is hashed. Stdlib only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import weakref
from pathlib import Path
from typing import Any

from edgekit.bundle import MANIFEST, Bundle, bundle_root, safe_relpath, validate_manifest
from edgekit.errors import BundleError
from edgekit.layout import Layout
from edgekit.locks import hold_dir_lock, remove_unlocked_dirs
from edgekit.safeio import MAX_JSON_BYTES, loads_json, read_regular
from edgekit.slim import SLIM_FILE, dropped_files

log = logging.getLogger("edgekit.snapshot")
SIGNATURE_FILE = Layout.SIGNATURE
SNAPSHOT_PREFIX = "edgekit-load-"
_CHUNK = 1 << 20


def verified_snapshot(path: str | os.PathLike[str], verify_key: Any = None) -> Bundle:
    """Reads a bundle once into a private verified copy and returns a Bundle of that copy.

    The copy is removed when the returned Bundle (and everything holding it) is gone.

    Raises:
        BundleError: missing, malformed, unsigned or wrongly signed, tampered with, or linked.
    """
    root = bundle_root(path)
    raw = _read_listed(root / MANIFEST, f"bundle manifest {root / MANIFEST}",
                       f"{root} is not a bundle: it has no {MANIFEST}")
    signature = None
    if verify_key is not None:
        from edgekit.signing import verify_bytes

        signature = _read_listed(root / SIGNATURE_FILE, f"{SIGNATURE_FILE} of {root.name}",
                                 f"bundle {root.name} is not signed, and a verify key was given")
        verify_bytes(raw, signature, verify_key, root.name)  # before hashing any model file
    try:
        manifest = loads_json(raw, f"bundle manifest {root / MANIFEST}", BundleError)
    except UnicodeDecodeError as err:
        raise BundleError(f"bundle manifest {root / MANIFEST} is not UTF-8 JSON") from err
    typed = validate_manifest(root, manifest)
    remove_unlocked_dirs(Path(tempfile.gettempdir()), SNAPSHOT_PREFIX, min_age_s=60.0)
    snap = Path(tempfile.mkdtemp(prefix=f"{SNAPSHOT_PREFIX}{os.getpid()}-"))  # mode 0700
    lock = hold_dir_lock(snap)
    try:
        skipped = dropped_files(root, manifest)  # a `pack --slim` bundle lacks its reports, by design
        for relpath, entry in manifest["files"].items():
            if relpath in skipped:
                continue
            parts = safe_relpath(relpath)
            copy_verified(root.joinpath(*parts), snap.joinpath(*parts), relpath, entry)
        if skipped:
            (snap / SLIM_FILE).write_text(json.dumps({"dropped": sorted(skipped)}) + "\n", encoding="utf-8")
        (snap / MANIFEST).write_bytes(raw)
        if signature is not None:
            (snap / SIGNATURE_FILE).write_bytes(signature)
    except BaseException as err:
        lock.close()
        shutil.rmtree(snap, ignore_errors=True)
        if isinstance(err, OSError):  # the temp folder, not the bundle: full, or read-only
            raise BundleError(f"cannot make the private verified copy of {root.name} in {snap.parent}: "
                              f"{err.strerror or err}", note="free space there, or point TMPDIR elsewhere") from err
        raise
    bundle = Bundle(snap, manifest, origin=root.resolve(), raw=raw, typed=typed)
    weakref.finalize(bundle, _remove, snap, lock)
    return bundle


def _remove(folder: Path, lock: Any) -> None:
    lock.close()
    shutil.rmtree(folder, ignore_errors=True)


def _read_listed(path: Path, what: str, missing: str) -> bytes:
    try:
        return read_regular(path, what, MAX_JSON_BYTES, BundleError)
    except FileNotFoundError as err:
        raise BundleError(missing) from err


def copy_verified(src: Path, dst: Path, relpath: str, entry: dict[str, Any]) -> None:
    """Copies one listed file, hashing exactly the bytes written; refuses links and size lies.

    Raises:
        BundleError: missing, a link, not a regular file, or its bytes do not match the manifest.
    """
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError as err:
        raise BundleError(f"bundle is incomplete: '{relpath}' is missing") from err
    except OSError as err:
        reason = ("is a symbolic link; links are refused" if err.errno == errno.ELOOP
                  else f"cannot be read: {err.strerror}")
        raise BundleError(f"bundle file '{relpath}' {reason}") from err
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            raise BundleError(f"bundle file '{relpath}' is not a regular, unlinked file; refused")
        if info.st_size != entry["size"]:
            raise BundleError(f"bundle file '{relpath}' is {info.st_size} bytes; the manifest says "
                              f"{entry['size']} (truncated or tampered with)")
        dst.parent.mkdir(parents=True, exist_ok=True)
        digest, remaining = hashlib.sha256(), entry["size"] + 1  # one byte more reveals growth
        with open(dst, "wb") as out:
            while remaining > 0 and (block := fh.read(min(_CHUNK, remaining))):
                digest.update(block)
                out.write(block)
                remaining -= len(block)
    if remaining != 1 or digest.hexdigest() != entry["sha256"]:
        raise BundleError(f"bundle file '{relpath}' does not match its sha256 in the manifest (tampered with)")

