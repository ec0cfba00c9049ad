"""Effects that learn from a clip before the first frame (pipelines/base.py): the sample of
frames they are handed. `run` teaches them on its own input; a live show on the clip given
with `--learn-from`, since a camera has nothing to show them before the show starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dreamreel.engine import processing, stages
from dreamreel.engine.sampling import EvenSample
from dreamreel.engine.sources import open_source
from dreamreel.pipelines.base import Chain

LEARN_FRAMES = 64  # frames at most that an effect learning from the clip is handed


def learners(built: stages.Built) -> list:
    """The effects of a built chain that learn from a clip."""
    graph = built.graph
    parts = graph.effects if isinstance(graph, Chain) else [graph]
    return [e for e in (*parts, built.sequential) if e is not None and hasattr(e, "learn")]


def teach(built: stages.Built, clip: Path, work: tuple[int, int], start: float | None = None,
          duration: float | None = None, say: Callable[[str], None] | None = None) -> None:
    """Hand every effect of the chain that has `learn(frames, say)` a sample of the clip's
    frames (from `start`, for `duration`) at the working size `work`."""
    students = learners(built)
    if students:
        frames = sample_frames(clip, work, start=start, duration=duration)
        for effect in students:
            effect.learn(frames, say or (lambda line: None))


def sample_frames(clip: Path, work: tuple[int, int], count: int = LEARN_FRAMES,
                  start: float | None = None, duration: float | None = None) -> np.ndarray:
    """Up to `count` frames spread evenly over the clip's part from `start` for `duration`,
    at the working size (uint8 [N, h, w, 3]); at most twice that many are held while it is
    read."""
    sample: EvenSample[np.ndarray] = EvenSample(2 * count)
    with open_source(clip, start=start, duration=duration) as source:
        shrink = processing.Resize((source.info.height, source.info.width), work).shrink
        for frame in source:
            sample.offer(lambda image=frame.image: shrink(image))
    kept = sample.items
    picks = np.linspace(0, len(kept) - 1, min(count, len(kept))).round().astype(int)
    return np.stack([kept[i] for i in picks])
