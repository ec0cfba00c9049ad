"""Frame-rate resampling, only when the user asks for it (`--fps`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from dreamreel.engine.media import Frame


def resample(frames: Iterable[Frame], fps: float) -> Iterator[Frame]:
    """Frames at exactly `fps`: output frame k shows the latest input frame at or before k/fps.

    Frames are dropped or repeated as needed; the output's timestamps are k/fps.
    """
    index = 0
    previous: Frame | None = None
    for frame in frames:
        while previous is not None and index / fps < frame.pts:
            yield _at(previous, index, fps)
            index += 1
        previous = frame
    if previous is not None:
        end = previous.pts + (previous.duration or 1.0 / fps)
        while index < round(end * fps):  # as FFmpeg's fps filter: the nearest frame count
            yield _at(previous, index, fps)
            index += 1


def _at(frame: Frame, index: int, fps: float) -> Frame:
    return replace(frame, index=index, pts=index / fps, duration=1.0 / fps,
                   pts_ticks=None, time_base=None)
