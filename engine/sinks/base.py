"""The Sink base class: size checks, error wrapping and the publish-or-discard life cycle
that every file format shares, so each format only encodes."""

from __future__ import annotations

import contextlib
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dreamreel.engine import signals
from dreamreel.engine.media import Frame
from dreamreel.errors import MediaError

from .safety import publish

ALPHA_SUFFIXES = (".mov", ".webm", ".png", "")  # ProRes 4444, VP9 with alpha, PNG; "": a folder


def takes_alpha(path: Path) -> bool:
    """Whether an output of this name keeps an alpha channel (RGBA frames)."""
    return path.suffix.lower() in ALPHA_SUFFIXES


class Sink:
    """Write frames with `.write()`; `.close()` publishes the file, `.abort()` discards it.

    A file sink is a `Writer` (engine.media), like the live outputs. Without `overwrite` the
    finished file never replaces one that another run published meanwhile.
    """

    def __init__(self, path: Path, temp: Path, overwrite: bool = False) -> None:
        self.path = path
        self.name = str(path)
        self.overwrite = overwrite
        self.frames_written = 0
        self.published = False
        self._temp = temp
        self._size: tuple[int, int] | None = None
        self._done = False

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            try:
                self.close()
            except KeyboardInterrupt:  # it came as close began: keep the frames all the same
                self.keep_finished()
                raise
        elif issubclass(exc_type, KeyboardInterrupt) and self.frames_written:
            self._close(interrupted=True)
        else:
            self.abort()

    def write(self, frame: Frame) -> None:
        """Encode one frame; every frame must be the size of the first."""
        if not self.path.parent.is_dir():  # an unlinked file takes writes: notice it now
            raise self._removed()
        image = frame.image
        channels = (3, 4) if takes_alpha(self.path) else (3,)
        if image.ndim != 3 or image.shape[2] not in channels or image.dtype != np.uint8:
            kind = "RGB or RGBA" if len(channels) == 2 else "RGB"
            raise MediaError(
                f"{self.path}: frame {frame.index} must be an HxWx{'/'.join(map(str, channels))} "
                f"uint8 {kind} image, got shape {image.shape} {image.dtype}"
            )
        size = image.shape[:2]
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise MediaError(
                f"{self.path}: frame {frame.index} is {size[1]}x{size[0]}, but the output was "
                f"started at {self._size[1]}x{self._size[0]}"
            )
        try:
            self._write(np.ascontiguousarray(image), frame)
        except (av.FFmpegError, OSError) as err:
            raise self._error(f"write frame {frame.index}", err) from err
        self.frames_written += 1

    def close(self, interrupted: bool = False) -> None:
        """Finish the file and move it to its final name. `interrupted`: the run stopped early,
        so the sound ends with the last frame written, not with the input's."""
        self._close(interrupted)

    def keep_finished(self) -> int:
        """After an interruption: publish the frames written so far (the sound cut to them),
        or remove everything when there are none. Returns how many were kept."""
        kept = self.frames_written
        if kept:
            self.close(interrupted=True)
        else:
            self.abort()
        return kept

    def abort(self) -> None:
        """Stop and remove everything written so far; nothing is left under the output name."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._release()
        if self._temp.is_dir():
            shutil.rmtree(self._temp, ignore_errors=True)
        else:
            self._temp.unlink(missing_ok=True)

    def _close(self, interrupted: bool) -> None:
        if self._done:
            return
        if not self.frames_written:
            self.abort()
            raise MediaError(f"{self.path}: no frames were written, so no output was made")
        with signals.shielded():  # a signal now would cut the file in half: it waits
            try:
                self._finish(interrupted)
                self._publish()
            except (av.FFmpegError, OSError) as err:
                self.abort()
                raise self._error("finish the output", err) from err
            except BaseException:
                self.abort()
                raise
            self._done = self.published = True

    def _removed(self) -> MediaError:
        return MediaError(f"{self.path}: folder {self.path.parent} was removed during the run")

    def _error(self, what: str, err: BaseException) -> MediaError:
        """One line: the folder that vanished mid-run, or the system's reason without the
        hidden temporary's name (a name the user never gave)."""
        if not self.path.parent.is_dir():
            return self._removed()
        return MediaError(f"{self.path}: cannot {what} ({getattr(err, 'strerror', None) or err})")

    def _publish(self) -> None:
        publish(self._temp, self.path, self.overwrite)

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        raise NotImplementedError

    def _finish(self, interrupted: bool) -> None:
        """Flush encoders and close the temporary file."""

    def _release(self) -> None:
        """Close open handles without finishing (used by abort)."""


def next_ticks(frame: Frame, tb: Fraction, last: int | None) -> int:
    """The frame's timestamp in `tb`, exact when it came in that time base, always increasing."""
    if frame.pts_ticks is not None and frame.time_base == tb:
        ticks = frame.pts_ticks
    else:
        ticks = round(Fraction(frame.pts) / tb)
    return ticks if last is None else max(ticks, last + 1)
