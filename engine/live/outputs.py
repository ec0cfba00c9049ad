"""Where the live picture goes: a preview window, a virtual camera, a recording (NDI: ndi.py).

Each output is optional and independent: one that cannot start (no display, no
v4l2loopback, no NDI runtime) prints one line naming what to install or load, and the show
goes on with the others. The on-screen display is drawn on the preview only; the virtual
camera, NDI and the recording get the clean picture. Every output is a `Writer`
(engine.media), like a file sink: frame.image is HxWx3 uint8 RGB, frame.pts the seconds since
the show started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from dreamreel.engine.media import Frame, MediaInfo, Writer
from dreamreel.engine.sinks import open_sink
from dreamreel.errors import MediaError

log = logging.getLogger("dreamreel.live")

LIVE_SOURCE = Path("<live>")  # MediaInfo.path of the live stream: no file, never the output
RECORD_TIME_BASE = Fraction(1, 1000)  # live frames are timestamped by the wall clock, in ms
RECORD_QUEUE = 64  # frames the recorder may fall behind before it drops (and says so)


class OutputUnavailable(Exception):
    """An output that cannot start; the message says what to install or load."""


class Preview:
    """A pygame (SDL2) window: windowed or fullscreen on a chosen display; it is also where
    the keyboard comes from (`poll`).

    SDL's window surface is kept in software (SDL_FRAMEBUFFER_ACCELERATION=0): with OpenGL,
    Mesa's software rasteriser loads its own LLVM, which clashes with TensorFlow's LLVM in the
    same process and crashes (measured under Xvfb); one blit of a video frame needs no GPU.
    """

    name = "preview"

    def __init__(self, width: int, height: int, fullscreen: bool = False, display: int = 0) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
        try:
            import pygame
        except ImportError as err:
            raise OutputUnavailable("preview: pip install pygame (or use --no-preview)") from err
        self._pg = pygame
        try:
            pygame.display.init()
            count = pygame.display.get_num_displays()
            if not 0 <= display < count:
                raise OutputUnavailable(f"preview: --display {display} does not exist "
                                        f"(displays 0..{count - 1})")
            flags = pygame.FULLSCREEN if fullscreen else pygame.RESIZABLE
            size = (0, 0) if fullscreen else (width, height)
            self._screen = pygame.display.set_mode(size, flags, display=display)
        except pygame.error as err:
            pygame.display.quit()
            raise OutputUnavailable(f"preview: no display ({err}); set DISPLAY, or use "
                                    "--no-preview") from err
        pygame.display.set_caption("dreamreel live")
        self.closed = False

    def write(self, frame: Frame) -> None:
        pg, image = self._pg, frame.image
        surface = pg.image.frombuffer(np.ascontiguousarray(image).tobytes(),
                                      (image.shape[1], image.shape[0]), "RGB")
        size = self._screen.get_size()
        if surface.get_size() != size:
            surface = pg.transform.scale(surface, size)
        self._screen.blit(surface, (0, 0))
        pg.display.flip()

    def poll(self) -> list[str]:
        """Key names pressed since the last call (pygame.key.name); sets `closed` when the
        window is closed."""
        keys = []
        for event in self._pg.event.get():
            if event.type == self._pg.QUIT:
                self.closed = True
            elif event.type == self._pg.KEYDOWN:
                keys.append(self._pg.key.name(event.key))
        return keys

    def close(self) -> None:
        self._pg.display.quit()


class VirtualCamera:
    """A virtual webcam (pyvirtualcam: v4l2loopback on Linux, OBS on Windows/macOS) that
    video-call and streaming apps can pick."""

    name = "virtual camera"

    def __init__(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError as err:
            raise OutputUnavailable("virtual camera: pip install pyvirtualcam") from err
        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
        except Exception as err:  # pyvirtualcam raises RuntimeError with the backend's reason
            hint = ("sudo modprobe v4l2loopback exclusive_caps=1 card_label=dreamreel"
                    if os.name == "posix" else "install OBS Studio and start its virtual camera once")
            raise OutputUnavailable(f"virtual camera unavailable ({str(err).rstrip('.')}); {hint}") from err
        log.info("virtual camera: %s", self._cam.device)

    def write(self, frame: Frame) -> None:
        self._cam.send(frame.image)

    def close(self) -> None:
        self._cam.close()


class Recorder:
    """The show to a video file through engine.sinks, with wall-clock timestamps.

    Encoding runs on its own thread behind a bounded queue, so a slow encoder delays the file,
    not the show; if it falls RECORD_QUEUE frames behind, frames are dropped and counted.
    `close` finishes the file (also after Ctrl-C), so it is always playable.

    A recording that fails mid-show (its folder removed, the disk full) must not end the
    show: the failure is logged in one line, the frames recorded so far are kept when the file
    can still be finished (else the partial file is removed, freeing the disk), and later
    frames are ignored. `error` says what went wrong, for the summary.
    """

    name = "recording"

    def __init__(self, path: Path, width: int, height: int, fps: float, overwrite: bool,
                 crf: int = 20, preset: str = "veryfast", chroma: str = "420",
                 alpha: bool = False) -> None:
        info = MediaInfo(path=LIVE_SOURCE, kind="video", width=width, height=height,
                         fps=Fraction(fps).limit_denominator(1001), time_base=RECORD_TIME_BASE)
        self.path = path
        self.alpha = alpha  # takes the show's RGBA picture (a .mov or .webm with --alpha)
        self._sink = open_sink(path, info, crf=crf, preset=preset, chroma=chroma,
                               overwrite=overwrite)
        self._queue: queue.Queue[Frame | None] = queue.Queue(RECORD_QUEUE)
        self.dropped = 0
        self._index = 0
        self.error: MediaError | None = None
        self.kept = True  # False once a failure left no playable file
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def write(self, frame: Frame) -> None:
        """Queue the frame re-timed in milliseconds and re-numbered (dropped frames leave no
        gap in the numbering)."""
        if self.error is not None:
            return
        ticks = round(frame.pts / RECORD_TIME_BASE)
        timed = Frame(frame.image, self._index, float(ticks * RECORD_TIME_BASE), None, ticks,
                      RECORD_TIME_BASE)
        try:
            self._queue.put_nowait(timed)
            self._index += 1
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Drain the queue and publish the file (a failed recording was dealt with already)."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            return
        try:
            self._sink.close()
        except MediaError as err:  # e.g. the disk filled while finishing: said in one line
            self.error, self.kept = err, False
            log.error("recording failed: %s", err)
            return
        if self.dropped:
            log.warning("%s: the encoder could not keep up; %d frame(s) were dropped",
                        self.path, self.dropped)

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._sink.write(frame)
                except Exception as err:  # any encoder or file error: stop recording, once
                    self._fail(err)

    def _fail(self, err: Exception) -> None:
        """Stop recording after a failed write: keep the frames so far if the file can still
        be finished and published, else remove it; say which in one line."""
        self.error = err if isinstance(err, MediaError) else MediaError(f"{self.path}: {err}")
        written = self._sink.frames_written
        try:
            self._sink.close(interrupted=True)  # aborts (removes the partial file) if it fails
            kept = f"kept the first {written} frame(s)"
        except Exception:
            self.kept = False
            kept = "nothing was kept"
        log.error("recording stopped: %s; %s, the show goes on", self.error, kept)


class Screenshots:
    """Saves the clean picture as a PNG each time a screenshot is asked for (key s, OSC
    /dreamreel/screenshot, a MIDI pad), on a worker thread so the show never waits for the
    encoder. Written under a temporary name and renamed, so a file that exists is whole."""

    name = "screenshots"

    def __init__(self, folder: Path, requests: Callable[[], int]) -> None:
        self.folder, self._requests = Path(folder), requests
        self._taken = requests()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="screenshot")
        self.saved: list[Path] = []

    def write(self, frame: Frame) -> None:
        asked = self._requests()
        if asked > self._taken:
            self._taken = asked
            self._worker.submit(self._save, frame.image.copy())

    def _save(self, image: np.ndarray) -> None:
        path = self.folder / f"dreamreel-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.saved) + 1:03d}.png"
        part = path.with_name(f".{path.stem}.part.png")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(part), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise OSError("the PNG encoder failed")
            os.replace(part, path)
        except (OSError, cv2.error) as err:
            log.error("screenshot not saved in %s: %s", self.folder, err)
            return
        self.saved.append(path)
        log.info("screenshot %s", path)

    def close(self) -> None:
        self._worker.shutdown(wait=True)


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` (HxWx3 or 4) inside `size` (width, height) whole, centred, its aspect kept;
    the bars are black (and, with alpha, transparent)."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    inner = (max(1, round(w * scale)), max(1, round(h * scale)))
    shrinking = scale < 1
    resized = cv2.resize(image, inner, interpolation=cv2.INTER_AREA if shrinking
                         else cv2.INTER_LINEAR)
    out = np.zeros((height, width, image.shape[2]), np.uint8)
    top, left = (height - inner[1]) // 2, (width - inner[0]) // 2
    out[top:top + inner[1], left:left + inner[0]] = resized
    return out


class Paced:
    """One output fed at a fixed rate (`--out-fps`): every 1/fps s the newest picture goes
    out, timestamped k/fps, repeated while the show is slower and the extra ones dropped while
    it is faster, so a mixer or a recording sees a steady stream whatever the camera and the
    effect do. Everything else (name, alpha, ...) is the wrapped output's."""

    def __init__(self, output: Writer, fps: float) -> None:
        self.output, self.period = output, 1.0 / fps
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name=f"paced-{output.name}",
                                        daemon=True)
        self._thread.start()

    def __getattr__(self, name: str):
        return getattr(self.output, name)

    def write(self, frame: Frame) -> None:
        with self._lock:
            self._latest = frame

    def _run(self) -> None:
        due = None  # when the next picture goes out; the clock starts with the first one
        while not self._stop.is_set():
            with self._lock:
                latest = self._latest
            if latest is None:
                self._stop.wait(0.005)
                continue
            now = time.perf_counter()
            due = now if due is None or now - due > self.period else due  # behind: skip ticks
            self.output.write(Frame(latest.image, self.sent, self.sent * self.period))
            self.sent += 1
            due += self.period
            self._stop.wait(max(0.0, due - time.perf_counter()))

    def stop(self) -> None:
        """No more ticks: called the moment the show ends, so the stream is as long as the
        show, however long the other outputs and the camera take to close."""
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self.stop()
        self.output.close()


class Guarded:
    """An output that may fail mid-show: a virtual camera whose v4l2loopback device goes away,
    an NDI sender whose network stack errors, a preview whose display is gone. The first
    failure is logged in one line and the output is dropped; the show goes on with the others.
    Everything else (name, poll, closed, ...) is the wrapped output's."""

    def __init__(self, output: Writer) -> None:
        self.output = output
        self.failed: Exception | None = None

    def __getattr__(self, name: str):
        return getattr(self.output, name)

    def write(self, frame: Frame) -> None:
        if self.failed is None:
            self._guard(self.output.write, frame)

    def poll(self) -> list[str]:
        """The preview's keys; none once it has failed."""
        keys = self._guard(self.output.poll) if self.failed is None else None
        return keys or []

    def close(self) -> None:
        if self.failed is None:
            try:
                self.output.close()
            except Exception as err:  # the show is over: say so, and close the others
                log.error("%s: could not close (%s)", self.output.name, err)

    def _guard(self, call: Callable, *args: object):
        try:
            return call(*args)
        except Exception as err:
            self.failed = err
            log.error("%s stopped (%s); the show goes on without it", self.output.name,
                      str(err).strip() or type(err).__name__)
            with contextlib.suppress(Exception):
                self.output.close()
            return None


def start_output(factory: Callable[..., Writer], *args: object) -> Guarded | None:
    """Start one output, guarded against failing later (`Guarded`), or log its one-line
    reason and return None."""
    try:
        return Guarded(factory(*args))
    except OutputUnavailable as err:
        log.error("%s", err)
        return None
