"""Frames a second of one film rendered in this process, and on a local Ray with W workers of
C cores each, side by side in one run, median of several; the machine named beside them.

    python benchmarks/cluster_scaling.py [--shapes 1x2,2x1] [--repeats 3] [--frames 120]
        [--size 360] [--out results/cluster_scaling.json]

The film is the 720p cockatoo clip (its first `--frames` frames, re-encoded with a keyframe
every 24), stylized at `--size` with the style network. The cluster's time includes planning
(demuxing, finding the cuts), starting the workers (TensorFlow and the graph in each) and the
join: what a user waits for. Ray itself is started once, outside the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_film import make_film  # noqa: E402

from dreamreel.engine import compute  # noqa: E402
from dreamreel.engine.cluster import ClusterOptions  # noqa: E402
from dreamreel.engine.job import RunSpec, stylize  # noqa: E402


def timed(spec: RunSpec) -> float:
    began = time.perf_counter()
    stats = stylize(spec)
    return stats.frames / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1x2,2x1", help="WORKERSxCORES, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=360)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    cores = os.cpu_count() or 1
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        film = make_film(folder / "film.mp4", (args.frames,), (1280, 720), fps=20, gop=24,
                         clips=("color/cockatoo_yuv420.mp4",))
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        for repeat in range(args.repeats):
            for name, options in [("single", None)] + [
                    (f"{w}x{c}", ClusterOptions(workers=w, worker_cpus=c)) for w, c in shapes]:
                out = folder / f"{name}-{repeat}.mp4"
                rate = timed(RunSpec.make(film, out, "style", style="7", size=args.size,
                                          two_way=False, ray=options))  # as recorded
                rates.setdefault(name, []).append(rate)
                print(f"{name}: {rate:.2f} fps", flush=True)
        ray.shutdown()
    report = {"cpu": compute.cpu_features(), "cores": cores, "frames": args.frames,
              "size": args.size, "fps": {k: statistics.median(v) for k, v in rates.items()},
              "runs": rates}
    print(json.dumps(report["fps"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
