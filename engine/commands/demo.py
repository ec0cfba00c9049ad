"""`dreamreel demo`: draw a clip, stylize it, and save a before/after picture, no input needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from dreamreel.engine.demo_clip import write_demo_clip

DEMO_STYLE = "19"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="stylize a clip dreamreel draws itself (no input needed)")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("dreamreel-demo"),
                        help="folder for source.mp4, styled.mp4 and before_after.png")
    parser.add_argument("--style", default=DEMO_STYLE, help=f"built-in style (default {DEMO_STYLE})")
    parser.set_defaults(handler=demo)


def middle_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[len(frames) // 2]


def demo(args: argparse.Namespace) -> int:
    from dreamreel.engine.cli import main

    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    source, styled = out / "source.mp4", out / "styled.mp4"
    write_demo_clip(source)
    code = main(["run", str(source), "-o", str(styled), "--style", args.style, "-y"])
    if code:
        return code
    pair = np.concatenate([middle_frame(source), middle_frame(styled)], axis=1)
    cv2.imwrite(str(out / "before_after.png"), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
    print(f"demo: {source} -> {styled}; before/after picture: {out / 'before_after.png'}",
          file=sys.stderr)
    return 0
