"""How visible a cluster run's chunk edges are, by warm-up length: the warping error
(`dreamreel metrics --json`, its per-pair figures) of the frame pairs that straddle an edge
away from a scene cut, against the pairs inside the chunks, for K warm-up frames.

    python benchmarks/chunk_edges.py [--warmups 0,8,16,32] [--out results/chunk_edges.json]
    python benchmarks/chunk_edges.py --two-way --warmups 16 --warmdowns 0,8

The film is hand-held footage without cuts (the cockatoo clip, re-encoded with a keyframe
every 12 frames), cut into one-second chunks, so every edge is a keyframe edge. The single
run's own pairs at the same places are the yardstick: a ratio of 1.0 is an invisible edge.
With --two-way every run smooths backward too, and each chunk renders `warmdown` frames past
its end (the plan's `two_way.LOOKAHEAD`, 8; other values are set on the module here, where
the driver plans). "frames_apart" is the mean distance (0..255) of each frame from the single
run's, in the 8 frames before and after each edge.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_film import make_film  # noqa: E402

from dreamreel.engine import compute, two_way  # noqa: E402
from dreamreel.engine.cluster import ClusterOptions  # noqa: E402
from dreamreel.engine.job import RunSpec, stylize  # noqa: E402
from dreamreel.engine.sources import open_source  # noqa: E402

FRAMES, SIZE, CHUNK = 120, (256, 144), 1.0


def per_pair(film: Path, output: Path) -> list[float]:
    command = Path(sys.executable).with_name("dreamreel")
    ran = subprocess.run([str(command), "metrics", str(film), str(output), "--json"], capture_output=True, text=True, check=True)
    return json.loads(ran.stdout.splitlines()[-1])["per_pair"]["output"]


def frames(path: Path) -> list[np.ndarray]:
    with open_source(path) as source:
        return [f.image.astype(np.int16) for f in source]


def near_edges(ours: list[np.ndarray], theirs: list[np.ndarray], edges: list[int]) -> float:
    """Mean |ours - theirs| over the 8 frames either side of each edge."""
    return float(np.mean([np.abs(ours[i] - theirs[i]).mean() for e in edges
                          for i in range(max(0, e - 8), min(len(ours), e + 8))]))


def edge_ratio(errors: list[float], edges: list[int]) -> dict[str, float]:
    """Pair i is frames (i, i+1): an edge at frame e is pair e-1."""
    boundary = [errors[e - 1] for e in edges]
    interior = [x for i, x in enumerate(errors) if i + 1 not in edges]
    return {"boundary": float(np.mean(boundary)), "interior": float(np.mean(interior)),
            "ratio": float(np.mean(boundary) / np.mean(interior))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmups", default="0,8,16,32")
    parser.add_argument("--two-way", action="store_true", help="every run two-way")
    parser.add_argument("--warmdowns", default=str(two_way.LOOKAHEAD),
                        help="with --two-way: frames rendered past a chunk's end")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    warmups = [int(k) for k in args.warmups.split(",")]
    warmdowns = [int(d) for d in args.warmdowns.split(",")] if args.two_way else [0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        film = make_film(folder / "film.mp4", (FRAMES,), SIZE, gop=12,
                         clips=("color/cockatoo_yuv420.mp4",))
        single = folder / "single"  # folders of PNGs: no codec noise in the figures
        stylize(RunSpec.make(film, single, "style", style="7", two_way=args.two_way))
        reference = per_pair(film, single)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        rows = []
        for k in warmups:
            for down in warmdowns:
                two_way.LOOKAHEAD = down  # read by the driver's plan, in this process
                out = folder / f"k{k}d{down}"
                stats = stylize(RunSpec.make(film, out, "style", style="7",
                                             two_way=args.two_way,
                                             ray=ClusterOptions(warmup=k, chunk=CHUNK)))
                edges = [c["lo"] for c in stats.summary["chunks"] if c["edge"] != "start"]
                row = {"warmup": k, "warmdown": down, "edges": edges,
                       **edge_ratio(per_pair(film, out), edges),
                       "single_run_at_edges": edge_ratio(reference, edges),
                       "frames_apart": near_edges(frames(out), frames(single), edges)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        ray.shutdown()
    report = {"cpu": compute.cpu_features(), "film": f"{FRAMES} frames {SIZE[0]}x{SIZE[1]}, "
              "cockatoo, keyframe every 12", "chunk_seconds": CHUNK, "two_way": args.two_way,
              "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
