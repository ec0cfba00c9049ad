"""`dreamreel paint CLIP --fps 4x`: how like the clip one network f(x, y, t) paints it, per
setting, and how long the fit and render take.

Each setting paints chaplin_3s.gif (36 frames, 320x232, 3.0 s by its delays) at four times its
rate. The figures: the mean PSNR of the painted frame shown as source frame i starts against
source frame i ("own"), and against source frame i + 18 ("other": what a painting that ignored
time would score), and the wall time of the whole command. Prints a markdown table and writes results/paint_clip.json with the machine
named.

    python benchmarks/paint_clip.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from dreamreel.engine.tuning import machine

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
FPS = 12.5  # the clip's own rate, as PyAV gives it: 4x paints at 50 fps
RESULTS = Path(__file__).resolve().parent / "results" / "paint_clip.json"
SETTINGS = {
    "defaults (time detail 0.5 a second: 1.5)": [],
    "--time-detail 4": ["--time-detail", "4"],
    "--time-detail 11.5": ["--time-detail", "11.5"],
    "--width 256 --learning-rate 0.002 --time-detail 2": [
        "--width", "256", "--learning-rate", "0.002", "--time-detail", "2"],
}


def frames(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """A clip's frames as float RGB, and when each starts (seconds)."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    return ([f.to_ndarray(format="rgb24").astype(np.float64) for f in decoded],
            [float(f.pts * f.time_base) for f in decoded])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def main() -> None:
    clip = MEDIA / "film" / "chaplin_3s.gif"
    source, starts = frames(clip)
    count = len(source)
    rows = []
    print(f"{machine()}\n\n| setting | PSNR own | PSNR other | seconds |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in SETTINGS.items():
            out = Path(tmp) / "painted.mp4"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dreamreel.engine.cli", "paint", str(clip),
                            "-o", str(out), "--fps", "4x", "-y", "--quiet", *flags], check=True)
            seconds = time.perf_counter() - start
            shown, _ = frames(out)
            at = [round(t * 4 * FPS) for t in starts]  # the painted frame as frame i starts
            own = np.mean([psnr(shown[k], source[i]) for i, k in enumerate(at)])
            other = np.mean([psnr(shown[k], source[(i + count // 2) % count])
                             for i, k in enumerate(at)])
            rows.append({"setting": name, "flags": flags, "psnr_own": own, "psnr_other": other,
                         "seconds": seconds})
            print(f"| {name} | {own:.2f} | {other:.2f} | {seconds:.0f} |", flush=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                                   "clip": clip.name, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
