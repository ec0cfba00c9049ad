"""Checks that let every file in the cache be trusted or rebuilt.

A converted `.npz` is written with a sidecar `<file>.sha256` holding its sha256 and size.
Loading checks the size and the zip's own CRC-32 of every array (both nearly free); `verify`
re-hashes the whole file. Any unreadable cache file is `Damaged`: the caller rebuilds it from
its verified source, or computes it again, and says so in one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dreamreel.errors import WeightsError

CHUNK = 1 << 20


class Damaged(Exception):
    """A cache file that cannot be trusted; the message says why, for the user."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def say(message: str) -> None:
    """One line on stderr about the cache repairing itself."""
    print(f"dreamreel: {message}", file=sys.stderr)


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def record(path: Path, name: Path | None = None) -> None:
    """Write the sha256 and size of `path` beside `name` (default `path`), atomically; `path`
    may be a temporary that takes `name` afterwards."""
    side = checksum_path(name or path)
    temp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w") as f:  # opened first: a read-only cache fails before the hashing
            f.write(f"{sha256_of(path)} {path.stat().st_size}\n")
        os.replace(temp, side)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


def recorded(path: Path) -> tuple[str, int] | None:
    """The (sha256, size) written beside `path`, or None when there is no readable record."""
    try:
        digest, size = checksum_path(path).read_text().split()
        return digest, int(size)
    except (OSError, ValueError):
        return None


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an `.npz`, checked on the way: size against its record, CRC-32 of each
    member. Raises Damaged for any file that is not whole."""
    try:
        size = path.stat().st_size
        expected = recorded(path)
        if expected is not None and expected[1] != size:
            raise Damaged(f"{size} bytes, {expected[1]} recorded")
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise Damaged("not an array archive")
        with loaded as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, KeyError, OSError) as err:
        raise Damaged(_reason(err)) from err


def check_whole(path: Path) -> None:
    """The full check `verify` makes: the file reads, and its sha256 is the recorded one."""
    read_arrays(path)
    expected = recorded(path)
    if expected is not None and sha256_of(path) != expected[0]:
        raise Damaged("sha256 differs from the one recorded when it was written")


def discard(path: Path) -> None:
    """Remove a damaged file and its record (a folder in its place too)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def cache_errors(home: Path) -> Iterator[None]:
    """A cache folder that cannot be read or written (permissions, a full disk, a file where
    a folder should be) is one line for the user, not a traceback."""
    try:
        yield
    except OSError as err:
        raise WeightsError(f"the weights cache {home} cannot be used ({_reason(err)}: "
                           f"{err.filename}); check its permissions and free space, or set "
                           "DREAMREEL_HOME to another folder") from err


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:120]
