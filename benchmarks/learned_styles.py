"""Learned styles against Magenta's arbitrary style and the nearest built-in, per painting.

For each painting: `dreamreel styles learn` with its defaults on a clip (timed), then the clip
styled three ways (the learned style, `--style-image` with the painting, the built-in the fit
started from), all stabilised as `run` does by default, and `dreamreel metrics` on each:
Gram style distance to the painting, warping error, and the run's frames a second.
Prints a markdown table and writes benchmarks/results/learned_styles.json.

    python benchmarks/learned_styles.py [--paintings hokusai_great_wave.jpg ...] [--steps N]
        [--temporal-weight W] [--style-scale S]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
RESULTS = Path(__file__).resolve().parent / "results" / "learned_styles.json"
DREAMREEL = [sys.executable, "-m", "dreamreel.engine.cli"]
PAINTINGS = ["hokusai_great_wave.jpg", "vangogh_starry_night.jpg", "munch_the_scream.jpg"]


def dreamreel(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*DREAMREEL, *map(str, args)], capture_output=True, text=True,
                            check=False)
    if result.returncode:
        sys.exit(f"dreamreel {' '.join(map(str, args))} failed: {result.stderr.strip()[-800:]}")
    return result


def fps_of(result: subprocess.CompletedProcess) -> float:
    return float(re.findall(r"\(([\d.]+) fps\)", result.stderr)[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paintings", nargs="+", default=PAINTINGS)
    parser.add_argument("--clip", default="color/cockatoo_yuv420.mp4")
    parser.add_argument("--size", default="256", help="working short side of the styled runs")
    parser.add_argument("--duration", default="3")
    parser.add_argument("--steps", help="learning steps (default: the command's)")
    parser.add_argument("--temporal-weight", help="learn with the temporal term at this weight")
    parser.add_argument("--style-scale", help="learn with the painting at this scale")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON to write")
    parser.add_argument("--picture", type=Path, help="also draw the first painting, Magenta's "
                        "arbitrary style and the learned style on one frame into this file")
    parser.add_argument("--builtins", action="store_true", help="instead: the warping error of "
                        "each of the 26 built-in styles on the same clip and settings")
    args = parser.parse_args()
    clip = MEDIA / args.clip
    if args.builtins:
        builtin_flicker(args, clip)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for painting_name in args.paintings:
            painting = MEDIA / "styles" / painting_name
            name = "bench-" + painting.stem.replace("_", "-")
            learning = []  # the learning flags given, passed on as they are
            for flag, value in (("--steps", args.steps), ("--temporal-weight",
                                args.temporal_weight), ("--style-scale", args.style_scale)):
                if value:
                    learning += [flag, value]
            tic = time.perf_counter()
            dreamreel("styles", "learn", painting, "--name", name, "--content", clip, *learning,
                      "-y")
            learn_seconds = time.perf_counter() - tic
            listing = dreamreel("styles").stdout
            start = re.search(rf"^{name}: .* built-in (\d+)", listing, re.M).group(1)
            row = {"painting": painting_name, "learn_seconds": round(learn_seconds, 1),
                   "started_from": int(start)}
            for kind, flags in (("learned", ["--style", name]),
                                ("magenta", ["--style-image", painting]),
                                ("builtin", ["--style", start])):
                out = f"{tmp}/{name}-{kind}.mp4"
                run = dreamreel("run", clip, *flags, "--size", args.size, "--duration",
                                args.duration, "-o", out, "-y", "--one-way")  # as recorded
                report = json.loads(dreamreel("metrics", clip, out, "--style-image", painting,
                                              "--frames", _frames(out), "--json").stdout)
                row[kind] = {"style_distance": round(report["output"]["style_distance"], 2),
                             "warping_error": round(report["output"]["warping_error"], 4),
                             "fps": fps_of(run)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.picture and len(rows) == 1:
                _picture(args.picture, painting, f"{tmp}/{name}-magenta.mp4",
                         f"{tmp}/{name}-learned.mp4")
            for leftover in _styles_folder().glob(f"{name}.*"):  # the user's cache as it was
                leftover.unlink()
    args.out.write_text(json.dumps({"clip": args.clip, "size": args.size,
                                    "duration": args.duration, "steps": args.steps,
                                    "temporal_weight": args.temporal_weight,
                                    "style_scale": args.style_scale, "rows": rows},
                                   indent=1) + "\n")
    print("| painting | learn | style distance: learned / Magenta / built-in | E_warp: learned "
          "/ Magenta / built-in | fps: learned / Magenta |")
    print("|---|---|---|---|---|")
    for r in rows:
        sd = " / ".join(f"{r[k]['style_distance']:.1f}" for k in ("learned", "magenta", "builtin"))
        ew = " / ".join(f"{r[k]['warping_error']:.4f}" for k in ("learned", "magenta", "builtin"))
        print(f"| {r['painting']} | {r['learn_seconds'] / 60:.1f} min (from {r['started_from']}) "
              f"| {sd} | {ew} | {r['learned']['fps']:.1f} / {r['magenta']['fps']:.1f} |")


def builtin_flicker(args: argparse.Namespace, clip: Path) -> None:
    """The yardstick for a learned style's flicker: every built-in style's warping error."""
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        for style in range(26):
            out = f"{tmp}/{style}.mp4"
            dreamreel("run", clip, "--style", style, "--size", args.size, "--duration",
                      args.duration, "-o", out, "-y", "--one-way")
            report = json.loads(dreamreel("metrics", clip, out, "--frames", _frames(out),
                                          "--json").stdout)
            errors.append(round(report["output"]["warping_error"], 4))
            print(style, errors[-1], flush=True)
    args.out.write_text(json.dumps({"clip": args.clip, "size": args.size, "duration":
                                    args.duration, "builtin_warping_errors": errors}) + "\n")
    print(f"median {statistics.median(errors):.4f}, range {min(errors):.4f}..{max(errors):.4f}")


def _picture(path: Path, painting: Path, magenta: str, learned: str) -> None:
    """Painting | Magenta arbitrary | learned, on the clip's frame at one second."""
    import av
    import cv2
    import numpy as np

    def frame_at(clip: str, seconds: float = 1.0) -> np.ndarray:
        with av.open(clip) as container:
            for frame in container.decode(video=0):
                if frame.time >= seconds:
                    return frame.to_ndarray(format="rgb24")
        raise ValueError(f"{clip} is shorter than {seconds} s")

    def at_height(image: np.ndarray, h: int = 300) -> np.ndarray:
        width = round(image.shape[1] * h / image.shape[0])
        return cv2.resize(image, (width, h), interpolation=cv2.INTER_AREA)

    art = cv2.cvtColor(cv2.imread(str(painting)), cv2.COLOR_BGR2RGB)
    row = np.concatenate([at_height(art), at_height(frame_at(magenta)),
                          at_height(frame_at(learned))], axis=1)
    cv2.imwrite(str(path), cv2.cvtColor(row, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def _styles_folder() -> Path:
    from dreamreel.weights import learned

    return learned.folder()


def _frames(path: str) -> str:
    import av

    with av.open(path) as container:
        return str(sum(1 for _ in container.decode(video=0)))


if __name__ == "__main__":
    main()
