"""How a built chain processes a clip's frames: the two branches of a run.

- Batched: the frame stages are one compiled FrameGraph over fixed-size batches; the
  stabiliser, if on, follows on the writer thread (at the working size).
- Sequential: a stateful last stage (a feedback dream, film mode) sees one frame at a time at
  the working size, with the guide the stabiliser computes from the previous frame; its
  output is blended at the effect's temporal weight, committed as the next frame's past,
  saved to the checkpoint, and enlarged to the frame's size. Frame stages before it run as
  one graph first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np

from dreamreel.engine.checkpoint import Checkpoint
from dreamreel.engine.graph import FrameGraph
from dreamreel.engine.stages import Built
from dreamreel.engine.temporal import DEFAULT_WEIGHT, Stabiliser, stabilise_at_size
from dreamreel.pipelines.base import SequentialEffect

FLOW_MAX_SIDE = 360  # px: the short side optical flow is computed at, at most


@dataclass
class Processor:
    """What the streaming runner needs: a batch function, its batch size, and the stabiliser
    that follows it on the writer thread (None when off or built in)."""

    process: Callable[[np.ndarray], np.ndarray]  # [batch, H, W, 3] uint8 -> the same
    batch: int
    stabilise: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    temporal: float | None = None  # the stabiliser weight in use (None: off)
    notes: list[str] = field(default_factory=list)


def flow_scale(work: tuple[int, int]) -> float:
    """Flow at most FLOW_MAX_SIDE px high and not coarser than a quarter: DIS medium on
    640x480 frames costs 104 ms against 55 ms at half size (RESULTS.md)."""
    return min(1.0, max(0.25, FLOW_MAX_SIDE / work[0]))


def batched(built: Built, frame: tuple[int, int], work: tuple[int, int], batch: int,
            strength: float, temporal: float | None, flow_preset: str, jit: bool, device: str,
            preserve_color: bool) -> Processor:
    """The frame stages as one graph over batches, then the stabiliser at the working size
    (`temporal`: its weight, None for the default, 0 for off)."""
    graph = FrameGraph(built.graph, batch, *frame, *work, jit=jit, device=device,
                       preserve_color=preserve_color)
    controls = built.graph_controls(strength)
    weight = DEFAULT_WEIGHT if temporal is None else temporal
    stabilise = None
    if weight > 0:
        # What flickers is the network's output, made at the working size and enlarged, so
        # the correction is made there and enlarged too (a quarter of the work for a 720p
        # clip at --size 360).
        stabiliser = Stabiliser(weight, flow_preset, flow_scale=flow_scale(work))
        stabilise = partial(stabilise_at_size, stabiliser, size=work)
    return Processor(lambda frames: graph(frames, controls), batch, stabilise,
                     weight if weight > 0 else None)


class Sequential:
    """One frame a call through the graph stages, then the sequential effect (see the module
    docstring); callable as a Processor's `process` with batches of one."""

    def __init__(self, effect: SequentialEffect, graph: FrameGraph | None,
                 controls: dict[str, np.ndarray], work: tuple[int, int],
                 stabiliser: Stabiliser, preserve_color: bool = False,
                 checkpoint: Checkpoint | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.effect, self.graph, self.controls, self.work = effect, graph, controls, work
        self.stabiliser, self.preserve_color = stabiliser, preserve_color
        self.checkpoint, self.report = checkpoint, report
        self.index = 0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """[1, H, W, 3] uint8 -> [1, H, W, 3] uint8, frames in order."""
        frame = frames[0] if self.graph is None else self.graph(frames, self.controls)[0]
        height, width = frame.shape[:2]
        small = frame if (height, width) == self.work else cv2.resize(
            frame, self.work[::-1], interpolation=cv2.INTER_AREA)
        guide = self.stabiliser.guide(small)
        out = None if self.checkpoint is None else self.checkpoint.load(self.index, small.shape)
        if out is None:
            began = time.perf_counter()
            out = self.stabiliser.blend(self.effect(small, guide, self.index), guide)
            if self.preserve_color:
                out = keep_chroma(out, small)
            if self.checkpoint is not None:
                self.checkpoint.save(self.index, out)
            note = getattr(self.effect, "note", None)
            if self.report is not None and note:
                self.report(f"{self.effect.name}: frame {self.index}: {note} in "
                            f"{time.perf_counter() - began:.1f} s")
        self.stabiliser.commit(small, out)
        self.index += 1
        if small is frame:
            return out[None]
        if self.effect.residual:  # its change, enlarged, on the full-size frame's own detail
            added = cv2.resize(out.astype(np.float32) - small, (width, height),
                               interpolation=cv2.INTER_CUBIC)
            return np.clip(frame + added + 0.5, 0, 255).astype(np.uint8)[None]
        return cv2.resize(out, (width, height), interpolation=cv2.INTER_CUBIC)[None]


def sequential(built: Built, frame: tuple[int, int], work: tuple[int, int], strength: float,
               temporal: float | None, flow_preset: str, jit: bool, device: str,
               preserve_color: bool, checkpoint: Checkpoint | None,
               report: Callable[[str], None] | None) -> Processor:
    """The sequential branch, one frame a call (`temporal`: the blend weight, None for the
    effect's own)."""
    effect = built.sequential
    graph = None
    if built.graph is not None:
        graph = FrameGraph(built.graph, 1, *frame, *work, jit=jit, device=device,
                           preserve_color=preserve_color)
    weight = effect.temporal if temporal is None else temporal
    weight = DEFAULT_WEIGHT if weight is None else weight
    stabiliser = Stabiliser(weight, flow_preset, flow_scale=flow_scale(work))
    run = Sequential(effect, graph, built.graph_controls(strength), work, stabiliser,
                     preserve_color and graph is None, checkpoint, report)
    return Processor(run, 1, None, weight if weight > 0 else None)


def keep_chroma(image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`image`'s luminance with `source`'s colour (uint8 HxWx3 RGB each)."""
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., :1]
    chroma = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(np.concatenate([luma, chroma], axis=2), cv2.COLOR_YCrCb2RGB)
