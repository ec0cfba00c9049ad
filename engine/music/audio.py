"""A file's sound as mono float32 blocks at one sample rate, timed like its frames.

A frame at output time `t` (seconds from `start`, see engine.sources) is heard at the same `t`
here: both are the stream's own timestamps minus the start, so a video stream and an audio
stream that begin at different moments stay in step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dreamreel.errors import MediaError

RATE = 22050  # Hz: what the features need (bands up to 11 kHz) at half the work of 44.1 kHz


def has_sound(path: str | Path) -> bool:
    """Whether the file has an audio stream that declares channels and a sample rate."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return any(s.codec_context.channels and s.codec_context.sample_rate
                       for s in container.streams.audio)
    except (av.FFmpegError, OSError):
        return False


def blocks(path: str | Path, start: float | None = None, duration: float | None = None,
           rate: int = RATE) -> Iterator[tuple[float, np.ndarray]]:
    """(time of the first sample in seconds from `start`, mono float32 samples) blocks over
    [start, start + duration), in order; a damaged packet is skipped like a gap."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError) as err:
        raise MediaError(f"{path}: cannot read its sound ({err})") from None
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path}: has no sound to react to")
        stream = container.streams.audio[0]
        origin = float(start or 0.0)
        end = None if duration is None else origin + duration
        if start:
            with contextlib.suppress(av.FFmpegError):
                container.seek(round(Fraction(start) / stream.time_base) + (stream.start_time or 0),
                               stream=stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in _frames(container, stream):
            if frame.time is None:
                continue
            for out in resampler.resample(frame):
                when = float(out.pts * Fraction(1, rate)) if out.pts is not None else frame.time
                samples = out.to_ndarray().reshape(-1).astype(np.float32)
                yield from _trimmed(when, samples, origin, end, rate)


def _frames(container: av.container.InputContainer, stream: av.AudioStream
            ) -> Iterator[av.AudioFrame]:
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except (StopIteration, av.FFmpegError):
            return
        try:
            yield from packet.decode()
        except av.FFmpegError:
            continue


def _trimmed(when: float, samples: np.ndarray, origin: float, end: float | None, rate: int
             ) -> Iterator[tuple[float, np.ndarray]]:
    """The part of a block inside [origin, end), timed from origin."""
    first = max(0, round((origin - when) * rate))
    last = len(samples) if end is None else min(len(samples), round((end - when) * rate))
    if last > first:
        yield when + first / rate - origin, samples[first:last]
