"""Video files: H.264 in mp4/mov/mkv, VP9 in webm, with the source's timestamps, rotation
and (optionally) audio, so a render plays in sync like its input. RGBA frames (a mask as
alpha) become ProRes 4444 in mov and VP9 with alpha in webm."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.errors import MediaError

from .audio import _AudioTrack
from .base import Sink, next_ticks
from .safety import temp_name

VIDEO_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
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
# Colour resolution: 4:2:0 halves it both ways and every player decodes it; 4:4:4 keeps a
# stroke's colour to the pixel (the panning bikes' stabilised output painted after Kandinsky
# 1.22x of the per-frame output's style distance against 1.32x, benchmarks/RESULTS.md "Which
# texture is lost"), in fewer players.
CHROMA = ("420", "444")
BT709 = 1  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC value for ITU-R BT.709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


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
        overwrite: bool = False,
        chroma: str = "420",
    ) -> None:
        super().__init__(path, temp_name(path), overwrite)
        if preset not in VP9_SPEED:
            raise MediaError(
                f"{path}: unknown preset '{preset}' (use one of {', '.join(VP9_SPEED)})"
            )
        if chroma not in CHROMA:
            raise MediaError(f"{path}: unknown chroma '{chroma}' (use one of {', '.join(CHROMA)})")
        self._fmt, self._info, self._crf, self._preset = fmt, info, crf, preset
        self._full_chroma = chroma == "444"
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
        self._copied = False  # the stream takes encoded segments (`adopt`), not frames

    def _add_streams(self, width: int, height: int, alpha: bool = False) -> av.VideoStream:
        if alpha and self._fmt == "mov":  # ProRes 4444: what editors lay over other tracks
            codec, options, pix_fmt = "prores_ks", {"profile": "4444"}, "yuva444p10le"
        elif self._fmt == "webm":
            codec = "libvpx-vp9"
            options = {
                "crf": str(min(63, round(self._crf * 31 / 23))),
                "b": "0",
                "cpu-used": str(VP9_SPEED[self._preset]),
                "deadline": "realtime" if VP9_SPEED[self._preset] >= 5 else "good",
                "row-mt": "1",
            }
            # VP9 codes odd sizes in 4:2:0, and its alpha only there
            pix_fmt = "yuva420p" if alpha else "yuv444p" if self._full_chroma else "yuv420p"
        else:
            codec = "libx264"
            options = {"crf": str(self._crf), "preset": self._preset}
            # 4:2:0 H.264 cannot code odd sizes; 4:4:4 keeps the exact size.
            even = width % 2 == 0 and height % 2 == 0
            pix_fmt = "yuv420p" if even and not self._full_chroma else "yuv444p"
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
            self._stream = self._add_streams(image.shape[1], image.shape[0], image.shape[2] == 4)
        stream = self._stream
        ticks = next_ticks(frame, self._tb, self._last_ticks)
        rgb = "rgba" if image.shape[2] == 4 else "rgb24"
        video_frame = av.VideoFrame.from_ndarray(image, format=rgb).reformat(
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

    def adopt(self, part: Path, first_ticks: int) -> None:
        """Append `part`, a segment of this output encoded elsewhere (a cluster worker, with
        the same settings), by copying its packets: no second encode. Its first frame is
        shown at `first_ticks` (in the source's time base) exactly: a segment's container may
        round its start (an MP4 edit list counts in milliseconds)."""
        try:
            self._adopt(part, first_ticks)
        except (av.FFmpegError, OSError) as err:
            raise self._error(f"join {part.name}", err) from err

    def _adopt(self, part: Path, first_ticks: int) -> None:
        with av.open(str(part)) as segment:
            video = segment.streams.video[0]
            if self._stream is None:
                self._copied, self._extradata = True, video.codec_context.extradata
                self._stream = self._container.add_stream_from_template(video)
                self._stream.time_base = self._tb
                if self._info.rotation:
                    self._stream.set_display_rotation(self._info.rotation)
                if self._audio:
                    self._audio.add_stream(self._container)
            elif not self._copied or video.codec_context.extradata != self._extradata:
                raise MediaError(f"{self.path}: {part.name} was encoded with other settings "
                                 "than the parts before it")
            tb = video.time_base  # the segment's container may count in its own
            first = round(first_ticks * self._tb / tb)
            shift = first - min(p.pts for p in segment.demux(video) if p.size)
            segment.seek(0, stream=video)
            for packet in segment.demux(video):
                if packet.size == 0:
                    continue
                packet.pts += shift
                if packet.dts is not None:  # Matroska gives none: the muxer derives it
                    packet.dts += shift
                shown = float(packet.pts * tb)
                self._last_pts = max(self._last_pts, shown)
                self._last_end = max(self._last_end, shown + float((packet.duration or 0) * tb))
                packet.stream = self._stream
                self._container.mux(packet)
                self.frames_written += 1
                if self._audio:  # the sound in step, as a single run muxes it
                    self._audio.feed(self._container, float((packet.dts or packet.pts) * tb))

    def _finish(self, interrupted: bool) -> None:
        if not self._copied:
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


def _time_base(info: MediaInfo) -> Fraction:
    if info.time_base:
        return info.time_base
    return 1 / info.fps if info.fps else Fraction(1, 1000)
