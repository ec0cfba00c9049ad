"""Where a stabilised clip's warping error comes from, at the clip's own size.

The per-frame output is rendered once (`dreamreel run --temporal 0 --crf 0`); the stabiliser
then runs here on those frames, as `run` would, and the warping error (engine.consistency's, Lai
et al.) is split four ways:

- the floor: what a video with no flicker at all scores (``consistency.carried``: the first
  per-frame frame of each shot carried along the input's own flow);
- without texture restoration (`Stabiliser(texture=False)`): what the contrast it gives back costs;
- by the stabiliser's own trust at each scored pixel (mask x weight, carried onto the metric's
  frame): how much error is left where the previous output is fully carried, and how much
  where the input's weak structure trusts it only in part, each beside the floor's own error
  on the same pixels.

    python benchmarks/stabiliser_budget.py [--clips color/cockatoo_yuv420.mp4 ...] [--style 19]
        [--upsampling nearest|bilinear|steady] [--duration 2]

Prints a markdown table: errors as shares of the per-frame output's warping error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from dreamreel.engine import flow
from dreamreel.engine.consistency import carried, pair_error_maps
from dreamreel.engine.processing import flow_scale
from dreamreel.engine.sources import open_source
from dreamreel.engine.temporal import Stabiliser

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
TRUST_EDGES = (0.3, 0.8)  # stabiliser trust (mask x weight): low < 0.3 <= partial < 0.8 <= full


def frames(path: Path | str, duration: float | None = None) -> list[np.ndarray]:
    with open_source(path, duration=duration) as source:
        return [f.image for f in source]


def stabilise(inputs: list[np.ndarray], styled: list[np.ndarray], texture: bool
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The stabilised frames and, per frame, the stabiliser's trust (HxW, 0 where none)."""
    stabiliser = Stabiliser(flow_scale=flow_scale(inputs[0].shape[:2]), texture=texture)
    outputs, trust = [], []
    for source, frame in zip(inputs, styled, strict=True):
        guide = stabiliser.guide(source)
        usable = guide is not None and not guide.is_cut
        trust.append(guide.mask * stabiliser.weight if usable else np.zeros(source.shape[:2]))
        outputs.append(stabiliser.blend(frame, guide))
        stabiliser.commit(source, outputs[-1])
    return outputs, trust


def budget(inputs: list[np.ndarray], streams: dict[str, list[np.ndarray]],
           trust: list[np.ndarray]) -> dict[str, float]:
    """Mean warping error of each stream (``consistency``'s, pairs across a cut left out), and
    the "stabilised" and "floor" streams' split by trust band, summed over the metric's visible
    pixels as the metric weighs them."""
    dis = flow.create_dis("accurate")
    names = list(streams)
    totals: dict[str, float] = {}
    pairs = 0
    for t in range(len(inputs) - 1):
        pair = pair_error_maps(dis, flow.to_gray(inputs[t]), flow.to_gray(inputs[t + 1]),
                               [streams[n][t].astype(np.float32) / 255 for n in names],
                               [streams[n][t + 1].astype(np.float32) / 255 for n in names])
        if pair is None:
            continue
        maps, mask, fw = pair
        visible = mask > 0  # HxW, the metric's M_t
        share = 1.0 / max(int(visible.sum()), 1)
        band = np.digitize(flow.warp(trust[t + 1].astype(np.float32), fw), TRUST_EDGES)  # HxW
        sums = {name: error[visible].sum() for name, error in zip(names, maps, strict=True)}
        for k, key in enumerate(("low", "partial", "full")):
            inside = visible & (band == k)
            for stream in ("stabilised", "floor"):
                sums[f"{stream} {key}"] = maps[names.index(stream)][inside].sum()
            sums[f"{key} pixels"] = inside.sum()
        for key, value in sums.items():
            totals[key] = totals.get(key, 0.0) + float(value) * share
        pairs += 1
    return {key: value / max(pairs, 1) for key, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", nargs="+", default=["color/cockatoo_yuv420.mp4"])
    parser.add_argument("--style", default="19")
    parser.add_argument("--upsampling", default="nearest")
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    print("| clip | per-frame E_warp | stabilised | floor | without texture restoration | "
          "error where trust >= 0.8 (floor there; pixels) | 0.3-0.8 | < 0.3 |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        with tempfile.TemporaryDirectory() as tmp:
            styled_path = Path(tmp) / "per_frame.mp4"
            subprocess.run([sys.executable, "-m", "dreamreel.engine.cli", "run", str(MEDIA / clip),
                            "--style", args.style, "--upsampling", args.upsampling,
                            "--duration", str(args.duration), "--temporal", "0", "--crf", "0",
                            "--quiet", "-o", str(styled_path)], check=True)
            styled = frames(styled_path)
        inputs = frames(MEDIA / clip, args.duration)[:len(styled)]
        stabilised, trust = stabilise(inputs, styled, texture=True)
        plain, _ = stabilise(inputs, styled, texture=False)
        e = budget(inputs, {"per-frame": styled, "stabilised": stabilised, "floor":
                            list(carried(inputs, styled)), "plain": plain}, trust)
        x = {k: v / e["per-frame"] for k, v in e.items()}
        print(f"| {Path(clip).name} | {e['per-frame']:.4f} | {x['stabilised']:.3f}x | "
              f"{x['floor']:.3f}x | {x['plain']:.3f}x | "
              + " | ".join(f"{x[f'stabilised {key}']:.3f}x ({x[f'floor {key}']:.3f}x; "
                           f"{e[f'{key} pixels']:.0%})" for key in ("full", "partial", "low"))
              + " |", flush=True)


if __name__ == "__main__":
    main()
