"""`dreamreel paint PHOTO -o learning.mp4`: a video of a network learning to paint a photo;
`dreamreel paint CLIP -o out.mp4 --fps 4x`: a clip painted by one network f(x, y, t).

Lesson 2's animated GIF: a coordinate network f(x, y) -> RGB (pipelines/painting) is fitted to
the photo by Adam, and every frame shows what it has learnt so far: frame 0 the untrained
network, each next one --steps steps later. To an image output (.png/.jpg) only the last
picture is written.

Given a clip, the network takes the time as a third coordinate and is fitted to every frame
at once (--steps per frame of the clip, each step on pixels drawn from the whole clip). It can
then paint any moment: `--fps 4x` renders four frames for each of the clip's, the ones between
being the network's own. The clip's size, duration and sound are kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from dreamreel.engine import compute, stages
from dreamreel.engine.commands.options import (
    add_encoding_arguments,
    add_pipeline_arguments,
    frame_rate,
    setting_values,
)
from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.progress import Progress
from dreamreel.engine.sinks import IMAGE_EXTENSIONS, open_sink
from dreamreel.engine.sources import Source, open_source
from dreamreel.errors import UsageError
from dreamreel.pipelines.painting.network import CoordinateNet, grid

STEPS_PER_FRAME = 3  # the default here: 100 frames show 300 steps, a still's whole fit
CLIP_STEPS_PER_FRAME = 60  # a clip's fit: steps for each of its frames
CLIP_WIDTH = 128  # hidden units for a clip: one network holds every frame
CLIP_TIME_DETAIL = 0.5  # time frequencies' spread, cycles a second of the clip
CLIP_PIXELS = 20_000_000  # the most pixels (frames x working size) one fit holds
VIDEO_ONLY = ("fresh_steps", "per_frame")  # painting settings that mean nothing for one fit


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("paint", help="a video of a network learning to paint a photo, or "
                            "a clip painted by one network f(x, y, t)",
                            description=f"--steps here: Adam steps between frames (default "
                            f"{STEPS_PER_FRAME})")
    parser.add_argument("image", type=Path, help="the photo, or a clip to paint with one network")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="a video (.mp4 .webm .gif or a folder/), or an image for the last "
                        "picture only")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--size", type=int, default=128, metavar="PX",
                        help="short side the photo is fitted and painted at (default 128)")
    parser.add_argument("--frames", type=int, default=100,
                        help="frames of the video (default 100); --steps apart")
    parser.add_argument("--fps", type=rate_or_factor, default=None,
                        help="frame rate of the video (default 25; a clip's own), or for a "
                        "clip a multiple of its rate: 4x")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="a clip: paint only its first SECONDS")
    parser.add_argument("--time-detail", type=float, default=None, metavar="CYCLES",
                        help="a clip: spread of the time frequencies, cycles across the clip "
                        f"(default: {CLIP_TIME_DETAIL:g} a second)")
    parser.add_argument("--jit", default="auto", choices=compute.JIT_CHOICES)
    add_encoding_arguments(parser)
    parser.add_argument("--offline", action="store_true", help="accepted as by every command; "
                        "painting needs no networks")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_pipeline_arguments(parser, only=("painting",))
    parser.set_defaults(handler=paint)


def rate_or_factor(text: str) -> Fraction | str:
    """A --fps value: a frame rate (30, 29.97, 30000/1001) or a multiple of the clip's ('4x')."""
    if text.lower().endswith("x"):
        factor = frame_rate(text[:-1])
        if factor <= 0:
            raise ValueError(text)
        return text.lower()
    return frame_rate(text)


rate_or_factor.__name__ = "frame rate or multiple"  # argparse names the type in its message


def paint(args: argparse.Namespace) -> int:
    values = setting_values(args)
    given = [name for name in VIDEO_ONLY if name in values]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} is for video runs (dreamreel run "
                         "--pipeline painting); paint shows one fit, --steps apart")
    if args.frames < 1 or not 16 <= args.size <= 4096:
        raise UsageError("--frames must be at least 1, --size within 16..4096")
    if isinstance(args.fps, Fraction) and args.fps <= 0:
        raise UsageError("--fps must be positive")
    jit = compute.resolve_jit(args.jit, compute.default_device())
    with open_source(args.image, duration=args.duration) as source:
        if source.info.kind == "image":
            return paint_photo(args, next(iter(source)).image, values, jit)
        return paint_clip(args, source, values, jit)


def paint_photo(args: argparse.Namespace, photo: np.ndarray, values: dict, jit: bool) -> int:
    """The fitting of one photo as a video, --steps between frames (or only its end)."""
    if isinstance(args.fps, str):
        raise UsageError(f"--fps {args.fps} is a multiple of a clip's rate; {args.image} is a "
                         "photo (give a rate: --fps 25)")
    if args.time_detail is not None or args.duration is not None:
        raise UsageError("--time-detail and --duration are for a clip; a photo has no time "
                         "to paint")
    fps = args.fps or Fraction(25)
    options = stages.options("painting", {"steps": STEPS_PER_FRAME, **values})
    height, width = compute.working_size(*photo.shape[:2], args.size)
    photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    still = args.output.suffix.lower() in IMAGE_EXTENSIONS
    info = MediaInfo(path=args.image, kind="image" if still else "video", width=width,
                     height=height, fps=fps, frame_count=1 if still else args.frames)
    net = CoordinateNet(options.detail, options.width, options.seed, jit=jit)
    coords = grid(height, width)
    target = tf.constant(photo.reshape(-1, 3).astype(np.float32) / 255.0)
    progress = Progress(args.frames, label=args.image.name, enabled=False if args.quiet else None,
                        estimate=not args.quiet)
    time_base = 1 / fps
    with open_sink(args.output, info, crf=args.crf, preset=args.preset, chroma=args.chroma,
                   overwrite=args.overwrite) as sink:
        for index in range(args.frames):
            if index:
                loss = net.fit(coords, target, options.steps, options.learning_rate,
                               key=options.seed)
            if not still or index == args.frames - 1:
                shown = 0 if still else index
                sink.write(Frame(image=net.picture(coords, height, width), index=shown,
                                 pts=float(shown * time_base), duration=float(time_base),
                                 pts_ticks=shown, time_base=time_base))
            progress(index + 1)
    progress.close()
    if not args.quiet:
        fitted = f", loss {loss:.4f}" if args.frames > 1 else ""
        print(f"{args.output}: {args.frames} frame(s), {(args.frames - 1) * options.steps} "
              f"steps{fitted}", file=sys.stderr)
    return 0


def paint_clip(args: argparse.Namespace, source: Source, values: dict, jit: bool) -> int:
    """One network f(x, y, t) fitted to every frame of the clip at its own time (timestamps,
    not frame numbers: a GIF's delays, a phone's varying rate), rendered at --fps."""
    info = source.info
    height, width = compute.working_size(info.height, info.width, args.size)
    clip_fps = info.fps or Fraction(25)
    frames, starts, ends, first = [], [], [], None
    for frame in source:
        first = frame.image if first is None else first
        frames.append(cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA))
        if starts:
            ends[-1] = frame.pts
        starts.append(frame.pts)
        ends.append(frame.pts + (frame.duration or float(1 / clip_fps)))
        if len(frames) * width * height > CLIP_PIXELS:
            raise UsageError(f"{args.image}: over {CLIP_PIXELS // 1_000_000}M pixels at "
                             f"{width}x{height}, more than one network holds; a smaller --size "
                             "or a shorter clip")
    if len(frames) == 1:  # a still GIF: a photo after all
        return paint_photo(args, first, values, jit)
    if args.output.suffix.lower() in IMAGE_EXTENSIONS:
        raise UsageError(f"{args.output}: a clip paints a video (.mp4 .webm .gif or a folder/)")
    seconds = ends[-1] - starts[0]
    centres = [((a + b) / 2 - starts[0]) / seconds for a, b in zip(starts, ends, strict=True)]
    fps = (clip_fps * Fraction(args.fps[:-1]) if isinstance(args.fps, str)
           else args.fps or clip_fps)
    options = stages.options("painting", {"steps": CLIP_STEPS_PER_FRAME, "width": CLIP_WIDTH,
                                          **values})
    net = CoordinateNet(options.detail, options.width, options.seed, jit=jit,
                        time_detail=args.time_detail if args.time_detail is not None
                        else CLIP_TIME_DETAIL * seconds)
    coords = tf.concat([grid(height, width, t) for t in centres], axis=0)
    target = tf.constant(np.stack(frames).reshape(-1, 3).astype(np.float32) / 255.0)
    steps = options.steps * len(frames)
    out_count = max(1, round(seconds * fps))
    out = dataclasses.replace(info, fps=fps, frame_count=out_count, duration=seconds,
                              time_base=None)
    time_base = 1 / fps
    with open_sink(args.output, out, crf=args.crf, preset=args.preset, chroma=args.chroma,
                   overwrite=args.overwrite,
                   audio_from=info if info.has_audio else None,
                   duration=args.duration) as sink:  # refused before the fit
        progress = Progress(steps, label=f"fitting {args.image.name}",
                            enabled=False if args.quiet else None, estimate=not args.quiet)
        loss = float("nan")
        for done in range(0, steps, 100):
            loss = net.fit(coords, target, min(100, steps - done), options.learning_rate,
                           key=options.seed)
            progress(min(steps, done + 100))
        progress.close()
        for index in range(out_count):  # painted at the working size, shown at the clip's
            # output frame k shows the moment the clip's frame at k/fps shows (its centre),
            # never past the first or last frame the network learnt
            moment = (index / float(fps) + (ends[0] - starts[0]) / 2) / seconds
            moment = min(max(moment, centres[0]), centres[-1])
            picture = cv2.resize(net.picture(grid(height, width, moment), height, width),
                                 (info.width, info.height), interpolation=cv2.INTER_CUBIC)
            sink.write(Frame(image=picture, index=index, pts=float(index * time_base),
                             duration=float(time_base), pts_ticks=index, time_base=time_base))
    if not args.quiet:
        print(f"{args.output}: {out_count} frames at {float(fps):g} fps from {len(frames)}, "
              f"{steps} steps, loss {loss:.4f}", file=sys.stderr)
    return 0
