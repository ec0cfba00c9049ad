"""What a performer mask costs a frame: the selfie network (TF Lite, TensorFlow, TensorFlow
under XLA), the fixed-camera model, and the whole `Mask.apply` (find, steady, feather,
composite) at 320x240 and 640x480, on the astronaut portrait with camera-like noise.

Side by side in one run, median of --repeats timings of --frames frames each. Writes
benchmarks/results/mask_rate.json and prints a markdown table for RESULTS.md.

    python benchmarks/mask_rate.py [--repeats 5] [--frames 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from dreamreel import weights
from dreamreel.engine.mask import Mask, MaskSpec
from dreamreel.engine.tuning import machine
from dreamreel.pipelines.segment.selfie import SIDE, Selfie

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mask_rate.json"
PORTRAIT = ROOT.parent / "shared" / "media" / "content" / "astronaut.png"
SIZES = ((320, 240), (640, 480))


def per_frame_ms(fn, frames: list[np.ndarray], repeats: int) -> float:
    """Median over `repeats` of the mean milliseconds `fn` takes a frame."""
    for frame in frames[:3]:  # warm: graph tracing, first allocations
        fn(frame)
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        for frame in frames:
            fn(frame)
        runs.append(1000 * (time.perf_counter() - began) / len(frames))
    return round(statistics.median(runs), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    portrait = cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)
    rows = []
    arrays = weights.load("selfie_segmentation")
    square = [rng.random((1, SIDE, SIDE, 3), dtype=np.float32) for _ in range(args.frames)]
    for backend, jit, name in (("lite", False, "TF Lite, XNNPACK"), ("tf", False, "TensorFlow"),
                               ("tf", True, "TensorFlow, XLA")):
        network = Selfie(arrays, backend, jit)
        rows.append({"what": f"selfie network alone ({name})", "size": f"{SIDE}x{SIDE}",
                     "ms": per_frame_ms(network, square, args.repeats)})
    for width, height in SIZES:
        base = cv2.resize(portrait, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
        frames = [np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
                  for _ in range(args.frames)]
        styled = 255 - frames[0]
        for model in ("selfie", "still"):
            mask = Mask(MaskSpec("person", model=model))
            ms = per_frame_ms(lambda f, m=mask, s=styled: m.apply(f, s), frames, args.repeats)
            rows.append({"what": f"--mask person --mask-model {model} (whole mask)",
                         "size": f"{width}x{height}", "ms": ms})
    result = {"machine": machine(), "repeats": args.repeats, "frames": args.frames, "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"Machine: {result['machine']}\n\n| what | size | ms a frame |\n|---|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['size']} | {row['ms']} |")


if __name__ == "__main__":
    main()
