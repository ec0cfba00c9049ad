"""Frames in for the live show: a capture thread that always offers the newest frame.

A live show must answer what is in front of the camera NOW. If stylizing is slower than the
camera, a queue would fill and the output would fall ever further behind; so the capture
thread writes into a one-slot `Mailbox` and the show takes whatever is newest, dropping the
rest. A file or stream stands in for a camera: it is decoded at its own frame rate (paced),
so it behaves like one, and `loop` plays it forever.

A camera that stops answering (unplugged, a USB hiccup, a dropped network stream) must not
end the show: the thread logs "camera lost, retrying" once, reopens it with growing pauses,
and meanwhile the show keeps sending its last frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from dreamreel.engine.sources import open_source
from dreamreel.errors import MediaError, UsageError

log = logging.getLogger("dreamreel.live")

FIRST_RETRY = 0.25  # seconds before reopening a lost camera; doubles up to LAST_RETRY
LAST_RETRY = 4.0


@dataclass(frozen=True)
class Captured:
    """One captured picture: image HxWx3 uint8 RGB, its number (1, 2, ... in capture order)
    and when it was captured (time.perf_counter(), for the capture->output latency)."""

    image: np.ndarray
    seq: int
    time: float


class Mailbox:
    """A one-slot mailbox: `put` replaces what is there, readers get only the newest."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Captured | None = None
        self._seq = 0

    def put(self, image: np.ndarray) -> Captured:
        with self._cond:
            self._seq += 1
            self._item = Captured(image, self._seq, time.perf_counter())
            self._cond.notify_all()
            return self._item

    def latest(self) -> Captured | None:
        with self._cond:
            return self._item

    def wait_newer(self, seq: int, timeout: float) -> Captured | None:
        """The newest frame if it is newer than `seq`, waiting up to `timeout` seconds for one;
        None if nothing newer came."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq, timeout)
            return self._item if self._seq > seq else None


class EndOfStream(Exception):
    """A file that is not looped has ended: the show ends too."""


class Reader(Protocol):
    """An opened camera or file. read(): the next RGB frame, None when the device gave none
    this time (a failure: the capture reopens it), EndOfStream at the end of a file."""

    fps: float | None  # pace reads at this rate (files); None: the device paces itself

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class CameraReader:
    """A camera (device index) or network stream (URL) through OpenCV."""

    fps = None

    def __init__(self, device: int | str) -> None:
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            raise OSError(f"cannot open camera {device}")

    def read(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None

    def close(self) -> None:
        self._cap.release()


class FileReader:
    """A video file decoded through PyAV (engine.sources), optionally looped."""

    def __init__(self, path: Path, loop: bool) -> None:
        self.path, self.loop = path, loop
        self._source = open_source(path)
        info = self._source.info
        self.fps = float(info.fps) if info.fps else 25.0
        self._frames: Iterator = iter(self._source)

    def read(self) -> np.ndarray:
        try:
            return next(self._frames).image
        except StopIteration:
            if not self.loop:
                raise EndOfStream(str(self.path)) from None
        self._source.close()
        self._source = open_source(self.path)
        self._frames = iter(self._source)
        return next(self._frames).image

    def close(self) -> None:
        self._source.close()


NDI_PREFIX = "ndi:"  # --source ndi:NAME


def reader_opener(camera: int | None, source: str | None, loop: bool) -> Callable[[], Reader]:
    """What `--camera N` or `--source FILE_OR_URL|ndi:NAME` opens (again, after a loss)."""
    if camera is not None:
        return lambda: CameraReader(camera)
    if str(source).startswith(NDI_PREFIX):
        from dreamreel.engine.live.ndi import NdiReader

        name = str(source)[len(NDI_PREFIX):]
        if not name:
            raise UsageError("--source ndi:NAME: name the NDI source (dreamreel live --list-sources)")
        return lambda: NdiReader(name)
    if "://" in str(source):
        return lambda: CameraReader(str(source))
    path = Path(str(source))
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    FileReader(path, loop).close()  # a file that cannot be read at all fails now, in one line
    return lambda: FileReader(path, loop)


class Capture:
    """The capture thread: opens a reader, puts every frame into `mailbox`, survives losses.

    `ended` is set when a file without loop ends (or cannot be reopened as a file).
    """

    def __init__(self, opener: Callable[[], Reader], name: str = "camera") -> None:
        self.opener, self.name = opener, name
        self.mailbox = Mailbox()
        self.ended = threading.Event()
        self.losses = 0
        self.lost = False  # between losing the camera and getting a picture from it again
        self.fps: float | None = None  # the reader's own rate (files), once opened
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> Capture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        reader: Reader | None = None
        lost, retry, due = False, FIRST_RETRY, 0.0
        try:
            while not self._stop.is_set():
                if reader is None:
                    try:
                        reader = self.opener()
                        self.fps = reader.fps
                    except Exception as err:  # any device error: keep the show going, retry
                        lost, retry = self._lost(lost, retry, err)
                        continue
                try:
                    image = reader.read()
                except EndOfStream:
                    self.ended.set()
                    return
                except Exception as err:  # a driver or decoder error counts as a lost frame
                    log.debug("capture read failed: %s", err)
                    image = None
                if image is None:
                    reader.close()
                    reader = None
                    lost, retry = self._lost(lost, retry, None)
                    continue
                if lost:
                    log.warning("%s back", self.name)
                    lost, retry, self.lost = False, FIRST_RETRY, False
                self.mailbox.put(image)
                if reader.fps:
                    due = max(due + 1.0 / reader.fps, time.perf_counter() - 1.0 / reader.fps)
                    self._stop.wait(max(0.0, due - time.perf_counter()))
        finally:
            if reader is not None:
                reader.close()

    def _lost(self, lost: bool, retry: float, err: Exception | None) -> tuple[bool, float]:
        """Log the loss once per outage, wait, and return (lost, next pause)."""
        if not lost:
            self.losses += 1
            self.lost = True
            log.warning("%s lost, retrying%s", self.name, f" ({err})" if err else "")
        self._stop.wait(retry)
        return True, min(retry * 2, LAST_RETRY)
