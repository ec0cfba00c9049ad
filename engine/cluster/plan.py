"""Where a film's chunks begin and what each must render first.

A chunk that begins at a scene cut matches an unbroken run exactly: the stabiliser forgets its
past at a cut either way. Elsewhere a chunk begins at a keyframe (nothing is decoded twice)
and renders `warmup` frames before it whose outputs are dropped, so that the stabiliser's past
at the edge is close to an unbroken run's. Two-way stabilisation (engine.two_way) smooths each
frame toward the ones after it too: then a chunk also renders `warmdown` frames beyond its
end, whose outputs are dropped as well. It does so at a cut too, so that whether the frames
across it are smoothed together is decided by the backward pass's own cut test, as in a
single run.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass

# Warm-up frames before an edge away from a cut, from measurement (benchmarks/RESULTS.md,
# "Chunk edges"): with these the warping error across an edge is within 1.2x of the interior.
DEFAULT_WARMUP = 16
CHUNKS_PER_WORKER = 4  # fast workers take more chunks, a slow or lost one holds up less
LONGEST_CHUNK = 120.0  # seconds of film: what a failure costs at most, and resume granularity


@dataclass(frozen=True)
class Chunk:
    """Frames lo..hi-1 of the output, rendered from frame `warm` up to frame `until` - 1
    (outputs before lo and from hi dropped).

    edge: why it begins where it does: "start", "cut" (exact), "keyframe" or "frame" (no
      keyframe near; it decodes from the one before).
    """

    number: int
    lo: int
    hi: int
    warm: int
    edge: str
    until: int

    @property
    def frames(self) -> int:
        return self.hi - self.lo

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def chunk_length(frames: int, fps: float, workers: int, warmup: int,
                 seconds: float | None = None) -> int:
    """Frames a chunk: `seconds` of film when asked, else about CHUNKS_PER_WORKER chunks a
    worker, long enough that warm-up costs at most a quarter, at most LONGEST_CHUNK."""
    if seconds is not None:
        return max(1, round(seconds * fps))
    share = math.ceil(frames / (workers * CHUNKS_PER_WORKER))
    return max(4 * warmup, 1, min(share, round(LONGEST_CHUNK * fps)))


def chunks(frames: int, length: int, cuts: list[int], keyframes: list[int], warmup: int,
           exact: bool = False, warmdown: int = 0) -> list[Chunk]:
    """Cut `frames` into chunks of about `length`: each edge at the cut nearest the target
    within half a length, else the nearest keyframe, else the target frame itself.

    cuts, keyframes: ascending frame indices. exact: every edge matches an unbroken run (the
    stabiliser is off and the effect has no past), so nothing is warmed up. warmdown: frames
    rendered after each chunk's end.
    """
    edges, kinds = [0], ["start"]
    while frames - edges[-1] > length * 3 // 2:
        target = edges[-1] + length
        lo, hi = edges[-1] + max(1, length // 2), target + length // 2
        for kind, candidates in (("cut", cuts), ("keyframe", keyframes)):
            near = _within(candidates, lo, hi)
            if near:
                edges.append(min(near, key=lambda c: (abs(c - target), c)))
                kinds.append(kind)
                break
        else:
            edges.append(target)
            kinds.append("frame")
    bounds = [*edges, frames]
    plan = []
    for number, (lo, hi, kind) in enumerate(zip(bounds, bounds[1:], kinds, strict=False)):
        warm = lo
        if kind not in ("start", "cut") and not exact:
            before = _within(cuts, lo - warmup, lo)
            warm = before[-1] if before else max(0, lo - warmup)  # a cut resets it exactly
        until = min(frames, hi + warmdown)  # past a cut too: the backward pass sees it there
        plan.append(Chunk(number, lo, hi, warm, kind, until))
    return plan


def _within(values: list[int], lo: int, hi: int) -> list[int]:
    """The values v with lo <= v <= hi."""
    return values[bisect.bisect_left(values, lo):bisect.bisect_right(values, hi)]
