"""The `kernels` graph alone: milliseconds a frame for each kernel, per channel and on the
luminance, compiled with XLA and without, at one working size (default 640x480).

What a show's frame rate is bounded by, without capture and output. The median of `--repeats`
calls after a warm-up; prints a markdown table and writes results/kernels_graph.json with the
machine named.

    python benchmarks/kernels_graph.py [--size 640x480] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamreel.engine.tuning import machine
from dreamreel.pipelines import settings
from dreamreel.pipelines.kernels.pipeline import KERNELS, KernelEffect, KernelOptions

RESULTS = Path(__file__).resolve().parent / "results" / "kernels_graph.json"


def time_graph(kernel: str, luminance: bool, jit: bool, frame: tf.Tensor, repeats: int
               ) -> float:
    """Median milliseconds of one call of the kernel's compiled graph on `frame`."""
    effect = KernelEffect(settings.build(KernelOptions, {"kernel": kernel,
                                                         "luminance": luminance}))
    controls = {k: tf.constant(v) for k, v in effect.controls().items()}
    graph = tf.function(effect, jit_compile=jit)
    graph(frame, controls).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        graph(frame, controls).numpy()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    frame = tf.constant(np.random.default_rng(0).random((1, height, width, 3), np.float32))
    rows = []
    print(f"{machine()}, {args.size}\n\n| kernel | channels | XLA ms | TF ms |\n|---|---|---|---|")
    for kernel in KERNELS:
        for luminance in (False, True):
            ms = {jit: time_graph(kernel, luminance, jit, frame, args.repeats)
                  for jit in (True, False)}
            channels = "luminance" if luminance else "RGB"
            rows.append({"kernel": kernel, "channels": channels, "xla_ms": ms[True],
                         "tf_ms": ms[False]})
            print(f"| {kernel} | {channels} | {ms[True]:.1f} | {ms[False]:.1f} |", flush=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                                   "size": args.size, "repeats": args.repeats, "rows": rows},
                                  indent=1))


if __name__ == "__main__":
    main()
