"""``NAME.edgekit.zip``: one file to ship a bundle, unpacked safely where it is loaded.

Extraction refuses absolute paths, ``..``, links and special files, and archive
bombs: a file-count limit, a total-size limit, and a compression-ratio limit that
is enforced on the bytes actually inflated, not on what the archive claims.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgekit.bundle import MANIFEST, SUFFIX, read_bundle, sha256_file
from edgekit.cache import user_cache_dir
from edgekit.errors import BundleError, InputError
from edgekit.safeio import check_output_path

ARCHIVE_SUFFIX = SUFFIX + ".zip"


@dataclass(frozen=True)
class ExtractLimits:
    max_files: int = 10_000
    max_total_bytes: int = 64 * 2**30
    max_ratio: float = 200.0  # inflated bytes per compressed byte, per file


def pack(bundle: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, force: bool = False) -> Path:
    """Writes a verified bundle into one zip file (atomically); returns its path."""
    b = read_bundle(bundle)
    name = b.path.name
    target = Path(out) if out is not None else b.path.with_name(name + ".zip")
    if not target.name.endswith(ARCHIVE_SUFFIX):
        raise InputError(f"archive path '{target}' must end in '{ARCHIVE_SUFFIX}'")
    check_output_path(target, "--out")
    if target.exists() and not force:
        raise InputError(f"'{target}' already exists", note="pass --force to replace it")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for rel in [MANIFEST, *sorted(b.manifest["files"])]:
                archive.write(b.path / rel, rel)
            signature = b.path / "signature.json"
            if signature.is_file():
                archive.write(signature, "signature.json")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def unpack(archive: str | os.PathLike[str], cache_dir: Path | None = None,
           limits: ExtractLimits = ExtractLimits()) -> Path:
    """Extracts an archive into the user cache (once per archive content); returns the bundle folder.

    Raises:
        BundleError: not a zip, or an entry is unsafe, or the archive is a bomb.
    """
    path = Path(archive)
    if not zipfile.is_zipfile(path):
        raise BundleError(f"'{path}' is not a zip archive")
    digest = sha256_file(path)
    root = (cache_dir or user_cache_dir("bundles")) / digest[:32]
    bundle_dir = root / path.name[: -len(".zip")]
    if (bundle_dir / MANIFEST).is_file():
        return bundle_dir
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        _extract(path, staging, limits)
        try:
            os.replace(staging, bundle_dir)
        except OSError:  # another process unpacked the same archive first
            if not (bundle_dir / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bundle_dir


def _extract(path: Path, dest: Path, limits: ExtractLimits) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise BundleError(f"'{path}' is not a readable zip archive: {err}") from err
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_files:
            raise BundleError(f"archive '{path.name}' holds {len(infos)} entries; the limit is {limits.max_files}")
        total = 0
        for info in infos:
            target = _safe_target(dest, info)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            budget = min(limits.max_total_bytes - total, int(limits.max_ratio * max(info.compress_size, 1)) + 4096)
            written = 0
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > budget:
                            raise BundleError(
                                f"archive entry '{info.filename}' inflates past the limits "
                                f"(ratio {limits.max_ratio:.0f}:1, total {limits.max_total_bytes} bytes): "
                                "refused as an archive bomb"
                            )
                        out.write(block)
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise BundleError(f"archive entry '{info.filename}' cannot be read: {err}") from err
            total += written


def _safe_target(dest: Path, info: zipfile.ZipInfo) -> Path:
    name = info.filename
    pure = PurePosixPath(name)
    if (not name or "\\" in name or pure.is_absolute() or ".." in pure.parts
            or (len(name) > 1 and name[1] == ":")):
        raise BundleError(f"archive entry '{name}' points outside the bundle; refused")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no type
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise BundleError(f"archive entry '{name}' is a link or special file; refused")
    return dest.joinpath(*pure.parts)
