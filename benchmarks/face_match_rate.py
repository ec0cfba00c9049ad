"""`ganface` live at 320x240: frames per second and latency, with 2 and 3 latent steps a frame.

The stand-in camera is live_rate.py's: chaplin_silent.mp4 cropped to 4:3 at 640x480, 30 fps,
with `--size 240` making the working size 320x240 (Chaplin's face is then about 18 px across).
Runs `dreamreel live --pipeline ganface --json` per setting, prints a markdown table of the
median of `--repeats` runs and writes it, with the machine, to results/face_match_rate.json.

    python benchmarks/face_match_rate.py [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from live_rate import MEDIA, camera_clip

from dreamreel.engine.bench.measure import machine

SETTINGS = {"steps-3": ["--face-steps", "3"], "steps-2": ["--face-steps", "2"]}
RESULTS = Path(__file__).parent / "results" / "face_match_rate.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", default="20")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = camera_clip(MEDIA / "film" / "chaplin_silent.mp4", Path(tmp) / "camera.mp4")
        rows = {}
        print("| setting | fps (median) | fps min..max | latency median ms |")
        print("|---|---|---|---|")
        for name, flags in SETTINGS.items():
            runs = []
            for _ in range(args.repeats):
                cmd = [sys.executable, "-m", "dreamreel.engine.cli", "live", "--source",
                       str(clip), "--loop", "--no-preview", "--size", "240", "--duration",
                       args.seconds, "--json", "--pipeline", "ganface", *flags]
                result = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if result.returncode:
                    sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-400:]}")
                runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            fps = [r["fps"] for r in runs]
            middle = sorted(runs, key=lambda r: r["fps"])[len(runs) // 2]
            rows[name] = {"flags": flags, "fps": fps, "latency_median_ms":
                          middle["latency_median_ms"]}
            print(f"| {name} | {statistics.median(fps):.1f} | {min(fps):.1f}..{max(fps):.1f} | "
                  f"{middle['latency_median_ms']:.0f} |", flush=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "size": "320x240", "runs": rows},
                                  indent=1) + "\n")


if __name__ == "__main__":
    main()
