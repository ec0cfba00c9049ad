"""The input's audio in a video output: copied when the container takes the codec, else
re-encoded, trimmed to the rendered range and muxed in step with the video."""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction

import av

from dreamreel.engine.media import MediaInfo
from dreamreel.errors import MediaError

# Audio codecs each container takes as they are; anything else is re-encoded.
AUDIO_COPY = {
    "mp4": {"aac", "mp3", "alac"},
    "mov": {"aac", "mp3", "alac", "pcm_s16le"},
    "matroska": {"aac", "mp3", "alac", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le"},
    "webm": {"opus", "vorbis"},
}
AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus"}


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
