"""`dreamreel dream PHOTO -o dream.png`: DeepDream a still, or grow an endless zoom video from it.

With `--frames N` the output is a video: each frame is the previous dream zoomed (`--zoom`)
and rotated (`--rotate`) about the centre and dreamed a little further, the classic
fractal-zoom (Mordvintsev et al. 2015).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2

from dreamreel.engine import compute, stages
from dreamreel.engine.commands.options import (
    add_pipeline_arguments,
    add_precision_argument,
    setting_values,
)
from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.progress import Progress
from dreamreel.engine.sinks import open_sink
from dreamreel.errors import UsageError
from dreamreel.pipelines.dream import zoom_frame

ZOOM_STEPS = 3  # steps per octave for each zoom frame: the previous dream carries the rest


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dream", help="DeepDream a photo, or a fractal-zoom video from it")
    parser.add_argument("image", type=Path, help="the photo")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="an image (.png/.jpg), or with --frames a video (.mp4/.webm/.gif)")
    parser.add_argument("-y", "--overwrite", action="store_true")
    parser.add_argument("--size", type=int, metavar="PX",
                        help="short side to dream at (default: as is); a still keeps the photo's "
                        "size, a zoom video is this size")
    parser.add_argument("--frames", type=int, default=0, help="make a zoom video of this many frames")
    parser.add_argument("--zoom", type=float, default=1.02, help="zoom per frame (default 1.02)")
    parser.add_argument("--rotate", type=float, default=0.0, help="degrees per frame")
    parser.add_argument("--fps", type=float, default=25.0, help="zoom video frame rate")
    parser.add_argument("--jit", default="auto", choices=compute.JIT_CHOICES)
    add_precision_argument(parser)
    parser.add_argument("--offline", action="store_true", help="never download networks")
    parser.add_argument("--quiet", action="store_true")
    add_pipeline_arguments(parser, only=("dream",))
    parser.set_defaults(handler=dream)


def dream(args: argparse.Namespace) -> int:
    if args.frames < 0 or args.zoom <= 0 or args.fps <= 0:
        raise UsageError("--frames must be >= 0, --zoom and --fps > 0")
    options = stages.options("dream", setting_values(args))
    photo = stages.read_image(args.image)
    device = compute.default_device()
    precision = compute.resolve_precision(args.precision, {"dream"}, device)
    jit = compute.resolve_jit(args.jit, device)
    still = stages.context(precision, jit, video=False, offline=args.offline)
    first = stages.registry.get("dream").build(options, still)
    h, w = compute.working_size(*photo.shape[:2], args.size)
    image = photo if (h, w) == photo.shape[:2] else cv2.resize(photo, (w, h),
                                                               interpolation=cv2.INTER_AREA)
    frames = max(args.frames, 1)
    if not args.frames:  # a still keeps the photo's size, as `run` does: the dream is added
        h, w = photo.shape[:2]
    info = MediaInfo(path=args.image, kind="image" if not args.frames else "video", width=w,
                     height=h, fps=Fraction(args.fps).limit_denominator(1001), frame_count=frames)
    progress = Progress(frames, label=args.image.name, enabled=False if args.quiet else None,
                        estimate=not args.quiet)
    time_base = Fraction(1, 1) / info.fps
    with open_sink(args.output, info, overwrite=args.overwrite) as sink:
        current = first(image, None, 0)
        if not args.frames and image is not photo:  # the hallucination enlarged onto the photo
            added = cv2.resize(current.astype("float32") - image, (w, h),
                               interpolation=cv2.INTER_CUBIC)
            current = (photo + added).clip(0, 255).round().astype("uint8")
        effect = first
        for index in range(frames):
            if index == 1:  # later frames build on the zoomed previous dream: fewer steps
                later = replace(options, steps=options.steps or ZOOM_STEPS)
                effect = stages.registry.get("dream").build(later, replace(still, video=True))
            if index:
                current = effect(zoom_frame(current, args.zoom, args.rotate), None, index)
            sink.write(Frame(image=current, index=index, pts=float(index * time_base),
                             duration=float(time_base), pts_ticks=index, time_base=time_base))
            progress(index + 1)
    progress.close()
    if not args.quiet:
        print(f"{args.output}: {frames} frame(s) dreamed", file=sys.stderr)
    return 0
