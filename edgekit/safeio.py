"""Bounded reading of untrusted files and early checks of paths, before any work is done.

Hostile or unlucky inputs (JSON nested 100k deep, a ``.npy`` header declaring 10^12
elements, a MODEL that is a FIFO, an output folder that is a file) must end in one
clear ``EdgekitError``, never in a traceback, a hang or an attempt to allocate terabytes.
Pure functions with explicit arguments; nothing heavier than numpy is imported.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, InputError

MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 64 * 2**20
MAX_INT_DIGITS = 40
_NAME_MAX = 255
_PATH_MAX = 4096
_FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` can never name a file here (too long, a component too long, NUL), or None."""
    text = os.fspath(path)
    if "\x00" in text:
        return "holds a NUL byte"
    if len(os.fsencode(text)) >= _PATH_MAX:
        return f"is {len(text)} characters long (the limit is {_PATH_MAX - 1})"
    longest = max((len(os.fsencode(p)) for p in text.split(os.sep)), default=0)
    if longest > _NAME_MAX:
        return f"has a name of {longest} bytes (the limit is {_NAME_MAX})"
    return None


def file_kind(path: Path, what: str) -> str | None:
    """``"file"``, ``"dir"`` or None (missing), from ``stat`` — never opening it (a FIFO would block).

    Raises:
        InputError: the path cannot exist (too long), or is a FIFO, socket or device.
    """
    problem = path_problem(path)
    if problem:
        raise InputError(f"{what} path '{_short(path)}' {problem}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in (errno.ENOTDIR, errno.ENOENT):
            return None
        raise InputError(f"cannot read {what} '{_short(path)}': {err.strerror}") from err
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    raise InputError(f"{what} '{_short(path)}' is not a regular file (a FIFO, socket or device); refused")


def check_output_path(path: str | os.PathLike[str], flag: str) -> Path:
    """Fails early, before a build, when ``path`` cannot be written as a new file or folder.

    Raises:
        InputError: too long, under /proc, /sys or /dev, parent missing or not a folder,
            or the path is an existing folder where a file is expected.
    """
    out = Path(path)
    problem = path_problem(out)
    if problem:
        raise InputError(f"{flag} path '{_short(out)}' {problem}")
    absolute = Path(os.path.abspath(out))
    if any(str(absolute) == r or str(absolute).startswith(r + "/") for r in _FORBIDDEN_ROOTS):
        raise InputError(f"{flag} path '{out}' is under a kernel file system; choose a normal folder")
    parent = absolute.parent
    if not parent.exists():
        raise InputError(f"{flag}: folder '{parent}' does not exist", note="create it first")
    if not parent.is_dir():
        raise InputError(f"{flag}: '{parent}' is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag}: folder '{parent}' is not writable")
    return out


def loads_json(data: bytes | str, what: str, error: type[EdgekitError] = InputError) -> Any:
    """Parses JSON from an untrusted file: bounded size, nesting depth and integer length.

    Raises:
        ``error``: not UTF-8, not JSON, too deep, too large, or holding a huge integer.
    """
    if len(data) > MAX_JSON_BYTES:
        raise error(f"{what} is {len(data)} bytes; the limit is {MAX_JSON_BYTES}")
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nesting_depth(text) > MAX_JSON_DEPTH:
        raise error(f"{what} nests deeper than {MAX_JSON_DEPTH} levels; refused")
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise error(f"{what} is not valid JSON: {str(err).splitlines()[0][:200]}") from err


def read_json_file(path: Path, what: str, error: type[EdgekitError] = InputError) -> tuple[bytes, Any]:
    """Reads a JSON file once (refusing links and non-regular files); returns its bytes and value."""
    data = read_regular(path, what, MAX_JSON_BYTES, error)
    try:
        return data, loads_json(data, what, error)
    except UnicodeDecodeError as err:
        raise error(f"{what} is not UTF-8 text") from err


def read_regular(path: Path, what: str, limit: int, error: type[EdgekitError] = InputError) -> bytes:
    """The bytes of a regular, unlinked file (no symlink, one hard link), at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise error(f"{what} is a symbolic link; links are refused") from err
        raise error(f"cannot read {what}: {err.strerror}") from err
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} is not a regular file; refused")
        if info.st_nlink > 1:
            raise error(f"{what} has {info.st_nlink} hard links; links are refused")
        if info.st_size > limit:
            raise error(f"{what} is {info.st_size} bytes; the limit is {limit}")
        return fh.read(limit + 1)[:limit]


def check_allocation(nbytes: int, what: str) -> None:
    """Refuses to allocate more than the memory this host has available (or any absurd size).

    Raises:
        InputError: ``nbytes`` exceeds the available memory.
    """
    available = available_memory()
    if nbytes > available:
        raise InputError(f"{what} needs {_size(nbytes)}, more than the {_size(available)} of memory available",
                         note="use a smaller shape")


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable, else physical; never above 2^48)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return min(int(line.split()[1]) * 1024, 2**48)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return min(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), 2**48)
    except (OSError, ValueError, AttributeError):
        return 2**34


def check_npy(path: Path, what: str) -> None:
    """Checks a ``.npy`` header (shape x itemsize) against the file size and memory, before ``np.load``.

    Raises:
        InputError: unreadable header, object dtype, or a shape the file or memory cannot hold.
    """
    import numpy as np

    with open(path, "rb") as fh:
        header_check(fh, path.stat().st_size, what, np)


def header_check(fh: Any, file_size: int | None, what: str, np: Any) -> None:
    """Validates an open ``.npy`` stream's header; leaves the stream just after the header."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        reader = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}.get(version)
        if reader is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _fortran, dtype = reader(fh, max_header_size=10_000)
        offset = fh.tell()
    except Exception as err:  # numpy parses the header with ast/tokenize: ValueError, TokenError, …
        raise InputError(f"{what} is not a readable .npy array: {_first(err)}") from err
    if dtype.hasobject:
        raise InputError(f"{what} holds Python objects (a pickle); only numeric arrays are read")
    count = 1
    for dim in shape:
        count *= int(dim)
    nbytes = count * dtype.itemsize
    if file_size is not None and offset + nbytes > file_size:
        raise InputError(f"{what} declares shape {list(shape)} ({_size(nbytes)}) but the file holds "
                         f"{_size(max(file_size - offset, 0))}: truncated or forged")
    check_allocation(nbytes, what)


def _nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside strings (a linear scan; no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard constant {name}")


def _size(nbytes: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes} bytes"


def _short(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    return text if len(text) <= 120 else f"{text[:60]}…{text[-40:]}"


def load_npy(path: Path, what: str) -> Any:
    """``np.load`` of a ``.npy`` after checking its type, header and size; never unpickles.

    Raises:
        InputError: not a readable numeric array, or larger than the file or memory.
    """
    import numpy as np

    if file_kind(path, what) != "file":
        raise InputError(f"{what} '{_short(path)}' does not exist or is not a file")
    check_npy(path, f"{what} '{_short(path)}'")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"cannot read {what} '{_short(path)}' as .npy: {_first(err)}") from err


def load_npz(path: Path, what: str, error: type[EdgekitError] = InputError) -> dict[str, Any]:
    """Every array of an ``.npz``, each header checked against its size and memory first.

    Raises:
        ``error``: unreadable archive or entry, object arrays (a pickle), or a forged size.
    """
    import zipfile
    import zlib

    import numpy as np

    if file_kind(path, what) != "file":
        raise error(f"{what} '{_short(path)}' does not exist or is not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if i.filename.endswith(".npy")]
            for info in infos:
                with archive.open(info) as fh:
                    try:
                        header_check(fh, info.file_size, f"{what} '{_short(path)}' entry {info.filename}", np)
                    except InputError as err:
                        raise error(err.message) from err
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except EdgekitError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError) as err:  # RuntimeError: zipfile on encrypted entries
        text = _first(err)
        if "allow_pickle" in text or "Object arrays" in text:
            text = "it holds object arrays (a pickle), which are never loaded"
        raise error(f"cannot read {what} '{_short(path)}' as .npz: {text}") from err


def _first(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]
