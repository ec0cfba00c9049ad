"""How visible a cluster run's chunk edges are, by warm-up length: the warping error
(`dreamreel metrics --json`, its per-pair figures) of the frame pairs that straddle an edge
away from a scene cut, against the pairs inside the chunks, for K warm-up frames.

    python benchmarks/chunk_edges.py [--warmups 0,8,16,32] [--out results/chunk_edges.json]

The film is hand-held footage without cuts (the cockatoo clip, re-encoded with a keyframe
every 12 frames), cut into one-second chunks, so every edge is a keyframe edge. The single
run's own pairs at the same places are the yardstick: a ratio of 1.0 is an invisible edge.
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

from dreamreel.engine import compute  # noqa: E402
from dreamreel.engine.cluster import ClusterOptions  # noqa: E402
from dreamreel.engine.job import RunSpec, stylize  # noqa: E402

FRAMES, SIZE, CHUNK = 120, (256, 144), 1.0


def per_pair(film: Path, output: Path) -> list[float]:
    command = Path(sys.executable).with_name("dreamreel")
    ran = subprocess.run([str(command), "metrics", str(film), str(output), "--json"], capture_output=True, text=True, check=True)
    return json.loads(ran.stdout.splitlines()[-1])["per_pair"]["output"]


def edge_ratio(errors: list[float], edges: list[int]) -> dict[str, float]:
    """Pair i is frames (i, i+1): an edge at frame e is pair e-1."""
    boundary = [errors[e - 1] for e in edges]
    interior = [x for i, x in enumerate(errors) if i + 1 not in edges]
    return {"boundary": float(np.mean(boundary)), "interior": float(np.mean(interior)),
            "ratio": float(np.mean(boundary) / np.mean(interior))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmups", default="0,8,16,32")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    warmups = [int(k) for k in args.warmups.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        film = make_film(folder / "film.mp4", (FRAMES,), SIZE, gop=12,
                         clips=("color/cockatoo_yuv420.mp4",))
        single = folder / "single"  # folders of PNGs: no codec noise in the figures
        stylize(RunSpec.make(film, single, "style", style="7"))
        reference = per_pair(film, single)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        rows = []
        for k in warmups:
            out = folder / f"k{k}"
            stats = stylize(RunSpec.make(film, out, "style", style="7",
                                         ray=ClusterOptions(warmup=k, chunk=CHUNK)))
            edges = [c["lo"] for c in stats.summary["chunks"] if c["edge"] != "start"]
            row = {"warmup": k, "edges": edges, **edge_ratio(per_pair(film, out), edges),
                   "single_run_at_edges": edge_ratio(reference, edges)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        ray.shutdown()
    report = {"cpu": compute.cpu_features(), "film": f"{FRAMES} frames {SIZE[0]}x{SIZE[1]}, "
              "cockatoo, keyframe every 12", "chunk_seconds": CHUNK, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
