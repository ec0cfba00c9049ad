"""Live mode's frame rate and capture-to-output latency at 320x240, per pipeline setting.

The stand-in camera is chaplin_silent.mp4 cropped to 4:3 and scaled to 640x480 at 30 fps (a
typical webcam; the capture thread paces a file at its rate, so 30 fps is the ceiling), and
`--size 240` makes the working size 320x240. Runs `dreamreel live --source CAMERA --loop
--no-preview --json` per setting and prints a markdown table of the median of `--repeats` runs.

    python benchmarks/live_rate.py [--seconds 15] [--repeats 3] [--only style dream]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SETTINGS = {
    "style": ["--pipeline", "style", "--style", "3"],  # --precision auto: bfloat16 on AMX CPUs
    "style-f32": ["--pipeline", "style", "--style", "3", "--precision", "float32"],
    "style-temporal": ["--pipeline", "style", "--style", "3", "--temporal", "0.5"],
    "dream": ["--pipeline", "dream", "--temporal", "0.85", "--layer", "block4_conv3"],
    "dream-block3": ["--pipeline", "dream", "--temporal", "0.85", "--layer", "block3_conv3"],
    "faces": ["--pipeline", "faces"],
    "faces-style": ["--pipeline", "faces,style", "--style", "3"],
}


def camera_clip(source: Path, dest: Path, fps: int = 30) -> Path:
    """`source` centre-cropped to 4:3, at 640x480 and `fps` (every frame kept, re-timed)."""
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "16", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for index, frame in enumerate(inp.decode(video=0)):
            image = frame.to_ndarray(format="rgb24")
            h, w = image.shape[:2]
            crop_w = h * 4 // 3
            image = image[:, (w - crop_w) // 2 : (w - crop_w) // 2 + crop_w]
            picture = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(640, 480, "yuv420p")
            picture.pts, picture.time_base = index, Fraction(1, fps)
            out.mux(stream.encode(picture))
        out.mux(stream.encode())
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", default="15")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="240")
    parser.add_argument("--only", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    clip = camera_clip(MEDIA / "film" / "chaplin_silent.mp4", Path(tmp.name) / "camera.mp4")
    print("| setting | flags | fps (median) | fps min..max | latency median ms | latency p95 ms |")
    print("|---|---|---|---|---|---|")
    for name in args.only:
        runs = []
        for _ in range(args.repeats):
            cmd = [sys.executable, "-m", "dreamreel.engine.cli", "live", "--source", str(clip),
                   "--loop", "--no-preview", "--size", args.size, "--duration", args.seconds,
                   "--json", *SETTINGS[name]]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode:
                sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-400:]}")
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            print(name, runs[-1], file=sys.stderr, flush=True)
        fps = [r["fps"] for r in runs]
        best = sorted(runs, key=lambda r: r["fps"])[len(runs) // 2]
        print(f"| {name} | `{' '.join(SETTINGS[name])}` | {statistics.median(fps):.1f} | "
              f"{min(fps):.1f}..{max(fps):.1f} | {best['latency_median_ms']:.0f} | "
              f"{best['latency_p95_ms']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
