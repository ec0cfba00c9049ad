"""Does the stabiliser smear? Flicker against drift on the demo clip and real ones.

    python benchmarks/smear_eval.py [--frames 100] [--style 19] [--size 320] [--untrusted]
        [--steady-input 0.85]

For each clip (the demo's drawn landscape, whose gradient sky is where smearing showed, a pan
across it, and the real clips of ../shared/media) the built-in style network paints every
frame at the working size, and the stabiliser runs over those frames as `dreamreel run` does.
Prints a markdown table: warping error (per-frame and stabilised), the drift of the
stabilised output from the per-frame one (colour and texture, mean and over the last
quarter) and the vertical/horizontal gradient ratio of the last frame (horizontal streaks
raise it), with the CPU named.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("demo", "demo pan", "film/chaplin_silent.mp4", "color/cockatoo_yuv420.mp4",
         "audio/bbb_14s-19s_h264_aac.mp4")


def demo_frames(count: int, pan: bool) -> list[np.ndarray]:
    """The demo's landscape; with `pan`, a camera sliding 2 px a frame across a still of it."""
    from dreamreel.engine.demo_clip import FPS, HEIGHT, WIDTH, draw_frame

    if not pan:
        return [draw_frame(i / FPS, grain=False) for i in range(count)]
    wide = cv2.resize(draw_frame(1.0, grain=False), (WIDTH * 2, HEIGHT * 2), interpolation=cv2.INTER_CUBIC)
    top = HEIGHT // 2
    return [wide[top:top + HEIGHT, 2 * i:2 * i + WIDTH] for i in range(count)]


def clip_frames(clip: str, count: int) -> list[np.ndarray]:
    if clip.startswith("demo"):
        return demo_frames(count, clip.endswith("pan"))
    with av.open(str(MEDIA / clip)) as container:
        return [f.to_ndarray(format="rgb24")
                for f in islice(container.decode(video=0), count)]


def clip_parser(doc: str, frames: int, clips: tuple[str, ...]) -> argparse.ArgumentParser:
    """The options this and benchmarks/stroke_grid.py share: frames, style, size, clips."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--frames", type=int, default=frames)
    parser.add_argument("--style", default="19")
    parser.add_argument("--size", type=int, default=320, help="working short side")
    parser.add_argument("--clips", nargs="+", default=clips)
    return parser


def working_frames(clip: str, count: int, size: int) -> list[np.ndarray]:
    """The clip's first `count` frames at the working short side `size`."""
    from dreamreel.engine.compute import working_size

    frames = clip_frames(clip, count)
    h, w = working_size(*frames[0].shape[:2], size)
    return [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]


def gradient_ratio(image: np.ndarray) -> float:
    """mean |d/dy| / mean |d/dx| of the luma: horizontal streaks raise it."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(np.diff(gray, axis=0)).mean() / np.abs(np.diff(gray, axis=1)).mean())


def painter(style: str, height: int, width: int, upsampling: str = "nearest"
            ) -> Callable[[np.ndarray], np.ndarray]:
    """A function uint8 HxWx3 -> stylised uint8 HxWx3 for frames of this size, with the
    network's `upsampling` (nearest, as shipped; bilinear; steady: the fine-tuned network)."""
    from dreamreel.engine import stages
    from dreamreel.engine.graph import FrameGraph

    built = stages.build(stages.stages("style", {"style": style, "upsampling": upsampling}),
                         stages.context("float32", False))
    graph = FrameGraph(built.graph, 1, height, width, jit=False, device="/CPU:0")
    controls = built.graph_controls(1.0)
    return lambda frame: graph(frame[None], controls)[0]


def stabilise(frames: list[np.ndarray], outputs: list[np.ndarray],
              **settings: float | bool) -> list[np.ndarray]:
    """`outputs` stabilised along `frames` as `dreamreel run` does (default preset)."""
    from dreamreel.engine.processing import flow_scale
    from dreamreel.engine.temporal import DEFAULT_PRESET, Stabiliser

    stabiliser = Stabiliser(preset=DEFAULT_PRESET, flow_scale=flow_scale(frames[0].shape[:2]),
                            **settings)
    return [stabiliser(s, p) for s, p in zip(frames, outputs, strict=True)]


def main() -> None:
    parser = clip_parser(__doc__, 100, CLIPS)
    parser.add_argument("--untrusted", action="store_true",
                        help="also the stabiliser trusting the flow everywhere (no structure "
                        "confidence), for the comparison")
    parser.add_argument("--steady-input", type=float, nargs="*", default=[], metavar="WEIGHT",
                        help="also the input stabilised at WEIGHT (its own stabiliser, no texture "
                        "restoration) before it is painted, then the default stabiliser")
    args = parser.parse_args()

    from dreamreel.engine import temporal
    from dreamreel.engine.bench.measure import machine
    from dreamreel.engine.consistency import drift, mean_error, warping_errors

    def untrusted(gray: np.ndarray) -> np.ndarray:  # the flow trusted everywhere
        return np.ones(gray.shape, np.float32)

    m = machine()
    print(f"{m['cpu']} ({m['isa']}), {m['cores']} cores, TensorFlow {m['tensorflow']}\n")
    print("| clip | stabiliser | frames | E_warp per-frame | E_warp stabilised | ratio | drift | drift, last "
          "quarter | texture drift | texture drift, last quarter | v/h gradients per-frame | "
          "stabilised |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        small = working_frames(clip, args.frames, args.size)
        h, w = small[0].shape[:2]
        paint = painter(args.style, h, w)
        painted = [paint(f) for f in small]
        confidence = temporal.structure_confidence
        variants = [("structure-trusted", None), ("untrusted", None)][: 1 + args.untrusted]
        variants += [(f"input steadied at {x}", x) for x in args.steady_input]
        for variant, input_weight in variants:
            temporal.structure_confidence = confidence if variant != "untrusted" else untrusted
            if input_weight is None:
                steady = stabilise(small, painted)
            else:
                steadied = stabilise(small, small, weight=input_weight, texture=False)
                steady = stabilise(small, [paint(f) for f in steadied])
            per_frame, stabilised = map(mean_error, warping_errors(small, [painted, steady]))
            apart = drift(steady, painted)
            end = max(1, len(small) // 4)
            print(f"| {Path(clip).name} | {variant} | {len(small)} | {per_frame:.5f} | "
                  f"{stabilised:.5f} | {stabilised / per_frame:.2f}x | "
                  f"{np.mean(apart['difference']):.4f} | "
                  f"{np.mean(apart['difference'][-end:]):.4f} | {np.mean(apart['texture']):.4f} | "
                  f"{np.mean(apart['texture'][-end:]):.4f} | {gradient_ratio(painted[-1]):.2f} | "
                  f"{gradient_ratio(steady[-1]):.2f} |", flush=True)
        temporal.structure_confidence = confidence


if __name__ == "__main__":
    main()
