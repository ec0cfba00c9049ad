"""Types shared by media sources and sinks.

Sources (decoders) and sinks (encoders) exchange only these types, so any source can feed any
sink and the stylization graph in between never sees a container, codec or timestamp format.
Each Frame carries its source timestamp exactly (ticks + time base) so that variable frame rate,
GIF frame durations and audio sync survive a decode -> stylize -> encode round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

MediaKind = Literal["video", "gif", "images", "image"]


@dataclass(frozen=True)
class Frame:
    """One decoded picture and when it is shown.

    image: (H, W, 3) uint8 RGB, C-contiguous, as stored (not rotated; see MediaInfo.rotation).
    index: position in the output, 0-based.
    pts: seconds from the start of the output (after trimming); equals pts_ticks * time_base
        when those are set.
    duration: how long the frame is shown in seconds, when the source says so (GIF delays).
    pts_ticks, time_base: the exact timestamp, for sinks to write back without rounding.
    """

    image: np.ndarray
    index: int
    pts: float
    duration: float | None = None
    pts_ticks: int | None = None
    time_base: Fraction | None = None


class Writer(Protocol):
    """Where frames go: a file sink (engine.sinks) and a live output (engine.live.outputs)
    alike, so code that produces frames can feed either without knowing which.

    name: what to call it in messages.
    """

    name: str

    def write(self, frame: Frame) -> None:
        """Take one frame (frame.pts: seconds from the start of the output)."""

    def close(self) -> None:
        """Finish: publish the file, release the device or window."""


@dataclass(frozen=True)
class MediaInfo:
    """What a source is: size, timing, orientation and audio.

    rotation: counter-clockwise degrees a player turns the stored picture for display (FFmpeg's
        display-matrix convention), one of 0, 90, 180, 270.
    loop: GIF loop count (0 = forever), None when the GIF plays once or for other kinds.
    fps, frame_count, duration: nominal / expected values (after trimming), None when unknown.
    """

    path: Path
    kind: MediaKind
    width: int
    height: int
    fps: Fraction | None = None
    frame_count: int | None = None
    duration: float | None = None
    time_base: Fraction | None = None
    rotation: int = 0
    loop: int | None = None
    has_audio: bool = False
    audio_codec: str | None = None
