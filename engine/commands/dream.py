"""`dreamreel dream PHOTO -o dream.png`: DeepDream a still, or grow an endless zoom video from it.

With `--frames N` the output is a video: each frame is the previous dream zoomed (`--zoom`)
and rotated (`--rotate`) about the centre and dreamed a little further, the classic
fractal-zoom (Mordvintsev et al. 2015).
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

from dreamreel.engine import graph as graphs
from dreamreel.engine.commands.run import add_precision_argument, resolve_precision
from dreamreel.engine.dreaming import add_dream_arguments, dream_at_size, dream_effect
from dreamreel.engine.progress import Progress
from dreamreel.errors import UsageError

ZOOM_STEPS = 3  # steps per octave for each zoom frame: the previous dream carries the rest


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dream", help="DeepDream a photo, or a fractal-zoom video from it")
    parser.add_argument("image", type=Path, help="the photo")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="an image (.png/.jpg), or with --frames a video (.mp4/.webm/.gif)")
    parser.add_argument("-y", "--overwrite", action="store_true")
    parser.add_argument("--size", type=int, metavar="PX", help="short side to dream at (default: as is); a still keeps the photo's size, a zoom video is this size")
    parser.add_argument("--frames", type=int, default=0, help="make a zoom video of this many frames")
    parser.add_argument("--zoom", type=float, default=1.02, help="zoom per frame (default 1.02)")
    parser.add_argument("--rotate", type=float, default=0.0, help="degrees per frame")
    parser.add_argument("--fps", type=float, default=25.0, help="zoom video frame rate")
    parser.add_argument("--jit", default="auto", choices=graphs.JIT_CHOICES)
    add_precision_argument(parser)
    parser.add_argument("--offline", action="store_true", help="never download networks")
    parser.add_argument("--quiet", action="store_true")
    add_dream_arguments(parser)
    parser.set_defaults(handler=dream)


def dream(args: argparse.Namespace) -> int:
    import cv2

    from dreamreel.engine.effects import read_image
    from dreamreel.engine.media import Frame, MediaInfo
    from dreamreel.engine.sinks import open_sink
    from dreamreel.pipelines.dream import zoom_frame

    if args.frames < 0 or args.zoom <= 0 or args.fps <= 0:
        raise UsageError("--frames must be >= 0, --zoom and --fps > 0")
    args.pipeline, args.device = "dream", None
    resolve_precision(args)
    photo = read_image(args.image)
    h, w = graphs.working_size(*photo.shape[:2], args.size)
    image = photo if (h, w) == photo.shape[:2] else cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    jit = graphs.resolve_jit(args.jit, graphs.default_device())
    frames = max(args.frames, 1)
    if not args.frames:  # a still keeps the photo's size, as `run` does: the dream is added
        h, w = photo.shape[:2]
    info = MediaInfo(path=args.image, kind="image" if not args.frames else "video", width=w, height=h,
                     fps=Fraction(args.fps).limit_denominator(1001), frame_count=frames)
    first = dream_effect(args, video=False, jit=jit)
    effect = first
    progress = Progress(frames, label=args.image.name, enabled=False if args.quiet else None)
    time_base = Fraction(1, 1) / info.fps
    with open_sink(args.output, info, overwrite=args.overwrite) as sink:
        if args.frames or image is photo:
            current = first.process(image[None])[0]
        else:  # dreamed at --size, the hallucination enlarged onto the photo
            current = dream_at_size(first.process, photo[None], image.shape[:2])[0]
        for index in range(frames):
            if index == 1:  # later frames build on the zoomed previous dream: fewer steps
                args.steps = args.steps or ZOOM_STEPS
                effect = dream_effect(args, video=True, jit=jit)
            if index:
                zoomed = zoom_frame(current, args.zoom, args.rotate)
                current = effect.process(zoomed[None])[0]
            sink.write(Frame(image=current, index=index, pts=float(index * time_base),
                             duration=float(time_base), pts_ticks=index, time_base=time_base))
            progress(index + 1)
    progress.close()
    if not args.quiet:
        print(f"{args.output}: {frames} frame(s) dreamed", file=sys.stderr)
    return 0


