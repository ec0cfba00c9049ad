"""`dreamreel paint PHOTO -o learning.mp4`: a video of a network learning to paint a photo.

Lesson 2's animated GIF: a coordinate network f(x, y) -> RGB (pipelines/painting) is fitted to
the photo by Adam, and every frame shows what it has learnt so far: frame 0 the untrained
network, each next one --steps steps later. To an image output (.png/.jpg) only the last
picture is written.
"""

from __future__ import annotations

import argparse
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
from dreamreel.engine.sources import read_image
from dreamreel.errors import UsageError
from dreamreel.pipelines.painting.network import CoordinateNet, grid

STEPS_PER_FRAME = 3  # the default here: 100 frames show 300 steps, a still's whole fit
VIDEO_ONLY = ("fresh_steps", "per_frame")  # painting settings that mean nothing for one fit


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("paint", help="a video of a network learning to paint a photo",
                            description=f"--steps here: Adam steps between frames (default "
                            f"{STEPS_PER_FRAME})")
    parser.add_argument("image", type=Path, help="the photo")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="a video (.mp4 .webm .gif or a folder/), or an image for the last "
                        "picture only")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--size", type=int, default=128, metavar="PX",
                        help="short side the photo is fitted and painted at (default 128)")
    parser.add_argument("--frames", type=int, default=100,
                        help="frames of the video (default 100); --steps apart")
    parser.add_argument("--fps", type=frame_rate, default=Fraction(25),
                        help="frame rate of the video (default 25)")
    parser.add_argument("--jit", default="auto", choices=compute.JIT_CHOICES)
    add_encoding_arguments(parser)
    parser.add_argument("--offline", action="store_true", help="accepted as by every command; "
                        "painting needs no networks")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_pipeline_arguments(parser, only=("painting",))
    parser.set_defaults(handler=paint)


def paint(args: argparse.Namespace) -> int:
    values = setting_values(args)
    given = [name for name in VIDEO_ONLY if name in values]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} is for video runs (dreamreel run "
                         "--pipeline painting); paint shows one fit, --steps apart")
    if args.frames < 1 or args.fps <= 0 or not 16 <= args.size <= 4096:
        raise UsageError("--frames must be at least 1, --fps positive, --size within 16..4096")
    options = stages.options("painting", {"steps": STEPS_PER_FRAME, **values})
    photo = read_image(args.image)
    height, width = compute.working_size(*photo.shape[:2], args.size)
    photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    still = args.output.suffix.lower() in IMAGE_EXTENSIONS
    info = MediaInfo(path=args.image, kind="image" if still else "video", width=width,
                     height=height, fps=args.fps, frame_count=1 if still else args.frames)
    net = CoordinateNet(options.detail, options.width, options.seed,
                        jit=compute.resolve_jit(args.jit, compute.default_device()))
    coords = grid(height, width)
    target = tf.constant(photo.reshape(-1, 3).astype(np.float32) / 255.0)
    progress = Progress(args.frames, label=args.image.name, enabled=False if args.quiet else None,
                        estimate=not args.quiet)
    time_base = 1 / args.fps
    with open_sink(args.output, info, crf=args.crf, preset=args.preset,
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
