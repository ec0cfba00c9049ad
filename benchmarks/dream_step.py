"""Milliseconds per DeepDream ascent step: XLA on/off x float32/bfloat16 x three frame sizes.

The step is the default settings' (block4_conv3, mean objective, tiles of 512 px with their
overlap), on the real cat photo resized to each size. One warm-up call compiles; the figure
is the median of the next `--repeats` calls. Prints a markdown table for benchmarks/RESULTS.md.

    python benchmarks/dream_step.py [--repeats 5]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
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
