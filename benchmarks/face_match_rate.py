"""`ganface` live at 320x240: frames per second and latency, with 2 and 3 latent steps a frame.

The stand-in camera is live_rate.py's: chaplin_silent.mp4 cropped to 4:3 at 640x480, 30 fps,
with `--size 240` making the working size 320x240 (Chaplin's face is then about 18 px across).
Runs `dreamreel live --pipeline ganface --json` per setting, prints a markdown table of the
median of `--repeats` runs and writes it, with the machine, to results/face_match_rate.json.
A second table is the face tracker alone over the camera's frames at its 30 fps pace: in how
many frames it holds a face when the full-frame search runs in the frame itself (a file run)
and on its own thread (a show), and what a full search costs.

    python benchmarks/face_match_rate.py [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
from live_rate import MEDIA, camera_clip

from dreamreel import weights
from dreamreel.engine.bench.measure import machine
from dreamreel.pipelines.gan.face_detect import FaceTracker, HaarCascade

CAMERA_FPS = 30
SETTINGS = {"steps-3": ["--face-steps", "3"], "steps-2": ["--face-steps", "2"]}
RESULTS = Path(__file__).parent / "results" / "face_match_rate.json"


def tracker_rows(clip: Path) -> dict[str, dict[str, float]]:
    """The tracker alone, searching in the frame and in the background, over `clip` at
    320x240 and the camera's pace."""
    cascade = HaarCascade(weights.load("haar_frontalface"))
    with av.open(str(clip)) as source:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (320, 240),
                             interpolation=cv2.INTER_AREA) for f in source.decode(video=0)]
    rows = {}
    for name, background in (("in the frame", False), ("background", True)):
        tracker, held, searches = FaceTracker(cascade, background=background), 0, []
        for frame in frames:
            start = time.perf_counter()
            held += tracker(frame) is not None
            spent = time.perf_counter() - start
            if spent > 0.1:
                searches.append(spent)
            time.sleep(max(0.0, 1 / CAMERA_FPS - spent))
        rows[name] = {"frames": len(frames), "with_face": held,
                      "slow_frames": len(searches),
                      "slow_frame_ms": 1000 * statistics.median(searches) if searches else 0}
        print(f"| {name} | {held} of {len(frames)} | {len(searches)} | "
              f"{rows[name]['slow_frame_ms']:.0f} |", flush=True)
    return rows


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
        print("\n| tracker's full search | frames with a face | frames over 100 ms | "
              "their median ms |\n|---|---|---|---|")
        tracker = tracker_rows(clip)
    RESULTS.write_text(json.dumps({"machine": machine(), "size": "320x240", "runs": rows,
                                   "tracker": tracker}, indent=1) + "\n")


if __name__ == "__main__":
    main()
