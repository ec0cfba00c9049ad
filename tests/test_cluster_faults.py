"""A node lost mid-run: a real Ray cluster of two nodes (ray.cluster_utils.Cluster),
one of them removed while its worker renders a chunk. The chunk is rendered again on the
other node and the output is the one a run without the fault makes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import media

ray = pytest.importorskip("ray", reason="Ray is missing: pip install 'dreamreel[cluster]'")
psutil = pytest.importorskip("psutil", reason="psutil comes with Ray")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cluster_film import make_film  # noqa: E402

from dreamreel.engine.cluster import ClusterOptions  # noqa: E402
from dreamreel.engine.job import RunSpec, stylize  # noqa: E402
from dreamreel.engine.sources import open_source  # noqa: E402

pytestmark = pytest.mark.slow
STORE = 100 * 2**20


def frames(path: Path) -> list[np.ndarray]:
    with open_source(path) as source:
        return [f.image for f in source]


def processes(node) -> set[int]:
    """The pids under a node's raylet: its workers."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    return {p.pid for p in raylet.children(recursive=True)}


def test_a_node_removed_mid_chunk_leaves_the_output_unchanged(tmp_path):
    from ray.cluster_utils import Cluster

    media("audio/bbb_14s-19s_h264_aac.mp4")
    film = make_film(tmp_path / "film.mp4")
    single = tmp_path / "single"
    stylize(RunSpec.make(film, single, "style", style="7"))

    cluster = Cluster(initialize_head=True, connect=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE, "include_dashboard": False})
    # two-core nodes: a worker sums with the single run's thread count, so pixels can agree
    nodes = [cluster.add_node(num_cpus=2, object_store_memory=STORE) for _ in range(2)]
    cluster.wait_for_nodes()
    lines, removed = [], []

    def say(line: str) -> None:
        """After the first chunk, remove the node that is still rendering one."""
        lines.append(line)
        if " on " in line and not removed:
            pid = int(line.split(" on ")[1].split(":")[1])
            busy = next(n for n in nodes if pid not in processes(n))
            cluster.remove_node(busy, allow_graceful=False)
            removed.append(busy)

    try:
        stats = stylize(RunSpec.make(film, tmp_path / "spread", "style", style="7", ray=(
            ClusterOptions(workers=2, worker_cpus=2, chunk=1.0))), say=say)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert removed and any("a worker died" in line for line in lines), lines
    chunks = stats.summary["chunks"]
    assert sorted(c["tries"] for c in chunks) == [1, 1, 2]
    assert len({c["node"] for c in chunks if c["tries"] == 2}) == 1
    ours, theirs = frames(tmp_path / "spread"), frames(single)
    assert len(ours) == 72 and all(np.array_equal(a, b) for a, b in zip(ours, theirs,
                                                                          strict=True))
