"""Media sources: one streaming interface over video files, GIFs, image folders and single images.

The pipeline needs frames as RGB arrays with exact timestamps, whatever the input is. Sources
decode lazily (constant memory for any length), trim on timestamps, and treat a damaged stream as
"decode what can be decoded and say how much was lost" rather than failing half way through a
long render. Inputs that cannot work at all (missing, not media, no video) fail up front with a
MediaError that names the file.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from dreamreel.errors import MediaError

from .media import Frame, MediaInfo

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
# How animations and video containers begin (GIF, Matroska/WebM; MP4/MOV have "ftyp" at byte 4):
# a file named .png that starts like one is decoded as what it is, not as its first frame.
MOVING_SIGNATURES = (b"GIF87a", b"GIF89a", b"\x1a\x45\xdf\xa3")

# (source timestamp in ticks, shown duration in seconds or None, decode-to-RGB callback)
RawFrame = tuple[int, float | None, Callable[[], np.ndarray]]


def open_source(
    spec: str | Path,
    start: float | None = None,
    duration: float | None = None,
    *,
    fps: float | Fraction = 25,
) -> Source:
    """Open a video file, animated GIF, image folder, glob pattern or single image for reading.

    start/duration trim on timestamps (seconds); frames keep their timing relative to `start`.
    fps is the nominal rate of an image sequence (ignored for other kinds). A single image is one
    frame at pts 0 and ignores trimming.
    """
    if start is not None and start < 0:
        raise MediaError(f"{spec}: start must be >= 0 seconds, got {start}")
    if duration is not None and duration <= 0:
        raise MediaError(f"{spec}: duration must be > 0 seconds, got {duration}")
    path = Path(spec)
    if not path.exists() and glob.has_magic(str(spec)):
        files = [Path(p) for p in glob.glob(str(spec)) if Path(p).is_file()]
        if not files:
            raise MediaError(f"{spec}: no files match this pattern")
        return _ImageSequenceSource(path, sorted(files, key=_natural_key), fps, start, duration)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise MediaError(
                f"{path}: folder contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return _ImageSequenceSource(path, sorted(files, key=_natural_key), fps, start, duration)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_EXTENSIONS and not _moving(path):
        return _ImageSource(path)
    return _AVSource(path, start, duration)


def warn(message: str) -> None:
    """Say, once per process, that a damaged input still renders and what of it was lost (a
    looped live source or a painting read twice must not repeat it)."""
    if message not in _warned:
        _warned.add(message)
        print(f"dreamreel: warning: {message}", file=sys.stderr, flush=True)


_warned: set[str] = set()


class Source:
    """An iterable of Frame with `.info`; iterate once, inside `with`.

    `lost_frames` (valid after iteration) counts frames that could not be decoded: corrupt
    packets, unreadable images and, after a full untrimmed pass, frames the container index
    promised but that never arrived (a truncated file).
    """

    info: MediaInfo

    def __init__(self) -> None:
        self.lost_frames = 0
        self._used = False

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._used:
            raise MediaError(f"{self.info.path}: this source was already read; open it again")
        self._used = True
        return self._frames()

    def close(self) -> None:
        """Release the file; safe to call twice."""

    def _frames(self) -> Iterator[Frame]:
        raise NotImplementedError


class _AVSource(Source):
    """Video files and GIFs, decoded by FFmpeg through PyAV."""

    def __init__(self, path: Path, start: float | None, duration: float | None) -> None:
        super().__init__()
        try:
            self._container = av.open(str(path), metadata_errors="ignore")
        except av.FFmpegError as err:
            why = getattr(err, "strerror", None) or err  # not FFmpeg's errno and the path again
            raise MediaError(f"{path}: not a readable media file ({why})") from err
        try:
            self._setup(path, start, duration)
        except BaseException:
            self._container.close()
            raise

    def _setup(self, path: Path, start: float | None, duration: float | None) -> None:
        container = self._container
        videos = [
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic
        ]
        if not videos:
            raise MediaError(f"{path}: has no video stream")
        stream = self._stream = videos[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 1_000_000)
        self._start, self._duration = start, duration
        fps = stream.average_rate or stream.guessed_rate
        self._step = round(1 / (fps * tb)) if fps else 1
        if start:
            try:
                container.seek(
                    round(Fraction(start) / tb) + (stream.start_time or 0), stream=stream
                )
            except av.FFmpegError:
                pass  # not seekable: decode from the beginning, the trim below still applies
        self._decoded = self._decode()
        self._first = next(self._decoded, None)
        if self._first is None:
            where = f" after {start} s" if start else ""
            raise MediaError(f"{path}: has no decodable video frames{where}")

        total = _seconds(stream.duration, tb) or (
            container.duration / 1_000_000 if container.duration else None
        )
        length = total
        if total is not None and start:
            length = max(total - start, 0.0)
        if duration is not None:
            length = duration if length is None else min(length, duration)
        count = stream.frames or None
        if (start or duration) and length is not None and fps:
            count = round(length * fps)
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None and not (audio.codec_context.channels and audio.codec_context.sample_rate):
            warn(f"{path}: its audio track is damaged (no channels or sample rate); "
                 "the output has no sound")
            audio = None
        kind = "gif" if container.format.name == "gif" else "video"
        self.info = MediaInfo(
            path=path,
            kind=kind,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=Fraction(fps) if fps else None,
            frame_count=count,
            duration=length,
            time_base=tb,
            rotation=round(self._first.rotation / 90) % 4 * 90,
            loop=_gif_loop_count(path) if kind == "gif" else None,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.codec.canonical_name if audio else None,
        )
        self._tb = tb
        self._end = 0  # where the last decoded frame ends, in ticks

    def close(self) -> None:
        self._container.close()

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Yield decoded frames; a corrupt packet is counted and skipped, a read error ends."""
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:  # truncated or unreadable tail: flush what the decoder holds
                packet = None
            try:
                yield from self._stream.decode(packet)
            except av.FFmpegError:
                self.lost_frames += 1
            if packet is None:
                return

    def _raw(self) -> Iterator[RawFrame]:
        ticks = None
        for frame in _prepend(self._first, self._decoded):
            ticks = frame.pts if frame.pts is not None else (ticks or 0) + self._step
            shown = _seconds(frame.duration, self._tb)
            self._end = max(self._end, ticks + (frame.duration or self._step))
            yield ticks, shown, _rgb(frame)

    def _frames(self) -> Iterator[Frame]:
        count = yield from _trim(self._raw(), self.info, self._start, self._duration)
        if self._start is not None or self._duration is not None:
            return
        missing = (self._stream.frames - count) if self._stream.frames else self._missing_time()
        self.lost_frames = max(self.lost_frames, missing)
        broken = _gif_break(self.info.path) if self.info.kind == "gif" else None
        if broken is not None:  # FFmpeg stops there without a word: the rest is lost
            warn(f"{self.info.path}: the GIF is damaged or cut short at byte {broken}; kept the "
                 f"{count} frame(s) before it, anything after is lost")

    def _missing_time(self) -> int:
        """Without a frame count (WebM, Matroska), the frames that the stream's declared
        length holds beyond the end of the last decoded one: what a cut-short file lost."""
        stream, fps = self._stream, self.info.fps
        declared = _seconds(stream.duration, self._tb) or _tag_seconds(
            stream.metadata.get("DURATION"))
        if not declared or not fps:
            return 0
        decoded = float((self._end - (stream.start_time or 0)) * self._tb)
        return max(0, round((declared - decoded) * fps))


class _ImageSequenceSource(Source):
    """Numbered images read one at a time at a nominal frame rate."""

    def __init__(
        self,
        spec: Path,
        files: list[Path],
        fps: float | Fraction,
        start: float | None,
        duration: float | None,
    ) -> None:
        super().__init__()
        self._files, self._start, self._duration = files, start, duration
        rate = Fraction(fps).limit_denominator(1001)
        if rate <= 0:
            raise MediaError(f"{spec}: image sequence fps must be > 0, got {fps}")
        first = read_image(files[0])
        skipped = round(Fraction(start or 0) * rate)
        count = len(files) - skipped
        if duration is not None:
            count = min(count, round(duration * rate))
        self.info = MediaInfo(
            path=spec,
            kind="images",
            width=first.shape[1],
            height=first.shape[0],
            fps=rate,
            frame_count=max(count, 0),
            duration=float(max(count, 0) / rate),
            time_base=1 / rate,
        )

    def _raw(self) -> Iterator[RawFrame]:
        for ticks, file in enumerate(self._files):
            yield ticks, None, lambda file=file: self._load(file)

    def _load(self, file: Path) -> np.ndarray | None:
        try:
            image = read_image(file)
        except MediaError:
            self.lost_frames += 1
            return None
        if image.shape[:2] != (self.info.height, self.info.width):
            raise MediaError(
                f"{file}: is {image.shape[1]}x{image.shape[0]}, but the sequence starts at "
                f"{self.info.width}x{self.info.height}; all images must have the same size"
            )
        return image

    def _frames(self) -> Iterator[Frame]:
        yield from _trim(self._raw(), self.info, self._start, self._duration)


class _ImageSource(Source):
    """One still image as a one-frame clip."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._image = read_image(path)
        height, width = self._image.shape[:2]
        self.info = MediaInfo(path=path, kind="image", width=width, height=height, frame_count=1)

    def _frames(self) -> Iterator[Frame]:
        yield Frame(image=self._image, index=0, pts=0.0)


def _trim(
    raw: Iterable[RawFrame], info: MediaInfo, start: float | None, duration: float | None
) -> Iterator[Frame]:
    """Keep frames with start <= pts < start + duration, re-timed from start; return the count.

    A callback returning None (unreadable image) drops that frame but keeps the others' timing.
    """
    tb = info.time_base
    origin = round(Fraction(start or 0) / tb)
    end = None if duration is None else origin + round(Fraction(duration) / tb)
    index = 0
    for ticks, shown, load in raw:
        if start is not None and ticks < origin:
            continue
        if end is not None and ticks >= end:
            break
        image = load()
        if image is None:
            continue
        pts_ticks = ticks - origin
        yield Frame(image, index, float(pts_ticks * tb), shown, pts_ticks, tb)
        index += 1
    if index == 0:
        where = f" between {start or 0} s and {(start or 0) + duration} s" if duration else ""
        raise MediaError(f"{info.path}: has no decodable video frames{where}")
    return index


# FFmpeg's quick YUV to RGB conversion repeats each chroma sample of 4:2:0 video over 2x2
# pixels and rounds about a level dark. Fine colour detail then steps along the block grid as
# it moves, flicker that is no part of the picture. With these flags the chroma is
# interpolated and the rounding exact, as a player shows it: about 3.5 ms a 720p frame
# (benchmarks/RESULTS.md, "Decoding colour").
EXACT_RGB = (av.video.reformatter.Interpolation.BILINEAR
             | av.video.reformatter.Interpolation.FULL_CHR_H_INT
             | av.video.reformatter.Interpolation.ACCURATE_RND)


def rgb_image(frame: av.VideoFrame) -> np.ndarray:
    """A decoded video frame as uint8 RGB [H, W, 3], its chroma interpolated (EXACT_RGB)."""
    return np.ascontiguousarray(frame.reformat(format="rgb24", interpolation=EXACT_RGB)
                                .to_ndarray())


def _rgb(frame: av.VideoFrame) -> Callable[[], np.ndarray]:
    return lambda: rgb_image(frame)


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3], or a one-line MediaError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such image file")
    with _c_stderr() as complaints:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    why = "; ".join(complaints)
    if image is None:
        raise MediaError(f"{path}: not an image OpenCV can read (png, jpg, webp, bmp, tiff)"
                         + (f": {why}" if why else ""))
    if why:
        warn(f"{path}: the picture is damaged ({why}); kept what decoded")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


@contextlib.contextmanager
def _c_stderr() -> Iterator[list[str]]:
    """What libjpeg and libpng print straight to file descriptor 2 while decoding ("Corrupt
    JPEG data: ..."), caught into the list so it reaches the user as one of our lines.

    Only while no other thread runs (a still input, a painting, read before the work starts):
    another thread's progress bar or log line would be swallowed and taken for the picture's.
    """
    complaints: list[str] = []
    try:
        saved = os.dup(2) if threading.active_count() == 1 else None
    except OSError:  # no stderr at all: nothing to catch
        saved = None
    if saved is None:
        yield complaints
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield complaints
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(2000).decode(errors="replace")
            complaints.extend(line.strip() for line in text.splitlines() if line.strip())


def _gif_loop_count(path: Path) -> int | None:
    """The NETSCAPE2.0 loop count (0 = forever), None when absent (play once)."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
    at = head.find(b"NETSCAPE2.0\x03\x01")
    if at < 0 or len(head) < at + 15:
        return None
    return int.from_bytes(head[at + 13 : at + 15], "little")


def _seconds(ticks: int | None, tb: Fraction) -> float | None:
    return float(ticks * tb) if ticks else None


def _tag_seconds(text: str | None) -> float | None:
    """A Matroska DURATION tag ("00:01:02.500000000") in seconds, None when absent or bad."""
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", (text or "").strip())
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _moving(path: Path) -> bool:
    """Whether the file starts like an animation or a video container."""
    with path.open("rb") as f:
        head = f.read(12)
    return head.startswith(MOVING_SIGNATURES) or head[4:8] == b"ftyp"


def _gif_break(path: Path) -> int | None:
    """Where a GIF's block structure breaks off (cut short, or overwritten), None when it
    runs whole to its end marker."""
    data = path.read_bytes()
    if len(data) < 13:
        return len(data)
    at = 13 + (3 * (2 << (data[10] & 7)) if data[10] & 0x80 else 0)  # the global palette
    while at < len(data):
        block = data[at]
        if block == 0x3B:  # the end marker
            return None
        if block == 0x21:  # an extension: its label, then data blocks
            at += 2
        elif block == 0x2C and at + 10 <= len(data):  # a picture: its header, palette, data
            flags = data[at + 9]
            at += 11 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
        else:
            return at
        while at < len(data) and data[at]:  # data blocks, each led by its size, until a 0
            at += 1 + data[at]
        if at >= len(data):
            return len(data)
        at += 1
    return len(data)


def _prepend(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]
