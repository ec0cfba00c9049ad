"""The rules every output obeys: never overwrite an input, never leave a half-written file.

Renders take hours and users re-run commands, so an output is checked before any work starts
and written under a hidden temporary name that takes the real name only when it is whole (and,
unless the user said -y, only if no other run has published that name meanwhile).
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from dreamreel.engine.media import MediaInfo
from dreamreel.errors import MediaError, UsageError

PLOT_FORMATS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".pdf", ".svg", ".eps", ".ps")


def check_target(path: Path, sources: list[MediaInfo], overwrite: bool, folder: bool) -> None:
    """Refuse an output that would replace an input, needs a missing or read-only folder,
    or exists already without `overwrite` (a folder output: holds frames already)."""
    target = path.resolve()
    for info in sources:
        source = info.path.resolve()
        if info.kind == "images" and not source.is_dir():
            source = source.parent  # a glob pattern: its folder
        if target == source:
            raise MediaError(f"{path}: the output would overwrite the input; choose another name")
    parent = target.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise MediaError(f"{path}: folder {parent} {what}")
    if not os.access(parent, os.W_OK):
        raise MediaError(f"{path}: folder {parent} is not writable")
    if folder:
        if target.exists() and not target.is_dir():
            raise MediaError(f"{path}: exists and is not a folder")
        if target.is_dir() and not overwrite and any(target.glob("frame_*.png")):
            raise MediaError(f"{path}: already holds frames; use -y (--overwrite) to replace them")
    elif target.is_dir():
        raise MediaError(f"{path}: is a folder; choose a file name (or end it with / for a "
                         "folder of frames)")
    elif target.exists() and not overwrite:
        raise MediaError(f"{path}: already exists; use -y (--overwrite) to replace it")


def temp_name(path: Path) -> Path:
    """A hidden sibling of `path`, keeping the extension so encoders pick the right format."""
    return path.parent / f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}"


def publish(temp: Path, path: Path, overwrite: bool) -> None:
    """Give the finished file `temp` its real name. Two runs may both pass `check_target`
    for one name: without `overwrite` the later one fails here (a hard link never replaces a
    file) instead of silently replacing the first one's output."""
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except OSError as err:
        if err.errno in NO_HARD_LINKS and not os.path.lexists(path):
            os.replace(temp, path)  # a filesystem without hard links (FAT, some shares)
        elif err.errno in (errno.EEXIST, *NO_HARD_LINKS):
            raise MediaError(f"{path}: another run made it meanwhile; use -y (--overwrite) to "
                             "replace it") from None
        else:
            raise
    else:
        temp.unlink()


NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK)


def check_plot(path: Path, sources: list[Path], overwrite: bool, flag: str) -> None:
    """A plot's file before the work that fills it: a format matplotlib writes, and no input
    or earlier file replaced without -y."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise UsageError(f"{path}: {flag} must end in one of {' '.join(PLOT_FORMATS)}")
    check_target(path, [MediaInfo(path=p, kind="video", width=0, height=0) for p in sources],
                 overwrite, folder=False)


def write_atomically(path: Path, write: Callable[[Path], object], overwrite: bool) -> None:
    """`write` fills a hidden temporary next to `path`, which then takes its name (`publish`):
    a reader never sees half a file, and a failure leaves nothing behind."""
    temp = temp_name(path)
    try:
        write(temp)
        publish(temp, path, overwrite)
    except OSError as err:
        raise MediaError(f"{path}: cannot write it ({err.strerror or err})") from err
    finally:
        temp.unlink(missing_ok=True)
