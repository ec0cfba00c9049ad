"""How a DeepDream clip's time grows with its length and working size.

Runs `dreamreel run chaplin_silent.mp4 --pipeline dream` (feedback mode, 4 octaves, --steps
per octave) for each --durations x --sizes and prints the wall time, frames and fps of each
run from its --json summary.

    python benchmarks/dream_scaling.py [--durations 1 2] [--sizes 120 240] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--durations", nargs="+", default=["1", "2"])
    parser.add_argument("--sizes", nargs="+", default=["120", "240"])
    parser.add_argument("--steps", default="2")
    args = parser.parse_args()
    print("| clip seconds | working size | frames | wall s | fps | s per frame |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for duration in args.durations:
                cmd = [sys.executable, "-m", "dreamreel.engine.cli", "run",
                       str(MEDIA / "film" / "chaplin_silent.mp4"), "-o", f"{tmp}/dream.mp4", "-y",
                       "--pipeline", "dream", "--steps", args.steps, "--duration", duration,
                       "--size", size, "--json"]
                result = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if result.returncode:
                    sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-300:]}")
                run = json.loads(result.stdout)
                print(f"| {duration} | {size} | {run['frames']} | {run['seconds']:.1f} | "
                      f"{run['fps']:.2f} | {run['seconds'] / run['frames']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
