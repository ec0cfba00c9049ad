"""A chain compiled into one graph against its parts run separately (model only, ms/frame).

    python benchmarks/chain_vs_parts.py [--sizes 256x256 640x480] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from dreamreel.engine import stages
from dreamreel.engine.graph import FrameGraph


def ms_per_frame(pipeline: str, height: int, width: int, repeats: int) -> float:
    built = stages.build(stages.stages(pipeline, {"style": "7"}), stages.context())
    graph = FrameGraph(built.graph, 1, height, width)
    frame = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    graph(frame)  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        graph(frame)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["256x256", "640x480"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| size | vintage ms | style ms | sum | chain vintage,style ms | chain fps |\n|---|---|---|---|---|---|")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        vintage, style = (ms_per_frame(p, h, w, args.repeats) for p in ("vintage", "style"))
        chain = ms_per_frame("vintage,style", h, w, args.repeats)
        print(f"| {size} | {vintage:.0f} | {style:.0f} | {vintage + style:.0f} | {chain:.0f} | "
              f"{1000 / chain:.2f} |", flush=True)


if __name__ == "__main__":
    main()
