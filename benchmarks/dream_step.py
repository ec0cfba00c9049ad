"""Milliseconds per DeepDream ascent step: XLA on/off x float32/bfloat16 x three frame sizes.

The step is the default settings' (block4_conv3, mean objective, tiles of 512 px with their
overlap), on the real cat photo resized to each size. One warm-up call compiles; the figure
is the median of the next `--repeats` calls. Prints a markdown table for benchmarks/RESULTS.md.

    python benchmarks/dream_step.py [--repeats 5]
    python benchmarks/dream_step.py --live   # live mode's step per layer at 320x240, bfloat16
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dreamreel import weights  # noqa: E402
from dreamreel.pipelines.dream import Dreamer, DreamSettings  # noqa: E402
from dreamreel.pipelines.vgg16 import VGG16Features  # noqa: E402

SIZES = ((320, 240), (640, 480), (1280, 720))
PHOTO = Path(__file__).resolve().parents[2] / "shared" / "media" / "content" / "chelsea_cat.png"


def frame(width: int, height: int) -> tf.Tensor:
    """[1, height, width, 3] RGB 0..1: the cat photo if present, else seeded noise."""
    if PHOTO.is_file():
        image = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
        image = cv2.resize(image, (width, height)).astype(np.float32) / 255.0
    else:
        image = np.random.default_rng(0).random((height, width, 3), np.float32)
    return tf.constant(image[np.newaxis])


def step_ms(dreamer: Dreamer, image: tf.Tensor, repeats: int) -> tuple[float, float]:
    """(first call incl. compile, median of `repeats` further calls), in milliseconds."""
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats + 1):
        shift = dreamer.random_shift(rng, *image.shape[1:3])
        start = time.perf_counter()
        image = dreamer.step(image, shift)
        image.numpy()
        times.append(1000 * (time.perf_counter() - start))
    return times[0], statistics.median(times[1:])


def live_layers(repeats: int) -> None:
    """Live mode compiles the four live layers into one objective; each layer's step stops
    the network at that layer. Prints ms per step for each, against the step through all four."""
    from dreamreel.pipelines.dream.pipeline import LIVE_LAYERS

    features = VGG16Features(weights.load("vgg16"), tf.bfloat16)
    dreamer = Dreamer(features, DreamSettings(layers=dict.fromkeys(LIVE_LAYERS, 1.0)))
    image = frame(320, 240)
    print("| layer weighted | ms per step (320x240, bfloat16) |\n|---|---|")
    rows = [("all four (one forward to block5_conv1)", np.ones(len(LIVE_LAYERS), np.float32))]
    rows += [(name, row) for name, row in zip(LIVE_LAYERS, np.eye(len(LIVE_LAYERS), dtype=np.float32),
                                               strict=True)]
    rng = np.random.default_rng(0)
    for _, mix in rows:
        dreamer.step(image, dreamer.random_shift(rng, 240, 320), mix)  # trace
    times: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _ in range(repeats):  # interleaved, so a drifting machine slows every row alike
        for name, mix in rows:
            start = time.perf_counter()
            dreamer.step(image, dreamer.random_shift(rng, 240, 320), mix).numpy()
            times[name].append(1000 * (time.perf_counter() - start))
    for name, _ in rows:
        print(f"| {name} | {statistics.median(times[name]):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="live layers at 320x240 only")
    args = parser.parse_args()
    if args.live:
        live_layers(args.repeats)
        return
    arrays = weights.load("vgg16")
    features = {name: VGG16Features(arrays, dtype)
                for name, dtype in (("float32", tf.float32), ("bfloat16", tf.bfloat16))}
    variants = [(jit, name) for jit in (False, True) for name in features]
    header = [f"{'XLA ' if jit else ''}{name}" for jit, name in variants]
    print("| size | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    for width, height in SIZES:
        cells = []
        for jit, name in variants:
            dreamer = Dreamer(features[name], DreamSettings(jit=jit))
            first, median = step_ms(dreamer, frame(width, height), args.repeats)
            cells.append(f"{median:.0f} ms (first {first / 1000:.1f} s)")
        print(f"| {width}x{height} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
