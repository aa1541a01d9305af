"""``NAME.edgekit.zip``: one file to ship a bundle, unpacked safely where it is loaded.

Extraction refuses absolute paths, ``..``, links and special files, and archive
bombs: a file-count limit, a total-size limit, and a compression-ratio limit that
is enforced on the bytes actually inflated, not on what the archive claims.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgekit.bundle import MANIFEST, SUFFIX, read_bundle, sha256_file
from edgekit.cache import user_cache_dir
from edgekit.errors import BundleError, InputError
from edgekit.layout import Layout
from edgekit.locks import hold_dir_lock, remove_unlocked_dirs
from edgekit.safeio import MAX_JSON_BYTES, check_output_path, file_kind, read_regular
from edgekit.slim import droppable

ARCHIVE_SUFFIX = SUFFIX + ".zip"


@dataclass(frozen=True)
class ExtractLimits:
    max_files: int = 10_000
    max_total_bytes: int = 64 * 2**30
    max_ratio: float = 200.0  # inflated bytes per compressed byte, per file


PACK_MARK = ".tmp-pack-"
UNPACK_PREFIX = ".unpack-"
MAX_NAME = 1024


def pack(bundle: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, force: bool = False,
         slim: bool = False) -> Path:
    """Writes a verified bundle into one zip file (atomically); returns its path.

    ``slim``: leave out what no runtime reads (reports, reference graph; see edgekit/slim.py).
    """
    b = read_bundle(bundle)
    name = b.path.name
    target = Path(out) if out is not None else b.path.with_name(name + ".zip")
    if not target.name.endswith(ARCHIVE_SUFFIX):
        raise InputError(f"archive path '{target}' must end in '{ARCHIVE_SUFFIX}'")
    check_output_path(target, "--out")
    if (target.exists() or target.is_symlink()) and not force:
        raise InputError(f"'{target}' already exists", note="pass --force to replace it")
    prefix = f".{target.name}{PACK_MARK}"
    remove_unlocked_dirs(target.parent, prefix)  # temp files of killed pack runs
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=target.parent)
    lock = hold_dir_lock(Path(tmp))
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            archive.writestr(MANIFEST, b.raw if b.raw is not None else (b.path / MANIFEST).read_bytes())
            left_out = set(droppable(b.manifest)) if slim else set()
            for rel in sorted(set(b.manifest["files"]) - left_out):
                archive.write(b.path / rel, rel)
            if slim:
                archive.writestr(Layout.SLIM, json.dumps({"dropped": sorted(left_out)}, indent=2) + "\n")
            signature = b.path / Layout.SIGNATURE
            if signature.is_file() and not signature.is_symlink():
                archive.write(signature, Layout.SIGNATURE)
        os.replace(tmp, target)
    finally:
        lock.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def unpack(archive: str | os.PathLike[str], cache_dir: Path | None = None,
           limits: ExtractLimits = ExtractLimits()) -> Path:
    """Extracts an archive into the user cache, keyed by the archive's sha256; returns the bundle folder.

    A cached copy is reused only while its manifest is byte-identical to the archive's
    (``load`` then re-verifies every file against it); otherwise it is extracted afresh.

    Raises:
        BundleError: not a zip, or an entry is unsafe, or the archive is a bomb.
        InputError: the cache folder cannot be used.
    """
    path = Path(archive)
    if file_kind(path, "archive") != "file" or not zipfile.is_zipfile(path):
        raise BundleError(f"'{path}' is not a zip archive")
    digest = sha256_file(path)
    cache = cache_dir or user_cache_dir("bundles")
    root = cache / digest[:32]
    bundle_dir = root / path.name[: -len(".zip")]
    expected = _archive_manifest(path)
    if _cached_manifest(bundle_dir) == expected and _verifies(bundle_dir):
        return bundle_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot use the bundle cache folder '{cache}': {err.strerror or err}",
                         note="set EDGEKIT_CACHE_DIR to a writable folder") from err
    remove_unlocked_dirs(root, UNPACK_PREFIX)  # what killed unpack runs left
    staging = Path(tempfile.mkdtemp(prefix=UNPACK_PREFIX, dir=root))
    lock = hold_dir_lock(staging)
    try:
        _extract(path, staging, limits)
        if bundle_dir.exists() or bundle_dir.is_symlink():  # a stale or tampered copy: replace it
            retired = Path(tempfile.mkdtemp(prefix=UNPACK_PREFIX, dir=root))
            with contextlib.suppress(OSError):
                os.replace(bundle_dir, retired / "b")
            shutil.rmtree(retired, ignore_errors=True)
        try:
            os.replace(staging, bundle_dir)
        except OSError:  # another process unpacked the same archive first
            if _cached_manifest(bundle_dir) != expected:
                raise
    finally:
        lock.close()
        shutil.rmtree(staging, ignore_errors=True)
    return bundle_dir


def bundle_folder(path: str | os.PathLike[str]) -> Path:
    """The bundle folder for a path: itself, or for a ``.edgekit.zip`` its verified unpacked copy."""
    if str(path).endswith(".zip") and os.path.isfile(path):
        return unpack(path)
    return Path(path)


def _archive_manifest(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(MANIFEST)
            if info.file_size > MAX_JSON_BYTES:
                raise BundleError(f"archive '{path.name}': its {MANIFEST} is too large")
            with archive.open(info) as fh:
                return fh.read(MAX_JSON_BYTES + 1)
    except KeyError as err:
        raise BundleError(f"archive '{path.name}' holds no {MANIFEST}: not a packed bundle") from err
    except _READ_ERRORS as err:
        raise BundleError(f"archive '{path.name}': its {MANIFEST} cannot be read: {_why(err)}") from err


def _verifies(bundle_dir: Path) -> bool:
    """Whether a cached copy still matches its manifest (a tampered copy is extracted afresh)."""
    try:
        read_bundle(bundle_dir, verify=True)
    except BundleError:
        return False
    return True


def _cached_manifest(bundle_dir: Path) -> bytes | None:
    try:
        return read_regular(bundle_dir / MANIFEST, MANIFEST, MAX_JSON_BYTES, BundleError)
    except (OSError, BundleError):
        return None


_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError,
                ValueError)  # RuntimeError: encrypted; NotImplementedError: compression method


def _why(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:200]


def _extract(path: Path, dest: Path, limits: ExtractLimits) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except _READ_ERRORS as err:
        raise BundleError(f"'{path}' is not a readable zip archive: {_why(err)}") from err
    # Compressed sizes in an archive are claims; its size on disk is not.
    ceiling = min(limits.max_total_bytes, int(limits.max_ratio * max(path.stat().st_size, 1)) + 2**20)
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_files:
            raise BundleError(f"archive '{path.name}' holds {len(infos)} entries; the limit is {limits.max_files}")
        total = 0
        for info in infos:
            target = _safe_target(dest, info)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if info.flag_bits & 0x1:
                    raise BundleError(f"archive entry '{info.filename}' is encrypted; refused")
                target.parent.mkdir(parents=True, exist_ok=True)
                total += _inflate(archive, info, target, ceiling - total, limits)
            except BundleError:
                raise
            except _READ_ERRORS as err:
                raise BundleError(f"archive entry '{info.filename[:200]}' cannot be extracted: {_why(err)}") from err


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int,
             limits: ExtractLimits) -> int:
    """Writes one entry, counting the bytes actually inflated against ``budget``; returns them."""
    written = 0
    with archive.open(info) as src, open(target, "xb") as out:
        while block := src.read(1 << 20):
            written += len(block)
            if written > budget:
                raise BundleError(
                    f"archive entry '{info.filename}' inflates past the limits "
                    f"(ratio {limits.max_ratio:.0f}:1 of the archive's size, total {limits.max_total_bytes} "
                    "bytes): refused as an archive bomb"
                )
            out.write(block)
    return written


def _safe_target(dest: Path, info: zipfile.ZipInfo) -> Path:
    name = info.filename
    pure = PurePosixPath(name)
    if (not name or "\\" in name or pure.is_absolute() or ".." in pure.parts
            or (len(name) > 1 and name[1] == ":")):
        raise BundleError(f"archive entry '{name[:200]}' points outside the bundle; refused")
    if len(name.encode()) > MAX_NAME or any(len(p.encode()) > 255 for p in pure.parts):
        raise BundleError(f"archive entry '{name[:80]}…' has a name too long; refused")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no type
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise BundleError(f"archive entry '{name}' is a link or special file; refused")
    return dest.joinpath(*pure.parts)
