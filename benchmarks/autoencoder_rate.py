"""The `autoencoder` pipeline on the silent film: training time, render rate, and what the
bottleneck keeps (reconstruction PSNR against --latent).

With the defaults and a fresh cache: the engine's sample of the clip (as `run` takes it) and
the training on it, timed; then `run` of the whole clip with the network from the cache,
frames a second as `run` reports them (training excluded), the median of `--repeats` runs.
Then, for each `--latents` size (the other settings at their defaults), the training time and
the PSNR of the sampled frames through the bottleneck at the network's size, beside a flat
image of their mean colour. Prints a markdown table and writes
benchmarks/results/autoencoder_rate.json.

    python benchmarks/autoencoder_rate.py [--latents 4 32 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from dreamreel.engine import compute, stages  # noqa: E402
from dreamreel.engine.bench.measure import machine  # noqa: E402
from dreamreel.engine.job import stylize  # noqa: E402
from dreamreel.engine.learning import sample_frames  # noqa: E402
from dreamreel.engine.sources import open_source  # noqa: E402
from dreamreel.pipelines.autoencoder.pipeline import (  # noqa: E402
    AutoencoderOptions,
    AutoencoderSequence,
    psnr,
    shrink,
)

CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "film" / "chaplin_silent.mp4"
RESULTS = Path(__file__).resolve().parent / "results" / "autoencoder_rate.json"


def trained(frames: np.ndarray, latent: int) -> tuple[AutoencoderSequence, float]:
    """The effect taught on `frames` as the engine teaches it, and the seconds it took."""
    effect = AutoencoderSequence(AutoencoderOptions(latent=latent), stages.context())
    began = time.perf_counter()
    effect.learn(frames, print)
    return effect, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latents", type=int, nargs="+", default=[4, 32, 128])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["DREAMREEL_HOME"] = tempfile.mkdtemp(prefix="autoencoder-bench-")
    defaults = AutoencoderOptions()
    with open_source(CLIP) as source:
        info = source.info
    work = compute.working_size(info.height, info.width, None)
    began = time.perf_counter()
    frames = sample_frames(CLIP, work)
    sampling = time.perf_counter() - began

    rows = []
    for latent in sorted({*args.latents, defaults.latent}):
        effect, seconds = trained(frames, latent)
        pictures = shrink(frames, effect.net.shape)
        rows.append({"latent": latent, "train_seconds": round(seconds, 1),
                     "psnr_db": round(psnr(effect.reconstruct(pictures), pictures), 2)})
    flat = np.broadcast_to(pictures.mean(axis=(0, 1, 2)), pictures.shape)
    default = next(r for r in rows if r["latent"] == defaults.latent)

    rates = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):  # the network comes from the cache
            stats = stylize(input=CLIP, output=Path(folder) / "out.mp4", pipeline="autoencoder",
                            offline=True, preset="ultrafast", overwrite=True)
            rates.append(stats.fps)
    fps = statistics.median(rates)

    where = machine()
    h, w = effect.net.shape
    print(f"autoencoder on {CLIP.name} ({info.frame_count} frames, working size "
          f"{work[1]}x{work[0]}, network {w}x{h}), {where['cpu']}, {where['cores']} cores\n")
    print(f"sampling {len(frames)} frames: {sampling:.1f} s; training at the defaults "
          f"({defaults.train_steps} steps, latent {defaults.latent}): "
          f"{default['train_seconds']:.1f} s; render {fps:.2f} fps (median of {args.repeats})\n")
    print("| --latent | PSNR (dB) | training (s) |")
    print("|---|---|---|")
    print(f"| flat mean colour | {psnr(flat, pictures):.2f} | - |")
    for row in rows:
        print(f"| {row['latent']} | {row['psnr_db']:.2f} | {row['train_seconds']:.1f} |")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": where, "clip": CLIP.name, "frames": info.frame_count,
        "work": list(work), "network": [h, w], "settings": asdict(defaults),
        "sample_frames": len(frames), "sample_seconds": round(sampling, 1),
        "render_fps": round(fps, 2), "render_fps_runs": [round(r, 2) for r in rates],
        "flat_mean_psnr_db": round(psnr(flat, pictures), 2), "latents": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
