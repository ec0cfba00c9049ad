"""End-to-end `dreamreel run` figures: fps and peak memory on a real clip, and memory against
input length (it must stay flat). Prints markdown tables for benchmarks/RESULTS.md.

    python benchmarks/e2e_run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIP = MEDIA / "color" / "cockatoo_yuv420.mp4"
PAINTING = MEDIA / "styles" / "kandinsky_composition_vii.jpg"


def run(args: list[str]) -> tuple[dict, float]:
    """One `dreamreel run --json`: its summary and the child's own peak RSS in MB.

    The child prints little (a JSON line, a one-line error), so waiting before reading its
    pipes cannot deadlock, and os.wait4 gives that child's resource usage alone.
    """
    command = [sys.executable, "-m", "dreamreel.engine.cli", "run", *args, "--json", "-y",
               "--one-way"]  # as recorded; two-way's cost: RESULTS.md, "Two-way"
    proc = subprocess.Popen(command,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"failed: {err.strip()}")
    return json.loads(out), usage.ru_maxrss / 1024


def looped(source: Path, times: int, dest: Path) -> Path:
    """`source` re-encoded `times` times back to back (a long clip for the memory check)."""
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        enc.options = {"preset": "ultrafast", "crf": "23"}
        frames = [f.to_ndarray(format="yuv420p") for f in inp.decode(video=0)]
        index = 0
        for _ in range(times):
            for plane in frames:
                frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
                frame.pts, frame.time_base = index, Fraction(1, int(stream.average_rate))
                out.mux(enc.encode(frame))
                index += 1
        out.mux(enc.encode())
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", type=int, default=[240, 480, 720])
    parser.add_argument("--duration", default="4", help="seconds of the clip to run")
    args = parser.parse_args()
    print("| style | working size | frames | fps (median) | fps min..max | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, style in (("built-in 7", ["--style", "7"]), ("--style-image kandinsky", ["--style-image", str(PAINTING)])):
            for size in args.sizes:
                results = [run([str(CLIP), "-o", f"{tmp}/out.mp4", "--size", str(size),
                                "--duration", args.duration, *style])
                           for _ in range(args.repeats)]
                fps = [r["fps"] for r, _ in results]
                summary = results[0][0]
                print(f"| {label} | short side {size} | "
                      f"{summary['frames']} | {statistics.median(fps):.2f} | {min(fps):.2f}..{max(fps):.2f} | "
                      f"{max(rss for _, rss in results):.0f} |", flush=True)
        long_clip = looped(CLIP, 4, Path(tmp) / "long.mp4")
        print("\n| input | frames | peak RSS MB |\n|---|---|---|")
        for clip in (CLIP, long_clip):
            summary, rss = run([str(clip), "-o", f"{tmp}/mem.mp4", "--size", "120", "--style", "7"])
            print(f"| {clip.name} | {summary['frames']} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
