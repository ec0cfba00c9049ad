"""Why flat regions flicker: the style network places their strokes by its own pixel grid.

    python benchmarks/stroke_grid.py [--frames 60] [--style 19] [--size 320] [--clips ...]
        [--steady]

The 26-style network goes down by two stride-2 convolutions and back up by two nearest-
neighbour 2x upsamplings, so it is equivariant only to shifts of a multiple of 4 pixels. Where
the input is flat and the camera moves, its strokes stay with the frame's 4-pixel grid instead of
the scene, which the warping error counts as flicker and no stabiliser after the network can
fix (benchmarks/RESULTS.md, "Flat regions"). These variants test that explanation against the
network as shipped (its default), the first two built here for the measurement only:

* "grid anchored": each frame padded by the accumulated global motion (phase correlation of
  consecutive frames, back to 0 at a cut) modulo 4, so that the network's grid moves with the
  camera, then cropped; "anchored where flat": that output only where the input is flat
  (``flow.structure_confidence``), the shipped one elsewhere (two passes a frame);
* "bilinear upsampling" (``--upsampling bilinear``): the two upsamplings bilinear instead of
  nearest, with the trained weights unchanged (so a different look: the convolutions after
  them were trained on blocks);
* with ``--steady``, "steady" (``--upsampling steady``): that network fine-tuned to keep the
  shipped look while moving its strokes with the scene, as `dreamreel styles steady` stored
  it on this machine (pipelines/style/steady.py).

Per clip and variant: the warping error of the per-frame output and of the stabilised one (both
as a share of the shipped network's per-frame error), and how far the variant's look is from the
shipped network's (mean absolute difference in grey levels, and the texture distance of
``consistency.drift``). The CPU is named first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from smear_eval import clip_parser, painter, stabilise, working_frames  # noqa: E402

GRID = 4  # the network's period: two stride-2 convolutions
CLIPS = ("demo pan", "film/chaplin_silent.mp4", "color/cockatoo_yuv420.mp4",
         "audio/bbb_14s-19s_h264_aac.mp4")


def anchored(frames: list[np.ndarray], paint_padded) -> list[np.ndarray]:
    """Each frame padded (reflected) so the network's grid follows the accumulated global
    motion, painted at (H + GRID) x (W + GRID), and cropped back."""
    from dreamreel.engine.flow import hard_cut, to_gray

    h, w = frames[0].shape[:2]
    motion, previous, out = np.zeros(2), None, []
    for frame in frames:
        gray = to_gray(frame)
        if previous is not None and hard_cut(previous, gray):
            motion[:] = 0
        elif previous is not None:  # (dx, dy) of the content
            motion += cv2.phaseCorrelate(np.float32(previous), np.float32(gray))[0]
        previous = gray
        px, py = (int(v) for v in (-np.round(motion).astype(int)) % GRID)
        padded = cv2.copyMakeBorder(frame, py, GRID - py, px, GRID - px, cv2.BORDER_REFLECT_101)
        out.append(paint_padded(padded)[py:py + h, px:px + w])
    return out


def where_flat(frames: list[np.ndarray], anchored_out: list[np.ndarray],
               shipped: list[np.ndarray]) -> list[np.ndarray]:
    """The anchored output where the input is flat, the shipped one where it has structure."""
    from dreamreel.engine.flow import structure_confidence, to_gray

    out = []
    for frame, a, b in zip(frames, anchored_out, shipped, strict=True):
        flat = 1.0 - structure_confidence(to_gray(frame))[..., None]  # HxWx1
        out.append(np.clip(b + flat * (a.astype(np.float32) - b) + 0.5, 0, 255).astype(np.uint8))
    return out


def main() -> None:
    parser = clip_parser(__doc__, 60, CLIPS)
    parser.add_argument("--steady", action="store_true",
                        help="also the steady network (made by `dreamreel styles steady`)")
    args = parser.parse_args()
    from dreamreel.weights import steady

    if args.steady and not steady.path().exists():
        parser.error(f"--steady: no steady network on this machine; {steady.MAKE}")

    from dreamreel.engine.bench.measure import machine
    from dreamreel.engine.consistency import drift, mean_error, warping_errors

    m = machine()
    print(f"{m['cpu']} ({m['isa']}), {m['cores']} cores, TensorFlow {m['tensorflow']}\n")
    print("| clip | network | per-frame E_warp | stabilised E_warp | look change (levels) | "
          "texture distance |")
    print("|---|---|---|---|---|---|")
    for clip in args.clips:
        small = working_frames(clip, args.frames, args.size)
        h, w = small[0].shape[:2]
        paint, paint_bilinear = painter(args.style, h, w), painter(args.style, h, w, "bilinear")
        shipped = [paint(f) for f in small]
        grid = anchored(small, painter(args.style, h + GRID, w + GRID))
        variants = {
            "as shipped": shipped,
            "grid anchored": grid,
            "anchored where flat": where_flat(small, grid, shipped),
            "bilinear upsampling": [paint_bilinear(f) for f in small],
        }
        if args.steady:
            paint_steady = painter(args.style, h, w, "steady")
            variants["steady"] = [paint_steady(f) for f in small]
        streams = []  # per variant: its per-frame output, then that output stabilised
        for painted in variants.values():
            streams += [painted, stabilise(small, painted)]
        errors = [mean_error(e) for e in warping_errors(small, streams)]  # one flow per pair
        base = errors[0]
        for (name, painted), per_frame, stabilised in zip(variants.items(), errors[::2],
                                                           errors[1::2], strict=True):
            look = np.mean([np.abs(p.astype(np.float32) - s).mean()
                            for p, s in zip(painted, shipped, strict=True)])
            texture = np.mean(drift(painted, shipped)["texture"])
            print(f"| {Path(clip).name} | {name} | {per_frame / base:.2f}x | "
                  f"{stabilised / base:.2f}x | {look:.1f} | {texture:.3f} |", flush=True)


if __name__ == "__main__":
    main()
