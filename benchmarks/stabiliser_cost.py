"""Cost of the temporal stabiliser per frame (flow, mask, warp, blend, texture) at 640x480.

Feeds the first 40 frames of chaplin_silent.mp4, scaled to 640x480, with a fixed per-frame
"stylization" (the frames themselves, colour-inverted) and prints ms per frame by DIS preset
and flow scale, median of the frames after the first two.

    python benchmarks/stabiliser_cost.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import av
import cv2

from dreamreel.engine.flow import PRESETS
from dreamreel.engine.temporal import Stabiliser

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def main() -> None:
    with av.open(str(MEDIA / "film" / "chaplin_silent.mp4")) as container:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (640, 480), interpolation=cv2.INTER_AREA)
                  for _, f in zip(range(40), container.decode(video=0), strict=False)]
    styled = [255 - f for f in frames]
    print("| preset | flow scale | texture | ms/frame (median) |")
    print("|---|---|---|---|")
    for preset in PRESETS:
        for scale in (1.0, 0.5):
            for texture in (True, False):
                stabiliser = Stabiliser(preset=preset, flow_scale=scale, texture=texture)
                times = []
                for source, out in zip(frames, styled, strict=True):
                    began = time.perf_counter()
                    stabiliser(source, out)
                    times.append(time.perf_counter() - began)
                ms = 1000 * statistics.median(times[2:])
                print(f"| {preset} | {scale} | {'on' if texture else 'off'} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
