"""Flow-guided stabiliser against a plain exponential blend ("smoothing" as other tools ship
it), in memory on real clips: warping error and drift from the per-frame result.

    python benchmarks/temporal_compare.py [--frames 40] [--style 7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np

from dreamreel import weights
from dreamreel.engine.consistency import drift, warping_error
from dreamreel.engine.graph import FrameGraph
from dreamreel.engine.temporal import DEFAULT_WEIGHT, ExponentialBlend, Stabiliser
from dreamreel.pipelines.style.effects import BuiltinStyle
from dreamreel.pipelines.style.multistyle import MultiStyleNet

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def frames(path: Path, count: int, short_side: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as container:
        for _, frame in zip(range(count), container.decode(video=0), strict=False):
            image = frame.to_ndarray(format="rgb24")
            scale = short_side / min(image.shape[:2])
            size = (round(image.shape[1] * scale) // 4 * 4, round(image.shape[0] * scale) // 4 * 4)
            out.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--style", default="7")
    parser.add_argument("--short-side", type=int, default=360)
    args = parser.parse_args()
    net = MultiStyleNet(weights.load("multistyle26"))
    effect = BuiltinStyle(net, args.style)
    print("| clip | method | E_warp | vs per-frame | mean abs diff from per-frame |")
    print("|---|---|---|---|---|")
    for clip in ("film/chaplin_silent.mp4", "color/cockatoo_yuv420.mp4"):
        inputs = frames(MEDIA / clip, args.frames, args.short_side)
        h, w = inputs[0].shape[:2]
        graph = FrameGraph(effect, 1, h, w)
        per_frame = [graph(f[None])[0] for f in inputs]
        base, _ = warping_error(inputs, per_frame)
        print(f"| {Path(clip).name} | input itself | {warping_error(inputs, inputs)[0]:.5f} | | |")
        print(f"| {Path(clip).name} | per-frame | {base:.5f} | 1.00x | 0 |")
        for name, method in ((f"stabiliser {DEFAULT_WEIGHT}", Stabiliser()),
                             (f"exponential blend {DEFAULT_WEIGHT}", ExponentialBlend(DEFAULT_WEIGHT))):
            out = [method(a, b) for a, b in zip(inputs, per_frame, strict=True)]
            err, _ = warping_error(inputs, out)
            print(f"| {Path(clip).name} | {name} | {err:.5f} | {err / base:.2f}x | "
                  f"{np.mean(drift(out, per_frame)['difference']):.4f} |", flush=True)


if __name__ == "__main__":
    main()
