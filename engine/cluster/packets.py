"""A film's video packets without decoding them: the index a cluster run is planned on, the
compressed pieces it ships to workers, and the Source a worker decodes such a piece with.

Only compressed data travels (a 1080p RGB frame is 6 MB, its packet a few kB), and a worker
needs no copy of the film: it gets the packets from a clean access point up to the last one
its frames need, with the stream's codec parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.logging

from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.sources import Source, rgb_image
from dreamreel.errors import MediaError

# (data, pts, dts, duration): one packet, ready to ship
Packet = tuple[bytes, int | None, int | None, int | None]


@dataclass(frozen=True)
class Codec:
    """What a bare decoder needs to read the packets: the codec and its global headers."""

    name: str
    extradata: bytes | None
    time_base: Fraction


@dataclass(frozen=True)
class Index:
    """The frames of the (trimmed) film in presentation order, and where decoding may begin.

    frame_pts: each frame's timestamp in stream ticks, ascending; a frame's place in this list
      is its index in the output.
    frame_packet: the decode-order position of the packet that carries each frame.
    access: decode-order positions of keyframes a fresh decoder reads without errors.
    stamps: (pts, dts) of each packet in `access`: how `read` finds it again after a seek.
    origin: ticks subtracted from every timestamp (the trim start), as a single run does.
    """

    codec: Codec
    frame_pts: list[int]
    frame_packet: list[int]
    access: list[int]
    stamps: list[tuple[int, int | None]]
    origin: int

    @property
    def frames(self) -> int:
        return len(self.frame_pts)

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """The packets (decode-order positions first..last) from which frames lo..hi-1 decode:
        from the last clean access point before any of them to the last one they need."""
        needed = self.frame_packet[lo:hi]
        first = min(needed)
        start = max((p for p in self.access if p <= first), default=None)
        if start is None:
            raise MediaError(f"frames {lo}..{hi - 1} cannot be decoded without the frames "
                             "before the film's first keyframe")
        return start, max(needed)


def scan(info: MediaInfo, start: float | None = None, duration: float | None = None) -> Index:
    """Demux the video stream (nothing is decoded but each keyframe, once, to prove it is a
    clean place to begin: some encoders flag keyframes a fresh decoder cannot start from)."""
    tb = info.time_base
    origin = round(Fraction(start or 0) / tb)
    end = None if duration is None else origin + round(Fraction(duration) / tb)
    kept: list[tuple[int, int]] = []  # (pts, packet position)
    access: list[int] = []
    stamps: list[tuple[int, int | None]] = []
    with av.open(str(info.path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        codec = Codec(context.name, context.extradata, tb)
        position = 0
        for packet in _demuxed(container, stream):
            if packet.size == 0:
                continue
            if packet.pts is None:
                raise MediaError(f"{info.path}: its video packets carry no timestamps; run "
                                 "it without --ray")
            if packet.is_keyframe and _starts_clean(codec, packet):
                access.append(position)
                stamps.append((packet.pts, packet.dts))
            if not packet.is_discard and packet.pts >= origin and (end is None or packet.pts < end):
                kept.append((packet.pts, position))
            position += 1
    if not kept:
        raise MediaError(f"{info.path}: has no video frames in the range asked for")
    kept.sort()
    return Index(codec, [p for p, _ in kept], [q for _, q in kept], access, stamps, origin)


def _starts_clean(codec: Codec, packet: av.Packet) -> bool:
    """Whether a fresh decoder turns this keyframe into a picture without complaint."""
    decoder = _decoder(codec)
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # FFmpeg's complaints reach Python only when set
    try:
        with av.logging.Capture() as logs:
            frames = decoder.decode(_packet(_shipped(packet), codec)) + decoder.decode(None)
    except av.FFmpegError:
        return False
    finally:
        av.logging.set_level(level)
    errors = [line for level, _, line in logs if level <= av.logging.ERROR]
    return bool(frames) and not errors


def read(path: Path, index: Index, first: int, last: int) -> list[Packet]:
    """The video packets at decode-order positions first..last, `first` an access point:
    found by a seek to it, so a chunk late in a long film costs no read of all before it."""
    pts, dts = index.stamps[index.access.index(first)]
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        try:
            container.seek(pts, stream=stream, backward=True)
            packets = _from_stamp(container.demux(stream), (pts, dts), last - first + 1)
        except av.FFmpegError:
            packets = []
    if packets:
        return packets
    with av.open(str(path), metadata_errors="ignore") as container:  # not seekable: walk
        demuxed = (p for p in _demuxed(container, container.streams.video[0]) if p.size)
        return [_shipped(p) for p in itertools.islice(demuxed, first, last + 1)]


def _demuxed(container: av.container.InputContainer, stream: av.VideoStream
             ) -> Iterator[av.Packet]:
    """The stream's packets up to the end or to where the file is unreadable (a cut-short
    tail: what a single run decodes too)."""
    packets = container.demux(stream)
    while True:
        try:
            yield next(packets)
        except (StopIteration, av.FFmpegError):
            return


def _from_stamp(demuxed: Iterator[av.Packet], stamp: tuple[int, int | None],
                count: int) -> list[Packet]:
    """`count` packets from the one stamped (pts, dts); none if a seek passed it."""
    packets: list[Packet] = []
    for packet in demuxed:
        if packet.size == 0:
            continue
        if not packets and (packet.pts, packet.dts) != stamp:
            if packet.pts is not None and packet.pts > stamp[0] and packet.is_keyframe:
                return []  # landed after it
            continue
        packets.append(_shipped(packet))
        if len(packets) == count:
            break
    return packets


class PacketSource(Source):
    """Frames lo..hi-1 of a film, decoded from shipped packets (see `Index.span`), timed
    exactly as `engine.sources` times them when it reads the whole file."""

    def __init__(self, info: MediaInfo, codec: Codec, packets: list[Packet],
                 frame_pts: list[int], lo: int, origin: int) -> None:
        super().__init__()
        self.info = info
        self._codec, self._packets, self._origin = codec, packets, origin
        self._wanted = {pts: lo + i for i, pts in enumerate(frame_pts)}

    def _frames(self) -> Iterator[Frame]:
        tb = self._codec.time_base
        for frame in self._decode():
            index = self._wanted.pop(frame.pts, None)
            if index is None:
                continue
            shown = float(frame.duration * tb) if frame.duration else None
            ticks = frame.pts - self._origin
            image = rgb_image(frame)
            yield Frame(image, index, float(ticks * tb), shown, ticks, tb)
        self.lost_frames = len(self._wanted)

    def _decode(self) -> Iterator[av.VideoFrame]:
        decoder = _decoder(self._codec)
        decoder.thread_type = "AUTO"
        for packet in self._packets:
            try:
                yield from decoder.decode(_packet(packet, self._codec))
            except av.FFmpegError:
                continue  # counted as lost: its frame never arrives
        yield from decoder.decode(None)


def _decoder(codec: Codec) -> av.CodecContext:
    decoder = av.CodecContext.create(codec.name, "r")
    if codec.extradata:
        decoder.extradata = codec.extradata
    return decoder


def _shipped(packet: av.Packet) -> Packet:
    return bytes(packet), packet.pts, packet.dts, packet.duration


def _packet(shipped: Packet, codec: Codec) -> av.Packet:
    data, pts, dts, duration = shipped
    packet = av.Packet(data)
    packet.pts, packet.dts, packet.time_base = pts, dts, codec.time_base
    if duration:
        packet.duration = duration
    return packet
