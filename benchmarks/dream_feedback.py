"""DeepDream on video: feedback mode against dreaming every frame from scratch.

Runs `dreamreel run --pipeline dream` twice on the first seconds of a clip (feedback, and
--no-feedback --temporal 0), then `dreamreel metrics` on both; prints a markdown table with
fps and warping error.

    python benchmarks/dream_feedback.py [--clip film/chaplin_silent.mp4] [--duration 2] [--size 240]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def dreamreel(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "dreamreel.engine.cli", *args, "--json"],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"dreamreel {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", default="film/chaplin_silent.mp4")
    parser.add_argument("--duration", default="2")
    parser.add_argument("--size", default="240")
    parser.add_argument("--steps", default="2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = f"{tmp}/input.mp4"
        dreamreel("run", str(MEDIA / args.clip), "-o", source, "--duration", args.duration,
                  "--size", args.size, "--strength", "0", "--temporal", "0", "--crf", "12")
        common = ["run", source, "--pipeline", "dream", "--steps", args.steps, "--size", args.size, "-y"]
        feedback = dreamreel(*common, "-o", f"{tmp}/feedback.mp4")
        scratch = dreamreel(*common, "-o", f"{tmp}/scratch.mp4", "--no-feedback", "--temporal", "0")
        figures = dreamreel("metrics", source, f"{tmp}/feedback.mp4", "--reference", f"{tmp}/scratch.mp4")
    ratio = figures["output"]["warping_error"] / figures["reference"]["warping_error"]
    print(f"| mode | fps | E_warp |\n|---|---|---|\n"
          f"| per-frame (--no-feedback --temporal 0) | {scratch['fps']:.2f} | {figures['reference']['warping_error']:.5f} |\n"
          f"| feedback (default) | {feedback['fps']:.2f} | {figures['output']['warping_error']:.5f} ({ratio:.2f}x) |\n\n"
          f"{args.clip}, first {args.duration} s, short side {args.size}, {args.steps} steps per octave, "
          f"{feedback['frames']} frames.")


if __name__ == "__main__":
    main()
