"""DeepDream on video: feedback mode against dreaming every frame from scratch.

Runs `dreamreel run --pipeline dream` on the first seconds of a clip once per frame from
scratch (--no-feedback --temporal 0) and once per feedback setting, then `dreamreel metrics`;
prints a markdown table with fps, warping error and how strongly each result dreams (mean
absolute difference from the input, as a share of the per-frame dream's), so a setting that
calms the video by dreaming less cannot pass for a better one.

    python benchmarks/dream_feedback.py [--clip film/chaplin_silent.mp4] [--duration 2]
        [--size 240] [--steps 2] [--reference-batch 1] [--settings "" "--blend 1.0" "--temporal 0.9"]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def dreamreel(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "dreamreel.engine.cli", *args, "--json"],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"dreamreel {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def dream_amount(source: str, dreamed: str) -> float:
    """Mean absolute difference between two clips' frames, 0..255."""
    with av.open(source) as a, av.open(dreamed) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        return float(np.mean([np.abs(x.to_ndarray(format="rgb24").astype(np.int16)
                                     - y.to_ndarray(format="rgb24")).mean() for x, y in pairs]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", default="film/chaplin_silent.mp4")
    parser.add_argument("--duration", default="2")
    parser.add_argument("--size", default="240")
    parser.add_argument("--steps", default="2")
    parser.add_argument("--reference-batch", default="1",
                        help="frames per call of the per-frame dream (1: each frame its own jitter, "
                        "as dreaming frame by frame; 4: four frames share each step's jitter)")
    parser.add_argument("--settings", nargs="+", default=[""],
                        help='feedback settings to compare, e.g. "" "--blend 1.0" (default: the defaults)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = f"{tmp}/input.mp4"
        dreamreel("run", str(MEDIA / args.clip), "-o", source, "--duration", args.duration,
                  "--size", args.size, "--strength", "0", "--temporal", "0", "--crf", "12")
        common = ["run", source, "--pipeline", "dream", "--steps", args.steps, "--size", args.size, "-y"]
        scratch = dreamreel(*common, "-o", f"{tmp}/scratch.mp4", "--no-feedback", "--temporal", "0",
                            "--batch", args.reference_batch)
        reference = dream_amount(source, f"{tmp}/scratch.mp4")
        rows = []
        for i, setting in enumerate(args.settings):
            out = f"{tmp}/feedback{i}.mp4"
            run = dreamreel(*common, *shlex.split(setting), "-o", out)
            figures = dreamreel("metrics", source, out, "--reference", f"{tmp}/scratch.mp4")
            ratio = figures["output"]["warping_error"] / figures["reference"]["warping_error"]
            rows.append(f"| feedback {setting or '(defaults)'} | {run['fps']:.2f} | "
                        f"{figures['output']['warping_error']:.5f} ({ratio:.2f}x) | "
                        f"{dream_amount(source, out) / reference:.2f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print("| mode | fps | E_warp | dream amount |\n|---|---|---|---|\n"
          f"| per-frame (--no-feedback --temporal 0 --batch {args.reference_batch}) | {scratch['fps']:.2f} | "
          f"{figures['reference']['warping_error']:.5f} | 1.00 ({reference:.1f}/255) |")
    print("\n".join(rows))
    print(f"\n{args.clip}, first {args.duration} s, short side {args.size}, {args.steps} steps per "
          f"octave, {run['frames']} frames.")


if __name__ == "__main__":
    main()
