"""How a built chain processes a clip's frames: the two branches of a run.

Every frame is shrunk to the working size on the decoder's thread, processed there, and
enlarged on the encoder's thread (`Resize`), so the graph thread does graph work only:

- Batched: the frame stages are one compiled graph (TensorFlow, or its TF Lite conversion)
  over fixed-size batches; the stabiliser, if on, follows on the encoder's thread at the
  working size, before the enlargement.
- Sequential: a stateful last stage (a feedback dream, film mode) sees one frame at a time
  with the guide the stabiliser computes from the previous frame; its output is blended at the
  effect's temporal weight, committed as the next frame's past and saved to the checkpoint.
  Frame stages before it run as one graph first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from dreamreel.engine.checkpoint import Checkpoint
from dreamreel.engine.graph import FrameGraph, LiteGraph
from dreamreel.engine.media import Frame
from dreamreel.engine.stages import Built
from dreamreel.engine.temporal import DEFAULT_WEIGHT, FlowMemo, Stabiliser
from dreamreel.pipelines.base import SequentialEffect

if TYPE_CHECKING:
    from dreamreel.engine.mask import Mask
    from dreamreel.engine.music.reaction import Reaction

FLOW_MAX_SIDE = 360  # px: the short side optical flow is computed at, at most


@dataclass(frozen=True)
class Resize:
    """Between the frame's size and the working size, with OpenCV, outside the graph.

    share: how much of the frame passes straight through the chain (the product of
      (1 - strength) over its frame stages, times 1 for a residual or no sequential stage): the
      enlarged output gets that share of the full-size frame's own detail back, the detail the
      working size cannot hold.
    preserve_color: the output takes the full-size frame's colour, keeping its own luminance.
    """

    frame: tuple[int, int]  # (height, width)
    work: tuple[int, int]
    share: float = 0.0
    preserve_color: bool = False

    def shrink(self, image: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 at the frame's size -> at the working size (area average)."""
        if self.frame == self.work:
            return image
        return cv2.resize(image, self.work[::-1], interpolation=cv2.INTER_AREA)

    def enlarge(self, image: np.ndarray, small: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The working-size output `out` at the frame's size: bicubic, plus `share` of the
        frame's detail (`image` minus its shrunk `small`, enlarged), colour kept on request."""
        if self.frame != self.work:
            size = self.frame[::-1]
            enlarged = cv2.resize(out, size, interpolation=cv2.INTER_CUBIC)
            if self.share > 0:
                blurred = cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)
                detail = image.astype(np.float32) - blurred
                enlarged = np.clip(enlarged + self.share * detail + 0.5, 0, 255).astype(np.uint8)
            out = enlarged
        return keep_chroma(out, image) if self.preserve_color else out


@dataclass
class Processor:
    """What the streaming runner needs (see engine.runner.run_stream)."""

    process: Callable[[np.ndarray, np.ndarray], np.ndarray]  # [batch, h, w, 3] uint8 at the
    # working size, and their times
    batch: int
    prepare: Callable[[np.ndarray], np.ndarray]  # image -> working size, decoder thread
    finish: Callable[[Frame, np.ndarray, np.ndarray], np.ndarray]  # encoder thread
    temporal: float | None = None  # the stabiliser weight in use (None: off)
    mask: Mask | None = None  # where the effect shows, when not everywhere


def flow_scale(work: tuple[int, int]) -> float:
    """Flow at most FLOW_MAX_SIDE px high and not coarser than a quarter: DIS medium on
    640x480 frames costs 104 ms against 55 ms at half size (RESULTS.md)."""
    return min(1.0, max(0.25, FLOW_MAX_SIDE / work[0]))


def compile_graph(built: Built, batch: int, work: tuple[int, int], jit: bool, device: str,
                  backend: str = "tf") -> FrameGraph | LiteGraph:
    """The frame stages at the working size, run by TensorFlow or converted to TF Lite;
    compiled once per chain and shape (a cluster worker makes a pipeline per chunk)."""
    key = (batch, work, jit, device, backend)
    if key not in built.compiled:
        graph = FrameGraph(built.graph, batch, *work, jit=jit, device=device)
        built.compiled[key] = LiteGraph(graph) if backend == "lite" else graph
    return built.compiled[key]


def share(built: Built, strength: float) -> float:
    """How much of the frame passes straight through the chain (see Resize)."""
    sequential = built.sequential
    if sequential is not None and not sequential.residual:
        return 0.0
    return built.camera_share(strength)


def batched(built: Built, frame: tuple[int, int], work: tuple[int, int], batch: int,
            strength: float, temporal: float | None, flow_preset: str, jit: bool, device: str,
            preserve_color: bool, backend: str = "tf", reaction: Reaction | None = None,
            memo: FlowMemo | None = None) -> Processor:
    """The frame stages as one graph over batches, then the stabiliser at the working size
    (`temporal`: its weight, None for the default, 0 for off; `memo`: where its flows are
    kept for two-way `run`), then the enlargement; with a `reaction`, each frame's settings
    and strength follow the music (a batch of one when settings move)."""
    graph = compile_graph(built, batch, work, jit, device, backend)
    controls = built.graph_controls(strength)
    resize = Resize(frame, work, share(built, strength), preserve_color)
    weight = DEFAULT_WEIGHT if temporal is None else temporal
    stabiliser = Stabiliser(weight, flow_preset, flow_scale=flow_scale(work),
                            memo=memo) if weight > 0 else None

    def process(frames: np.ndarray, times: np.ndarray) -> np.ndarray:
        if reaction is None or not reaction.changes_settings:
            return graph(frames, controls)
        return graph(frames, reaction.graph_controls(built, strength, float(times[0])))

    def finish(source: Frame, small: np.ndarray, out: np.ndarray) -> np.ndarray:
        if stabiliser is not None:  # what flickers is made at the working size: steady it there
            out = stabiliser(small, out)
        return reacted(reaction, source, resize.enlarge(source.image, small, out))

    return Processor(process, batch, resize.shrink, finish, weight if weight > 0 else None)


def reacted(reaction: Reaction | None, source: Frame, out: np.ndarray) -> np.ndarray:
    """The finished frame at the music's strength for its time (as it is without music)."""
    return out if reaction is None else reaction.apply(source.pts, source.image, out)


def masked(processor: Processor, mask: Mask, stage: Processor | None = None) -> Processor:
    """`processor`'s effect only where `mask` says; elsewhere the camera's picture, or with a
    `stage`, that chain's picture (both chains see each frame, one frame a call)."""

    def process(frames: np.ndarray, times: np.ndarray) -> np.ndarray:
        if stage is None:
            return processor.process(frames, times)
        return np.concatenate([processor.process(frames, times), stage.process(frames, times)],
                              axis=-1)

    def finish(source: Frame, small: np.ndarray, out: np.ndarray) -> np.ndarray:
        effect = processor.finish(source, small, out[..., :3])
        around = source.image if stage is None else stage.finish(source, small, out[..., 3:])
        return mask.apply(source.image, effect, around)

    batch = processor.batch if stage is None else 1
    return Processor(process, batch, processor.prepare, finish, processor.temporal, mask)


class Sequential:
    """One frame a call through the graph stages, then the sequential effect (see the module
    docstring); a Processor's `process` with batches of one, at the working size."""

    def __init__(self, effect: SequentialEffect, graph: FrameGraph | None,
                 controls: dict[str, np.ndarray], stabiliser: Stabiliser,
                 checkpoint: Checkpoint | None = None,
                 report: Callable[[str], None] | None = None, strength: float = 1.0,
                 first: int = 0, moving: Callable[[float], tuple[dict, dict]] | None = None
                 ) -> None:
        self.effect, self.graph, self.controls = effect, graph, controls
        self.moving = moving  # time -> the graph's and the effect's controls, when music moves them
        self.stabiliser, self.checkpoint, self.report = stabiliser, checkpoint, report
        self.strength = strength  # of the sequential stage: its output blended with its input
        self.index = first  # the frame's place in the clip: its randomness is keyed by it

    def __call__(self, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
        """[1, h, w, 3] uint8 -> [1, h, w, 3] uint8, frames in order."""
        controls, own = (self.controls, None) if self.moving is None else self.moving(
            float(times[0]))
        small = frames[0] if self.graph is None else self.graph(frames, controls)[0]
        guide = self.stabiliser.guide(small)
        out = None if self.checkpoint is None else self.checkpoint.load(self.index, small.shape)
        if out is None:
            began = time.perf_counter()
            out = with_strength(small, self.effect(small, guide, self.index, own), self.strength)
            out = self.stabiliser.blend(out, guide)
            if self.checkpoint is not None:
                self.checkpoint.save(self.index, out)
            note = getattr(self.effect, "note", None)
            if self.report is not None and note:
                self.report(f"{self.effect.name}: frame {self.index}: {note} in "
                            f"{time.perf_counter() - began:.1f} s")
        self.stabiliser.commit(small, out)
        self.index += 1
        return out[None]


def sequential(built: Built, frame: tuple[int, int], work: tuple[int, int], strength: float,
               temporal: float | None, flow_preset: str, jit: bool, device: str,
               preserve_color: bool, checkpoint: Checkpoint | None,
               report: Callable[[str], None] | None, first: int = 0,
               reaction: Reaction | None = None, memo: FlowMemo | None = None) -> Processor:
    """The sequential branch, one frame a call (`temporal`: the blend weight, None for the
    effect's own; `first`: the index of the first frame it sees; `reaction`, `memo`: as in
    batched)."""
    effect = built.sequential
    graph = None if built.graph is None else compile_graph(built, 1, work, jit, device)
    weight = effect.temporal if temporal is None else temporal
    weight = DEFAULT_WEIGHT if weight is None else weight
    stabiliser = Stabiliser(weight, flow_preset, flow_scale=flow_scale(work), memo=memo)
    last = built.stages[-1]
    moving = None
    if reaction is not None and reaction.changes_settings:
        def moving(t: float) -> tuple[dict, dict]:
            return (reaction.graph_controls(built, strength, t) if graph is not None else {},
                    reaction.effect_controls(built, t))
    run = Sequential(effect, graph, built.graph_controls(strength), stabiliser, checkpoint,
                     report, strength if last.strength is None else last.strength, first,
                     moving)
    resize = Resize(frame, work, share(built, strength), preserve_color)
    return Processor(run, 1, resize.shrink, lambda source, small, out: reacted(
        reaction, source, resize.enlarge(source.image, small, out)), weight if weight > 0 else None)


def with_strength(source: np.ndarray, out: np.ndarray, strength: float) -> np.ndarray:
    """`strength` of the way from `source` to `out` (uint8 HxWx3 each)."""
    if strength >= 1.0:
        return out
    return np.clip(source + strength * (out.astype(np.float32) - source) + 0.5, 0,
                   255).astype(np.uint8)


def keep_chroma(image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`image`'s luminance with `source`'s colour (uint8 HxWx3 RGB each), in float so that
    only the final rounding moves the colour."""
    luma = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., :1]
    chroma = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., 1:]
    rgb = cv2.cvtColor(np.concatenate([luma, chroma], axis=2), cv2.COLOR_YCrCb2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
