"""The artifact format: a ``NAME.edgekit/`` directory with a manifest and hashed files.

A bundle is written into a private temporary sibling and renamed into place only
when complete, so a reader never sees half of one. Reading checks the manifest's
schema and every file's sha256 before anything is handed to a backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit.errors import BundleError, InputError
from edgekit.layout import Layout
from edgekit.precision import PRECISIONS
from edgekit.signature import TensorSpec

SCHEMA_VERSION = 1
MANIFEST = Layout.MANIFEST
SUFFIX = Layout.SUFFIX
REQUIRED_KEYS = ("schema_version", "edgekit_version", "signature", "targets", "precision", "files")
_TMP_MARK = ".tmp-"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a part: a temp file beside it, synced, renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; these files are shared like any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Bundle:
    """A bundle on disk and its parsed manifest."""

    path: Path
    manifest: dict[str, Any]
    origin: Path | None = None  # the folder a verified private copy was made from
    raw: bytes | None = field(default=None, repr=False, compare=False)  # the manifest bytes parsed

    @property
    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec.from_dict(d) for d in self.manifest["signature"]["inputs"]]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec.from_dict(d) for d in self.manifest["signature"]["outputs"]]

    @property
    def target_names(self) -> list[str]:
        return [t["name"] for t in self.manifest["targets"]]

    @property
    def precision(self) -> str:
        return str(self.manifest["precision"])

    @property
    def parity_passed(self) -> bool | None:
        parity = self.manifest.get("parity") or {}
        return parity.get("passed")  # validated on read: True, False or None

    @classmethod
    def staged(cls, root: Path, signature: dict[str, Any], entry: dict[str, Any], precision: str) -> Bundle:
        """A view of one freshly built target, before the manifest exists: for checking it
        through the very runtime that ``load`` will use."""
        files = {p: {} for p in entry["files"].values()}
        return cls(root, {"signature": signature, "targets": [entry], "precision": precision, "files": files})

    def target_inputs(self, name: str) -> list[TensorSpec]:
        """The input signature a target runs with: the bundle's, unless the target fixed shapes."""
        specs = self.target(name).get("inputs")
        return [TensorSpec.from_dict(d) for d in specs] if specs else self.inputs

    def target(self, name: str) -> dict[str, Any]:
        for entry in self.manifest["targets"]:
            if entry["name"] == name:
                return entry
        raise BundleError(
            f"bundle {self.path} has no target '{name}'",
            note=f"it has: {', '.join(self.target_names) or 'none'}",
        )

    def target_file(self, target: str, role: str) -> Path:
        """The file a target lists under ``role`` (``model``, ``weights`` …)."""
        files = self.target(target)["files"]
        if role not in files:
            raise BundleError(f"bundle {self.path.name}: target '{target}' lists no '{role}' file")
        return self.file(files[role])

    def file(self, relpath: str) -> Path:
        """The path of a file the manifest lists; refuses anything else."""
        if relpath not in self.manifest["files"]:
            raise BundleError(f"bundle {self.path} does not list file '{relpath}' in its manifest")
        path = _safe_join(self.path, relpath)
        if not path.exists():
            from edgekit.slim import SLIM_FILE, missing_note

            if (self.path / SLIM_FILE).is_file():
                raise BundleError(f"bundle {self.path.name} has no '{relpath}'", note=missing_note(relpath))
        return path


def safe_relpath(relpath: str) -> tuple[str, ...]:
    """The parts of a manifest path; refuses escapes, aliases (``./f``) and names no file system takes."""
    parts = tuple(relpath.split("/")) if isinstance(relpath, str) else ()
    if (
        not parts
        or "\\" in relpath
        or "\x00" in relpath
        or PurePosixPath(relpath).is_absolute()
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise BundleError(f"bundle manifest names an unsafe path {relpath[:200]!r}")
    if len(parts) > 64 or len(relpath.encode()) > 1024 or any(len(p.encode()) > 255 for p in parts):
        raise BundleError(f"bundle manifest names a path too long or too deep: {relpath[:80]!r}…")
    return parts


def _safe_join(root: Path, relpath: str) -> Path:
    """Joins a manifest path to the bundle root, refusing anything that escapes it."""
    path = root.joinpath(*safe_relpath(relpath))
    for parent in [path, *path.parents]:
        if parent == root:
            break
        if parent.is_symlink():
            raise BundleError(f"bundle file '{relpath}' is a symbolic link; links are refused")
    return path


def bundle_root(path: str | os.PathLike[str]) -> Path:
    """The bundle folder ``path`` names, checked by ``stat`` (too long, missing, not a folder: refused)."""
    from edgekit.safeio import file_kind

    root = Path(path)
    try:
        kind = file_kind(root, "bundle")
    except InputError as err:
        raise BundleError(err.message) from err
    if kind != "dir":
        raise BundleError(f"no bundle at {root}", note="a bundle is a directory written by `edgekit compile`")
    return root


def read_bundle(path: str | os.PathLike[str], verify: bool = True) -> Bundle:
    """Reads and validates a bundle directory.

    Args:
        path: the ``NAME.edgekit`` directory.
        verify: check every listed file's size and sha256 (on by default).

    Raises:
        BundleError: missing, malformed, of an unknown schema, or tampered with.
    """
    root = bundle_root(path)
    manifest_path = root / MANIFEST
    from edgekit.safeio import MAX_JSON_BYTES, loads_json, read_regular

    try:
        raw = read_regular(manifest_path, f"bundle manifest {manifest_path}", MAX_JSON_BYTES, BundleError)
        manifest = loads_json(raw, f"bundle manifest {manifest_path}", BundleError)
    except FileNotFoundError as err:
        raise BundleError(f"{root} is not a bundle: it has no {MANIFEST}") from err
    except UnicodeDecodeError as err:
        raise BundleError(f"bundle manifest {manifest_path} is not valid JSON: {err}") from err
    _validate_manifest(root, manifest)
    bundle = Bundle(root.resolve(), manifest, raw=raw)
    from edgekit.slim import dropped_files

    skipped = dropped_files(root, manifest)  # a `pack --slim` bundle lacks its reports, by design
    for relpath, entry in manifest["files"].items():
        if relpath in skipped:
            continue
        file = _safe_join(bundle.path, relpath)
        if not file.is_file():
            raise BundleError(f"bundle {root} is incomplete: '{relpath}' is missing")
        if verify:
            _verify_file(file, relpath, entry)
    return bundle


def validate_manifest(root: Path, manifest: Any) -> None:
    """Raises BundleError for a manifest that is not the schema this edgekit reads."""
    _validate_manifest(root, manifest)


def _validate_manifest(root: Path, manifest: Any) -> None:
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle manifest in {root} is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"bundle manifest in {root} lacks field(s): {', '.join(missing)}")
    version = manifest["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:  # not 1.0, not true
        raise BundleError(
            f"bundle {root} has manifest schema version {version!r}; "
            f"this edgekit reads version {SCHEMA_VERSION}",
            note="rebuild the bundle with this edgekit, or load it with the edgekit that built it",
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise BundleError(f"bundle manifest in {root} is malformed: {problem}")


def _spec_problem(spec: Any, where: str) -> str | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return f"{where} is not a named tensor"
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(
        (isinstance(d, int) and not isinstance(d, bool) and d >= 0) or (isinstance(d, str) and d) for d in shape
    ):
        return f"{where} '{spec['name']}' has a malformed shape"
    dtype = spec.get("dtype")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        return f"{where} '{spec['name']}' has an unknown dtype {dtype!r}"
    return None


_DTYPES = ("float32", "float16", "float64", "bfloat16", "int8", "uint8", "int16", "uint16", "int32",
           "uint32", "int64", "uint64", "bool", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """The first structural problem of a manifest, or None: every field a loader relies on."""
    files = m["files"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
        and len(v["sha256"]) == 64 and isinstance(v.get("size"), int) and not isinstance(v["size"], bool)
        and v["size"] >= 0 for k, v in files.items()
    ):
        return "the 'files' table"
    if m["precision"] not in PRECISIONS:
        return f"unknown precision {m['precision']!r}"
    signature = m["signature"]
    if not isinstance(signature, dict):
        return "the signature"
    for key in ("inputs", "outputs"):
        specs = signature.get(key)
        if not isinstance(specs, list) or not specs:
            return f"signature {key}"
        for spec in specs:
            problem = _spec_problem(spec, key[:-1])
            if problem:
                return problem
    targets = m["targets"]
    if not isinstance(targets, list) or not targets:
        return "no targets"
    for t in targets:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("files"), dict):
            return "a target entry"
        if not all(isinstance(v, str) and v in files for v in t["files"].values()):
            return f"target '{t['name']}' names a file the manifest does not list"
        for spec in t.get("inputs") or []:
            problem = _spec_problem(spec, f"target '{t['name']}' input")
            if problem:
                return problem
    parity = m.get("parity")
    if parity is not None and (
        not isinstance(parity, dict) or parity.get("passed") not in (True, False, None)
        or not isinstance(parity.get("rule_overrides", {}), dict)
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in parity.get("rule_overrides", {}).values())
        or not set(parity.get("rule_overrides", {})) <= {"atol", "rtol", "min_cosine", "min_top1", "max_accuracy_drop"}
    ):
        return "the parity summary"
    return None


def _verify_file(file: Path, relpath: str, entry: dict[str, Any]) -> None:
    size = file.stat().st_size
    if size != entry["size"]:
        raise BundleError(
            f"bundle file '{relpath}' is {size} bytes; the manifest says {entry['size']} "
            "(truncated or tampered with)"
        )
    if sha256_file(file) != entry["sha256"]:
        raise BundleError(
            f"bundle file '{relpath}' does not match its sha256 in the manifest (tampered with)"
        )


def hash_tree(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every regular file under ``root``, keyed by posix path."""
    table = {}
    for file in sorted(root.rglob("*")):
        if file.is_symlink():
            raise BundleError(f"refusing to bundle symbolic link {file}")
        if file.is_file() and file.name != MANIFEST:
            rel = file.relative_to(root).as_posix()
            table[rel] = {"sha256": sha256_file(file), "size": file.stat().st_size}
    return table


def check_destination(out: Path, force: bool) -> None:
    """Fails early, before any work, when ``out`` cannot be (over)written."""
    from edgekit.safeio import check_output_path

    check_output_path(out, "--out")
    if out.suffix != SUFFIX:
        raise InputError(f"bundle path '{out}' must end in '{SUFFIX}'")
    if out.exists() or out.is_symlink():
        if not force:
            raise InputError(
                f"'{out}' already exists", note="pass --force (force=True) to replace it"
            )
        if not (out / MANIFEST).is_file():
            raise InputError(
                f"'{out}' exists and is not an edgekit bundle; refusing to replace it"
            )
    if not out.parent.exists():
        raise InputError(f"output folder '{out.parent}' does not exist")


@contextlib.contextmanager
def staged_bundle(out: Path) -> Iterator[Path]:
    """Yields a private temporary sibling of ``out``, flock-held for the life of the compile;
    removes it on any failure.

    ``commit_bundle`` moves it into place. What killed runs left (unlocked staging and
    ``-old-`` folders) is cleaned first; an old bundle left without its place is restored.
    """
    from edgekit.locks import hold_dir_lock
    from edgekit.replace import clean_staging

    clean_staging(out, f".{out.name}{_TMP_MARK}")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_MARK}{os.getpid()}-", dir=out.parent))
    lock = hold_dir_lock(staging)
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        lock.close()


def commit_bundle(staging: Path, out: Path, manifest: dict[str, Any],
                  verify: Callable[[Path], None] | None = None) -> None:
    """Folds identical target files into the root, hashes the staged files, writes the manifest
    last, checks the result with ``verify`` (it raises to keep the old bundle), then swaps it
    into place atomically."""
    from edgekit.dedupe import dedupe_targets
    from edgekit.locks import hold_dir_lock
    from edgekit.replace import kill_point, replace_dir

    manifest = dedupe_targets(staging, manifest)  # identical files stored once
    manifest = dict(manifest, files=hash_tree(staging))
    write_atomic(staging / MANIFEST, (json.dumps(manifest, indent=2, default=str) + "\n").encode())
    kill_point("manifest-written")
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp made it private; a bundle is shared like any folder
    if verify is not None:
        verify(staging)
    kill_point("verified")
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_MARK}{os.getpid()}-old-", dir=out.parent))
    with hold_dir_lock(retired):
        try:
            replace_dir(staging, out, retired)
        finally:
            shutil.rmtree(retired, ignore_errors=True)
    _fsync_dir(out.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_dirs(folder: Path, prefix: str) -> None:
    """Removes ``<prefix><pid>-…`` folders whose process is gone (a killed earlier run)."""
    for stale in folder.glob(f"{prefix}*"):
        pid_part = stale.name[len(prefix):].split("-", 1)[0]
        if pid_part.isdigit() and int(pid_part) != os.getpid() and not _pid_alive(int(pid_part)):
            shutil.rmtree(stale, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
