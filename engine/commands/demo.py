"""`dreamreel demo`: draw a clip, stylize it, and save a before/after picture, no input needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from dreamreel.engine.demo_clip import write_demo_clip
from dreamreel.engine.sinks import check_target, write_atomically
from dreamreel.engine.sources import rgb_image
from dreamreel.errors import MediaError

DEMO_STYLE = "19"
DEMO_FILES = ("source.mp4", "styled.mp4", "before_after.png")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="stylize a clip dreamreel draws itself (no input needed)")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("dreamreel-demo"),
                        help="folder for source.mp4, styled.mp4 and before_after.png")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an earlier demo's files")
    parser.add_argument("--style", default=DEMO_STYLE, help=f"built-in style (default {DEMO_STYLE})")
    parser.set_defaults(handler=demo)


def middle_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [rgb_image(f) for f in container.decode(video=0)]
    return frames[len(frames) // 2]


def prepare_folder(out: Path, overwrite: bool) -> None:
    """Make the demo's folder; an earlier demo's files in it are replaced only with -y."""
    check_target(out, [], overwrite, folder=True)
    if out.is_dir():
        for name in DEMO_FILES:
            check_target(out / name, [], overwrite, folder=False)
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise MediaError(f"{out}: cannot create the folder ({err.strerror})") from err


def demo(args: argparse.Namespace) -> int:
    from dreamreel.engine.commands.run import finish
    from dreamreel.engine.job import RunSpec, stylize

    out = args.output_dir
    prepare_folder(out, args.overwrite)
    source, styled, picture = (out / name for name in DEMO_FILES)
    write_atomically(source, write_demo_clip, args.overwrite)
    stats = stylize(RunSpec.make(source, styled, "style", style=args.style, overwrite=True))
    code = finish(stats, str(source), styled, as_json=False, quiet=False)
    if code:
        return code
    pair = np.concatenate([middle_frame(source), middle_frame(styled)], axis=1)
    png = cv2.imencode(".png", cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))[1].tobytes()
    write_atomically(picture, lambda temp: temp.write_bytes(png), args.overwrite)
    print(f"demo: {source} -> {styled}; before/after picture: {picture}", file=sys.stderr)
    return 0
