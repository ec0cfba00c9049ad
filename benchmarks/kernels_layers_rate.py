"""Live frame rate of the `kernels` (640x480) and `layers` (320x240) pipelines, as a show runs.

The stand-in camera is live_rate.py's: chaplin_silent.mp4 cropped to 4:3 at 640x480, here at
60 fps so that the capture's pacing is not the ceiling for kernels' 60 fps target. Each setting
runs `dreamreel live --source CAMERA --loop --no-preview --json` (the engine's own path:
capture, the tuned compiled graph, output) at the working size the issue names; the figure is
the median of `--repeats` runs. Prints a markdown table and writes
benchmarks/results/kernels_layers_rate.json with the machine named.

    python benchmarks/kernels_layers_rate.py [--seconds 10] [--repeats 3]
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

from live_rate import MEDIA, camera_clip

from dreamreel.engine.tuning import machine

RESULTS = Path(__file__).resolve().parent / "results" / "kernels_layers_rate.json"
# name -> (short side of the working size, flags); 480: 640x480, 240: 320x240
SETTINGS = {
    "kernels-gabor_bank": (480, ["--pipeline", "kernels", "--kernel", "gabor_bank"]),
    "kernels-gabor": (480, ["--pipeline", "kernels", "--kernel", "gabor"]),
    "kernels-sobel": (480, ["--pipeline", "kernels", "--kernel", "sobel"]),
    "kernels-blur": (480, ["--pipeline", "kernels", "--kernel", "blur"]),
    # the working size at which a show keeps up, the output still 640x480
    "kernels-sobel-at-240": (240, ["--pipeline", "kernels", "--kernel", "sobel"]),
    "kernels-gabor_bank-at-240": (240, ["--pipeline", "kernels", "--kernel", "gabor_bank"]),
    "layers-block1_conv2-at-120": (120, ["--pipeline", "layers", "--vgg-layer", "block1_conv2"]),
    "layers-block1_conv2": (240, ["--pipeline", "layers", "--vgg-layer", "block1_conv2"]),
    "layers-block3_conv3": (240, ["--pipeline", "layers", "--vgg-layer", "block3_conv3"]),
    "layers-block5_conv3": (240, ["--pipeline", "layers", "--vgg-layer", "block5_conv3"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", default="10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    clip = camera_clip(MEDIA / "film" / "chaplin_silent.mp4", Path(tmp.name) / "camera.mp4", 60)
    rows = []
    print(f"{machine()}\n\n| setting | size | flags | fps (median) | fps min..max |")
    print("|---|---|---|---|---|")
    for name in args.only:
        short, flags = SETTINGS[name]
        cmd = [sys.executable, "-m", "dreamreel.engine.cli", "live", "--source", str(clip),
               "--loop", "--no-preview", "--offline", "--size", str(short), "--duration",
               args.seconds, "--json", *flags]
        fps = []
        for _ in range(args.repeats):
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode:
                sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-400:]}")
            fps.append(json.loads(result.stdout.strip().splitlines()[-1])["fps"])
        size = f"{short * 4 // 3}x{short}"
        rows.append({"setting": name, "size": size, "flags": flags, "fps": fps,
                     "fps_median": statistics.median(fps)})
        print(f"| {name} | {size} | `{' '.join(flags)}` | {statistics.median(fps):.1f} | "
              f"{min(fps):.1f}..{max(fps):.1f} |", flush=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                                   "seconds": float(args.seconds), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
