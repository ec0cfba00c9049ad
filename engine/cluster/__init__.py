"""Long films on a Ray cluster (`dreamreel run --ray`): planned from packets, cut into chunks
at scene cuts or keyframes, rendered by long-lived workers, joined by packet copy.

Modules: `packets` (the film's index, shipped packets, their decoder), `plan` (where chunks
begin), `worker` (the Ray actor and the cut finder), `parts` (finished chunks on disk, for
resuming), `driver` (the run). Only `driver` and `worker` import Ray, an optional extra.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterOptions:
    """How a job spreads over Ray.

    address: None or "local" starts a Ray of this machine's own; else a cluster to join
      ("auto", "host:6379", "ray://host:10001").
    workers: how many workers (None: as many as the cluster has slots of `worker_cpus`, or GPUs).
    worker_cpus: CPU cores each worker holds (TensorFlow's and OpenCV's threads follow).
    warmup: frames rendered and dropped before a chunk that begins away from a scene cut, so
      the stabiliser's past there matches an unbroken run (None: the measured default).
    chunk: seconds of film per chunk (None: about four chunks a worker, at most two minutes).
    """

    address: str | None = None
    workers: int | None = None
    worker_cpus: int = 1
    warmup: int | None = None
    chunk: float | None = None
