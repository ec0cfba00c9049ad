"""Media sinks: write stylized frames as video, GIF, a PNG folder or one image.

A render can take hours, so a sink must never leave a half-written file under the name the user
asked for: it writes to a hidden temporary next to the target and renames it on close (Ctrl-C
still closes properly, so the frames so far are kept; any other error removes the temporary).
Timing is written back from each frame's exact source timestamp, so variable frame rate, GIF
delays, the frame count and audio sync survive; the input's audio is copied unchanged when the
output container accepts the codec, and re-encoded otherwise.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import uuid
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from dreamreel.errors import MediaError

from .media import Frame, MediaInfo

VIDEO_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
# Audio codecs each container takes as they are; anything else is re-encoded.
AUDIO_COPY = {
    "mp4": {"aac", "mp3", "alac"},
    "mov": {"aac", "mp3", "alac", "pcm_s16le"},
    "matroska": {"aac", "mp3", "alac", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le"},
    "webm": {"opus", "vorbis"},
}
AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus"}
# libvpx "cpu-used" (speed) for each x264 preset name; 5 and up use the realtime deadline.
VP9_SPEED = {
    "ultrafast": 8,
    "superfast": 7,
    "veryfast": 6,
    "faster": 5,
    "fast": 5,
    "medium": 4,
    "slow": 2,
    "slower": 1,
    "veryslow": 0,
}
BT709 = 1  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC value for ITU-R BT.709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


def open_sink(
    path: str | Path,
    info: MediaInfo,
    *,
    crf: int = 18,
    preset: str = "medium",
    audio_from: MediaInfo | None = None,
    start: float | None = None,
    duration: float | None = None,
    gif_dither: bool = True,
    overwrite: bool = False,
) -> Sink:
    """Open an output chosen by `path`.

    .mp4/.mov/.mkv: H.264 (yuv420p; yuv444p when a side is odd, to keep the exact size);
    .webm: VP9 (crf on the x264 scale, mapped); .gif: per-frame palettes, source delays and loop
    count; a path ending in '/', an existing folder or no extension: frame_000000.png ...;
    .png/.jpg/...: one still image. `info` describes the source (timing, rotation, GIF loop);
    `audio_from` (usually the same info) adds its audio trimmed to start/duration.
    """
    text = str(path)
    path = Path(path)
    suffix = path.suffix.lower()
    sources = [info] + ([audio_from] if audio_from is not None else [])
    if text.endswith(("/", os.sep)) or path.is_dir() or not suffix:
        check_target(path, sources, overwrite, folder=True)
        return _FolderSink(path, info)
    check_target(path, sources, overwrite, folder=False)
    if suffix in VIDEO_FORMATS:
        audio = audio_from if audio_from is not None and audio_from.has_audio else None
        fmt = VIDEO_FORMATS[suffix]
        return _VideoSink(path, fmt, info, crf, preset, audio, start, duration)
    if suffix == ".gif":
        return _GifSink(path, info, gif_dither)
    if suffix in IMAGE_EXTENSIONS:
        return _ImageSink(path, info)
    supported = sorted({*VIDEO_FORMATS, ".gif", *IMAGE_EXTENSIONS})
    raise MediaError(
        f"{path}: unsupported output type '{suffix}' (use one of {', '.join(supported)} or a folder)"
    )


class Sink:
    """Write frames with `.write()`; `.close()` publishes the file, `.abort()` discards it."""

    def __init__(self, path: Path, temp: Path) -> None:
        self.path = path
        self.frames_written = 0
        self._temp = temp
        self._size: tuple[int, int] | None = None
        self._done = False

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, KeyboardInterrupt) and self.frames_written:
            self._close(interrupted=True)
        else:
            self.abort()

    def write(self, frame: Frame) -> None:
        """Encode one frame; every frame must be the size of the first."""
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise MediaError(
                f"{self.path}: frame {frame.index} must be an HxWx3 uint8 RGB image, "
                f"got shape {image.shape} {image.dtype}"
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
            raise MediaError(f"{self.path}: cannot write frame {frame.index} ({err})") from err
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
        try:
            self._finish(interrupted)
            self._publish()
        except (av.FFmpegError, OSError) as err:
            self.abort()
            raise MediaError(f"{self.path}: cannot finish the output ({err})") from err
        except BaseException:
            self.abort()
            raise
        self._done = True

    def _publish(self) -> None:
        os.replace(self._temp, self.path)

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        raise NotImplementedError

    def _finish(self, interrupted: bool) -> None:
        """Flush encoders and close the temporary file."""

    def _release(self) -> None:
        """Close open handles without finishing (used by abort)."""


class _VideoSink(Sink):
    """H.264 or VP9 in mp4/mov/mkv/webm, with source timestamps and optional audio."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        info: MediaInfo,
        crf: int,
        preset: str,
        audio_from: MediaInfo | None,
        start: float | None,
        duration: float | None,
    ) -> None:
        super().__init__(path, temp_name(path))
        if preset not in VP9_SPEED:
            raise MediaError(
                f"{path}: unknown preset '{preset}' (use one of {', '.join(VP9_SPEED)})"
            )
        self._fmt, self._info, self._crf, self._preset = fmt, info, crf, preset
        self._tb = _time_base(info)
        self._last_ticks: int | None = None
        self._last_pts = self._last_end = 0.0
        self._audio = _AudioTrack(audio_from, fmt, start, duration) if audio_from else None
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._temp), "w", format=fmt, options=options)
        except (av.FFmpegError, OSError) as err:
            if self._audio:
                self._audio.close()
            raise MediaError(f"{path}: cannot create the output file ({err})") from err
        self._stream: av.VideoStream | None = None

    def _add_streams(self, width: int, height: int) -> av.VideoStream:
        if self._fmt == "webm":
            codec = "libvpx-vp9"
            options = {
                "crf": str(min(63, round(self._crf * 31 / 23))),
                "b": "0",
                "cpu-used": str(VP9_SPEED[self._preset]),
                "deadline": "realtime" if VP9_SPEED[self._preset] >= 5 else "good",
                "row-mt": "1",
            }
            pix_fmt = "yuv420p"  # VP9 codes odd sizes in 4:2:0
        else:
            codec = "libx264"
            options = {"crf": str(self._crf), "preset": self._preset}
            # 4:2:0 H.264 cannot code odd sizes; 4:4:4 keeps the exact size.
            pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        stream = self._container.add_stream(codec, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = self._tb
        context = stream.codec_context
        context.time_base = self._tb
        if self._info.fps:
            context.framerate = self._info.fps
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = LIMITED_RANGE
        if self._info.rotation:
            stream.set_display_rotation(self._info.rotation)
        if self._audio:
            self._audio.add_stream(self._container)
        return stream

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        if self._stream is None:
            self._stream = self._add_streams(image.shape[1], image.shape[0])
        stream = self._stream
        ticks = _next_ticks(frame, self._tb, self._last_ticks)
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format=stream.pix_fmt, dst_colorspace=BT709, dst_color_range=LIMITED_RANGE
        )
        video_frame.pts = ticks
        video_frame.time_base = self._tb
        if frame.duration:
            video_frame.duration = max(1, round(Fraction(frame.duration) / self._tb))
        self._container.mux(stream.encode(video_frame))
        self._last_ticks = ticks
        self._last_pts = float(ticks * self._tb)
        self._last_end = self._last_pts + float(frame.duration or 0)
        if self._audio:
            self._audio.feed(self._container, self._last_pts)

    def _finish(self, interrupted: bool) -> None:
        self._container.mux(self._stream.encode(None))
        if self._audio:
            self._audio.feed(self._container, self._last_end if interrupted else math.inf)
            self._audio.flush(self._container)
            self._audio.close()
        self._container.close()

    def _release(self) -> None:
        if self._audio:
            self._audio.close()
        self._container.close()


class _AudioTrack:
    """The input's audio, read by its own demuxer and muxed as the video advances.

    Packets are copied unchanged when the container accepts the codec, else decoded and
    re-encoded; both are trimmed to [start, start + duration) and re-timed from start.
    """

    def __init__(
        self, info: MediaInfo, fmt: str, start: float | None, duration: float | None
    ) -> None:
        try:
            self._input = av.open(str(info.path), metadata_errors="ignore")
        except (av.FFmpegError, OSError) as err:
            raise MediaError(f"{info.path}: cannot read audio ({err})") from err
        if not self._input.streams.audio:
            self._input.close()
            raise MediaError(f"{info.path}: has no audio stream")
        self._in = self._input.streams.audio[0]
        self._fmt = fmt
        self._copy = self._in.codec_context.codec.canonical_name in AUDIO_COPY[fmt]
        tb = self._in.time_base
        # Audio before the start is dropped; untrimmed mp4/mov keep the codec's pre-roll (negative
        # timestamps, stored as an edit list), which Matroska would shift the whole file for.
        self._keep_preroll = start is None and fmt in ("mp4", "mov")
        self._origin = round(Fraction(start or 0) / tb)
        self._end = None if duration is None else self._origin + round(Fraction(duration) / tb)
        if start:
            with contextlib.suppress(av.FFmpegError):
                self._input.seek(self._origin + (self._in.start_time or 0), stream=self._in)
        self._packets = self._input.demux(self._in)
        self._pending: av.Packet | None = None
        self._out: av.AudioStream | None = None

    def add_stream(self, container: av.container.OutputContainer) -> None:
        if self._copy:
            self._out = container.add_stream_from_template(self._in)
            return
        codec = AUDIO_ENCODER[self._fmt]
        rate = 48000 if codec == "libopus" else self._in.codec_context.sample_rate
        layout = (
            self._in.codec_context.layout.name if self._in.codec_context.channels <= 2 else "stereo"
        )
        self._out = container.add_stream(codec, rate=rate, layout=layout)
        self._out.bit_rate = 192_000

    def feed(self, container: av.container.OutputContainer, until: float) -> None:
        """Mux the input's audio up to `until` seconds of output time."""
        limit = math.inf if until == math.inf else self._origin + until / self._in.time_base
        while True:
            packet = self._pending or self._next_packet()
            if packet is None:
                return
            if packet.pts >= limit:
                self._pending = packet
                return
            self._pending = None
            if packet.pts < self._origin and not self._keep_preroll:
                continue
            if self._copy:
                packet.pts -= self._origin
                if packet.dts is not None:
                    packet.dts -= self._origin
                packet.stream = self._out
                container.mux(packet)
            else:
                for frame in self._decode(packet):
                    frame.pts -= self._origin
                    container.mux(self._out.encode(frame))

    def flush(self, container: av.container.OutputContainer) -> None:
        if not self._copy:
            container.mux(self._out.encode(None))

    def close(self) -> None:
        self._input.close()

    def _next_packet(self) -> av.Packet | None:
        """The next timed packet inside the trim window, None at the end (or a read error)."""
        while True:
            try:
                packet = next(self._packets)
            except (StopIteration, av.FFmpegError):
                return None
            if packet.pts is None or packet.size == 0:
                continue
            if self._end is not None and packet.pts >= self._end:
                return None
            return packet

    def _decode(self, packet: av.Packet) -> list[av.AudioFrame]:
        try:
            return [frame for frame in packet.decode() if frame.pts is not None]
        except av.FFmpegError:
            return []  # a corrupt audio packet: skip it, keep the rest


class _GifSink(Sink):
    """Animated GIF: per-frame 256-colour palettes, the source's delays and loop count."""

    def __init__(self, path: Path, info: MediaInfo, dither: bool) -> None:
        super().__init__(path, temp_name(path))
        self._info = info
        self._dither = "sierra2_4a" if dither else "none"
        # GIF muxer: -1 plays once, 0 loops forever, N repeats N times (NETSCAPE2.0 value).
        loop = (-1 if info.loop is None else info.loop) if info.kind == "gif" else 0
        self._rotation = info.rotation
        self._last_ticks: int | None = None
        self._durations: dict[int, int] = {}
        self._fallback = round(100 / info.fps) if info.fps else 10
        try:
            self._container = av.open(
                str(self._temp), "w", format="gif", options={"loop": str(loop)}
            )
        except (av.FFmpegError, OSError) as err:
            raise MediaError(f"{path}: cannot create the output file ({err})") from err
        self._stream: av.VideoStream | None = None
        self._graph: av.filter.Graph | None = None

    def _start(self, width: int, height: int) -> None:
        stream = self._container.add_stream("gif")
        stream.width, stream.height, stream.pix_fmt = width, height, "pal8"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 100)
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=width, height=height, format="rgb24", time_base=Fraction(1, 100)
        )
        split = graph.add("split")
        palette = graph.add("palettegen", "stats_mode=single")
        apply = graph.add("paletteuse", f"new=1:dither={self._dither}")
        sink = graph.add("buffersink")
        source.link_to(split)
        split.link_to(palette, 0, 0)
        split.link_to(apply, 1, 0)
        palette.link_to(apply, 0, 1)
        apply.link_to(sink)
        graph.configure()
        self._stream, self._graph = stream, graph

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        image = np.ascontiguousarray(np.rot90(image, self._rotation // 90))
        if self._graph is None:
            self._start(image.shape[1], image.shape[0])
        ticks = _next_ticks(frame, Fraction(1, 100), self._last_ticks)
        if frame.duration:
            self._durations[ticks] = max(1, round(frame.duration * 100))
        elif self._last_ticks is not None:
            self._fallback = ticks - self._last_ticks
        self._last_ticks = ticks
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts = ticks
        video_frame.time_base = Fraction(1, 100)
        self._graph.push(video_frame)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            for packet in self._stream.encode(frame):
                self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        packet.duration = self._durations.pop(packet.pts, self._fallback)
        self._container.mux(packet)

    def _finish(self, interrupted: bool) -> None:
        self._graph.push(None)
        self._drain()
        for packet in self._stream.encode(None):
            self._mux(packet)
        self._container.close()

    def _release(self) -> None:
        self._container.close()


class _FolderSink(Sink):
    """A folder of frame_000000.png ...; written to a hidden folder, moved in on close."""

    def __init__(self, path: Path, info: MediaInfo) -> None:
        temp = temp_name(path)
        super().__init__(path, temp)
        self._rotation = info.rotation
        try:
            temp.mkdir()
        except OSError as err:
            raise MediaError(f"{path}: cannot create the output folder ({err})") from err

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        _save_image(self._temp / f"frame_{self.frames_written:06d}.png", image, self._rotation)

    def _publish(self) -> None:
        if not self.path.exists():
            os.replace(self._temp, self.path)
            return
        for old in self.path.glob("frame_[0-9][0-9][0-9][0-9][0-9][0-9].png"):
            old.unlink()
        for new in sorted(self._temp.iterdir()):
            os.replace(new, self.path / new.name)
        self._temp.rmdir()


class _ImageSink(Sink):
    """One still image (the single frame of an image input)."""

    def __init__(self, path: Path, info: MediaInfo) -> None:
        super().__init__(path, temp_name(path))
        self._rotation = info.rotation

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        if self.frames_written:
            raise MediaError(
                f"{self.path}: an image output holds one frame; write to a folder or a video/GIF instead"
            )
        _save_image(self._temp, image, self._rotation, self.path.suffix)


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
        raise MediaError(f"{path}: is a folder; choose a file name")
    elif target.exists() and not overwrite:
        raise MediaError(f"{path}: already exists; use -y (--overwrite) to replace it")


def temp_name(path: Path) -> Path:
    """A hidden sibling of `path`, keeping the extension so encoders pick the right format."""
    return path.parent / f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}"


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """`write` fills a hidden temporary next to `path`, which then takes its name: a reader
    never sees half a file, and a failure leaves nothing behind."""
    temp = temp_name(path)
    try:
        write(temp)
        os.replace(temp, path)
    except OSError as err:
        raise MediaError(f"{path}: cannot write it ({err.strerror or err})") from err
    finally:
        temp.unlink(missing_ok=True)


def _time_base(info: MediaInfo) -> Fraction:
    if info.time_base:
        return info.time_base
    return 1 / info.fps if info.fps else Fraction(1, 1000)


def _next_ticks(frame: Frame, tb: Fraction, last: int | None) -> int:
    """The frame's timestamp in `tb`, exact when it came in that time base, always increasing."""
    if frame.pts_ticks is not None and frame.time_base == tb:
        ticks = frame.pts_ticks
    else:
        ticks = round(Fraction(frame.pts) / tb)
    return ticks if last is None else max(ticks, last + 1)


def _save_image(path: Path, image: np.ndarray, rotation: int, ext: str = ".png") -> None:
    """Encode with OpenCV, turned upright (still images cannot carry rotation metadata)."""
    upright = np.rot90(image, rotation // 90)
    ok, data = cv2.imencode(ext, cv2.cvtColor(upright, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"{path}: OpenCV cannot encode a '{ext}' image")
    path.write_bytes(data.tobytes())
