"""Click tracks at a known tempo, muxed into a real clip's video (its packets copied as they
are), for the music tests: the only sound whose beats are known to the millisecond."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

RATE = 44100


def clicks(bpm: float, seconds: float, first: float = 0.25, rate: int = RATE,
           noise: float = 0.02, end_beat: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mono float32 samples, click times): a kick (60 Hz) plus a tick (1.5 kHz) on every beat
    from `first` until `end_beat` seconds (default: the end), over faint noise."""
    t = np.arange(int(seconds * rate)) / rate
    sound = noise * np.random.default_rng(7).standard_normal(len(t))
    hit = np.arange(int(0.08 * rate)) / rate
    shape = (0.8 * np.sin(2 * np.pi * 60 * hit) + 0.3 * np.sin(2 * np.pi * 1500 * hit)) \
        * np.exp(-hit / 0.03)
    times = np.arange(first, end_beat if end_beat is not None else seconds - 0.2, 60.0 / bpm)
    for when in times:
        i = int(round(when * rate))
        part = sound[i: i + len(shape)]
        part += shape[: len(part)]
    return sound.astype(np.float32), times


def mux(video: Path, sound: np.ndarray, out: Path, rate: int = RATE) -> Path:
    """`video`'s picture (copied, not re-encoded) with `sound` as AAC, into `out`."""
    with av.open(str(video)) as source, av.open(str(out), "w") as target:
        picture = source.streams.video[0]
        copied = target.add_stream_from_template(picture)
        add_aac(target, sound, rate)  # every stream is added before the first packet
        for packet in source.demux(picture):
            if packet.dts is None:
                continue
            packet.stream = copied
            target.mux(packet)
    return out


def add_aac(target: av.container.OutputContainer, sound: np.ndarray, rate: int = RATE) -> None:
    """`sound` (mono float32) as an AAC track of `target`, encoded whole."""
    track = target.add_stream("aac", rate=rate, layout="mono")
    for start in range(0, len(sound), 1024):
        piece = av.AudioFrame.from_ndarray(sound[None, start: start + 1024], format="flt",
                                           layout="mono")
        piece.sample_rate, piece.pts = rate, start
        target.mux(track.encode(piece))
    target.mux(track.encode(None))
