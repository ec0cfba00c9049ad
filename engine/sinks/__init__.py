"""Media sinks: write stylized frames as video, GIF, a PNG folder or one image.

A render can take hours, so a sink must never leave a half-written file under the name the user
asked for: it writes to a hidden temporary next to the target and renames it on close (Ctrl-C,
SIGTERM and SIGHUP still close properly, so the frames so far are kept; any other error removes
the temporary; a name another run published meanwhile is not replaced without -y).
Timing is written back from each frame's exact source timestamp, so variable frame rate, GIF
delays, the frame count and audio sync survive; the input's audio is copied unchanged when the
output container accepts the codec, and re-encoded otherwise.

base: the Sink life cycle; safety: the output checks and atomic writes; video, audio, gif,
images: one module per kind of output. `open_sink` picks one from the output path.
"""

from __future__ import annotations

import os
from pathlib import Path

from dreamreel.engine.media import MediaInfo
from dreamreel.errors import MediaError

from .audio import AUDIO_COPY, AUDIO_ENCODER
from .base import Sink
from .gif import _GifSink
from .images import IMAGE_EXTENSIONS, _FolderSink, _ImageSink
from .montage import _MontageSink, check_count
from .safety import check_target, temp_name, write_atomically
from .video import BT709, LIMITED_RANGE, VIDEO_FORMATS, VP9_SPEED, _VideoSink

__all__ = [
    "AUDIO_COPY",
    "AUDIO_ENCODER",
    "BT709",
    "IMAGE_EXTENSIONS",
    "LIMITED_RANGE",
    "VIDEO_FORMATS",
    "VP9_SPEED",
    "Sink",
    "check_target",
    "open_sink",
    "temp_name",
    "write_atomically",
]


def open_sink(
    path: str | Path,
    info: MediaInfo,
    *,
    crf: int = 18,
    preset: str = "medium",
    chroma: str = "420",
    audio_from: MediaInfo | None = None,
    start: float | None = None,
    duration: float | None = None,
    gif_dither: bool = True,
    overwrite: bool = False,
    montage: bool = False,
) -> Sink:
    """Open an output chosen by `path`.

    .mp4/.mov/.mkv: H.264 (yuv420p; yuv444p when a side is odd, to keep the exact size, or
    `chroma` is "444"); .webm: VP9 (crf on the x264 scale, mapped; `chroma` as for H.264);
    .gif: per-frame palettes, source delays and loop count; a path ending in '/', without an
    extension or an existing folder not named like a file (an existing `out.mp4/` is
    refused): frame_000000.png ...; .png/.jpg/...: one still image. `info` describes the
    source (timing, rotation, GIF loop);
    `audio_from` (usually the same info) adds its audio trimmed to start/duration.
    `montage`: every frame as a tile of the one image `path` names.
    """
    text = str(path)
    path = Path(path)
    suffix = path.suffix.lower()
    sources = [info] + ([audio_from] if audio_from is not None else [])
    files = {*VIDEO_FORMATS, ".gif", *IMAGE_EXTENSIONS}
    if montage:
        if suffix not in IMAGE_EXTENSIONS:
            raise MediaError(f"{path}: a montage is one picture; name a "
                             f"{', '.join(sorted(IMAGE_EXTENSIONS))} file")
        check_target(path, sources, overwrite, folder=False)
        check_count(path, info.frame_count)
        return _MontageSink(path, info, overwrite)
    if text.endswith(("/", os.sep)) or not suffix or (path.is_dir() and suffix not in files):
        check_target(path, sources, overwrite, folder=True)
        return _FolderSink(path, info, overwrite)
    check_target(path, sources, overwrite, folder=False)
    if suffix in VIDEO_FORMATS:
        audio = audio_from if audio_from is not None and audio_from.has_audio else None
        fmt = VIDEO_FORMATS[suffix]
        return _VideoSink(path, fmt, info, crf, preset, audio, start, duration, overwrite,
                          chroma)
    if suffix == ".gif":
        return _GifSink(path, info, gif_dither, overwrite)
    if suffix in IMAGE_EXTENSIONS:
        return _ImageSink(path, info, overwrite)
    supported = sorted(files)
    raise MediaError(
        f"{path}: unsupported output type '{suffix}' (use one of {', '.join(supported)} or a folder)"
    )
