"""Animated GIF output: a palette per frame (FFmpeg palettegen/paletteuse) and the source's
own delays and loop count, so a stylized GIF animates like the original."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.errors import MediaError

from .base import Sink, next_ticks
from .safety import temp_name


class _GifSink(Sink):
    """Animated GIF: per-frame 256-colour palettes, the source's delays and loop count."""

    def __init__(self, path: Path, info: MediaInfo, dither: bool, overwrite: bool = False) -> None:
        super().__init__(path, temp_name(path), overwrite)
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
        ticks = next_ticks(frame, Fraction(1, 100), self._last_ticks)
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
