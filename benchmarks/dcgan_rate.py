"""Faces per second from the DCGAN generator (Radford et al. 2016), as `dreamreel generate` runs it.

The graph is `generate`'s own FaceRenderer: generator, upscale in the graph, round to uint8,
with batches of 16 latents. Rows: the raw 64x64 faces and faces upscaled to 512x512 with each
resampler, each with XLA on and off for the generator. One warm-up call compiles; the figure
is the median of the next `--repeats` calls. Prints a markdown table for benchmarks/RESULTS.md.

    python benchmarks/dcgan_rate.py [--repeats 5] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dreamreel import weights  # noqa: E402
from dreamreel.engine import compute  # noqa: E402
from dreamreel.pipelines.gan import latent  # noqa: E402
from dreamreel.pipelines.gan.dcgan import DCGANGenerator  # noqa: E402
from dreamreel.pipelines.gan.faces import FaceRenderer  # noqa: E402

CASES = ((64, "lanczos3"), (512, "lanczos3"), (512, "bicubic"))  # 64: no resize at all


def faces_per_second(renderer: FaceRenderer, repeats: int) -> float:
    z = latent.keyframes(0, renderer.batch)
    list(renderer(z))  # warm-up: traces and compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        list(renderer(z))
        times.append(time.perf_counter() - start)
    return renderer.batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    generator = DCGANGenerator(weights.load("dcgan_faces"))
    device = compute.default_device()
    print(f"DCGAN faces per second on {device}, batch {args.batch}, median of {args.repeats}\n")
    print("| output | resampler | XLA off | XLA on |")
    print("|---|---|---|---|")
    for size, resample in CASES:
        rates = [faces_per_second(FaceRenderer(generator, args.batch, size, resample, device, jit),
                                  args.repeats) for jit in (False, True)]
        name = "none" if size == 64 else resample
        print(f"| {size}x{size} | {name} | {rates[0]:.1f} | {rates[1]:.1f} |")


if __name__ == "__main__":
    main()
