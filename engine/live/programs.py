"""The pipelines of a live show, compiled before it starts, and how each renders a frame.

A program is one setlist entry: a chain of registered pipelines, built once and traced at
every working size of the ladder before the show, so nothing compiles during it. Its parts
run in chain order on each camera frame:

- a source (faces) makes the picture, walking on the live tempo and seed, mixed over the
  camera by its strength;
- the frame stages run as one FrameGraph at the working size (the camera frame shrunk and the
  result enlarged with OpenCV, a fifth of the time resizing took inside the graph at 640x480),
  with what the strength lets through of the camera kept at the camera's full detail;
- a sequential stage (the feedback dream) runs at the working size with its own stabiliser,
  its change enlarged onto the full-size frame.

Every stage's live settings reach it as controls (graph inputs, or the dream step's inputs),
which the show computes from the live values and crossfades.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from dreamreel.engine import learning, stages, tuning
from dreamreel.engine.compute import working_size
from dreamreel.engine.processing import Resize, compile_graph, with_strength
from dreamreel.engine.stages import Built, StageSpec
from dreamreel.engine.temporal import Stabiliser
from dreamreel.errors import UsageError
from dreamreel.pipelines import settings
from dreamreel.pipelines.base import Chain

PAUSE = 1.0  # seconds without a frame after which the faces' walk resumes where it stopped
LIVE_FLOW = "ultrafast"  # DIS preset of a sequential stage's stabiliser


@dataclass(frozen=True)
class Inputs:
    """What the controllers ask of one frame, fades applied."""

    controls: dict[str, dict[str, np.ndarray]]  # by stage name: the effect's controls
    strength: float
    temporal: float  # stabiliser weight, 0 = off
    now: float = 0.0  # the show's clock, seconds


class Program:
    """One setlist entry, built and traced at every working size of the ladder."""

    def __init__(self, name: str, chain: tuple[StageSpec, ...], built: Built,
                 frame_shape: tuple[int, int], sizes: list[tuple[int, int]], device: str,
                 choice: tuning.Choice, preserve_color: bool = False,
                 source_jit: bool = True) -> None:
        self.name, self.chain, self.built = name, chain, built
        self.frame_shape, self.sizes, self.preserve_color = frame_shape, sizes, preserve_color
        self.graphs = [] if built.graph is None else [
            compile_graph(built, 1, size, choice.jit, device, choice.backend) for size in sizes]
        self.renderers = [] if built.source is None else [
            built.source.renderer(1, max(h, w), "bicubic", device, source_jit) for h, w in sizes]
        self.walk = None if built.source is None else built.source.walk()
        self.stabiliser = Stabiliser(preset=LIVE_FLOW)
        self._last: float | None = None  # the show time of the faces' last step
        self._index = 0  # frames through the sequential stage

    @property
    def stabilises(self) -> bool:
        """A sequential stage stabilises its own output; the show must not again."""
        return self.built.sequential is not None

    def effects(self) -> dict[str, Any]:
        """Each stage's built object (effect, source) by stage name."""
        frame = self.built.graph.effects if isinstance(self.built.graph, Chain) else (
            [self.built.graph] if self.built.graph is not None else [])
        parts = [self.built.source, *frame, self.built.sequential]
        return {s.name: e for s, e in zip(self.chain, [p for p in parts if p is not None],
                                          strict=True)}

    def controls(self, values: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        """Each stage's controls for the live values (each stage takes the ones it declares)."""
        out = {}
        for stage, effect in self.effects().items():
            options = next(s.options for s in self.chain if s.name == stage)
            own = {e.name for e in settings.entries(options)}
            live = {k: v for k, v in values.items() if k in own}
            out[stage] = effect.controls(settings.replace(options, **live) if live else options)
        return out

    def render(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """HxWx3 uint8 camera frame -> HxWx3 uint8 through every part at ladder rung `rung`."""
        if self.built.source is not None:
            image = self._faces(image, rung, inputs)
        if self.built.graph is not None:
            image = self._graph(image, rung, inputs)
        if self.built.sequential is not None:
            image = self._sequential(image, rung, inputs)
        return image

    def _strength(self, stage: StageSpec, inputs: Inputs) -> float:
        return inputs.strength if stage.strength is None else stage.strength

    def _faces(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """The face of this moment covering the frame, mixed over the camera by strength."""
        stage = self.chain[0]
        controls = inputs.controls[stage.name]
        now = inputs.now
        seconds = 0.0 if self._last is None or now - self._last > PAUSE else now - self._last
        self._last = now
        z = self.walk.advance(seconds, float(controls["tempo"]), int(controls["seed"]))
        face = next(self.renderers[rung](z[np.newaxis]))  # S x S x 3, S = the long side
        work_h, work_w = self.sizes[rung]
        top, left = (face.shape[0] - work_h) // 2, (face.shape[1] - work_w) // 2
        face = face[top : top + work_h, left : left + work_w]
        height, width = self.frame_shape
        if (work_h, work_w) != (height, width):
            face = cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR)
        strength = self._strength(stage, inputs)
        return face if strength >= 1.0 else cv2.addWeighted(image, 1.0 - strength, face,
                                                             strength, 0.0)

    def graph_controls(self, inputs: Inputs) -> dict[str, np.ndarray]:
        frame = self.built.frame_stages
        values = {}
        for stage in frame:
            own = dict(inputs.controls[stage.name])
            if "strength" in own:
                own["strength"] = np.float32(self._strength(stage, inputs))
            values.update({f"{stage.name}.{k}" if len(frame) > 1 else k: v for k, v in own.items()})
        return values

    def _graph(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """The frame stages at the rung's size; what the strength lets through of the camera
        keeps the camera's full detail."""
        share = self.built.camera_share(inputs.strength)
        resize = Resize(self.frame_shape, self.sizes[rung], share, self.preserve_color)
        small = resize.shrink(image)
        out = self.graphs[rung](small[np.newaxis], self.graph_controls(inputs))[0]
        return resize.enlarge(image, small, out)

    def _sequential(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """At the rung's size, carried from the last frame; a residual effect's change is
        added to the full-size frame, any other's picture replaces what its strength takes."""
        effect = self.built.sequential
        strength = self._strength(self.chain[-1], inputs)
        resize = Resize(self.frame_shape, self.sizes[rung],
                        1.0 if effect.residual else 1.0 - strength)
        small = resize.shrink(image)
        guide = self.stabiliser.guide(small)
        out = effect(small, guide, self._index, inputs.controls[self.chain[-1].name])
        out = with_strength(small, out, strength)
        self.stabiliser.weight = inputs.temporal
        out = self.stabiliser.blend(out, guide)
        self.stabiliser.commit(small, out)
        self._index += 1
        return resize.enlarge(image, small, out)

    def warm_up(self) -> None:
        """Trace every part at every rung on a black frame (a sequential stage for each of its
        live layers), then forget those frames."""
        blank = np.zeros((*self.frame_shape, 3), np.uint8)
        inputs = Inputs(self.controls({}), 1.0, 0.0)
        for rung, (h, w) in enumerate(self.sizes):
            self.render(blank, rung, inputs)
            warm = getattr(self.built.sequential, "warm_up", None)
            if warm is not None:
                warm(np.zeros((h, w, 3), np.uint8))
        self.stabiliser.reset()
        self._last, self._index = None, 0
        if self.built.source is not None:
            self.walk = self.built.source.walk()


def parse_spec(spec: str, values: dict[str, Any] | None = None) -> tuple[StageSpec, ...]:
    """A setlist entry's stages, checked against the chain rules for a live show."""
    return stages.stages(spec, values or {}, live=True)


def compile_programs(specs: list[str], values: dict[str, Any], height: int, width: int,
                     sizes: list[int], device: str, jit: str = "auto", precision: str = "auto",
                     backend: str = "auto", preserve_color: bool = False, offline: bool = False,
                     say: Callable[[str], None] | None = None, learn_from: Path | None = None
                     ) -> dict[str, Program]:
    """Build and trace every setlist entry at every working size for frames of height x width.

    `values`: the settings given on the command line, by name (each stage takes its own;
    live defaults fill the rest). What `auto` leaves open is measured for each entry at the
    largest working size, once per machine (`dreamreel tune`). Tracing takes seconds per
    graph on a CPU, all before the show starts. An effect that learns from a clip learns
    from `learn_from` first.
    """
    work_sizes = [working_size(height, width, side) for side in sizes]
    # Each FrameGraph traces its own tf.function of the same method, which TensorFlow would
    # report as "retracing" from the fifth graph on; here that is by design.
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    programs = {}
    try:
        for spec in specs:
            chain = parse_spec(spec, values)
            request = tuning.Request(
                chain, *work_sizes[0], device, batches=False,
                backend=None if backend == "auto" else backend,
                precision=None if precision == "auto" else precision,
                jit=None if jit == "auto" else jit == "on", batch=1)
            choice, _ = tuning.tune(request, {"live": True, "offline": offline}, say=say)
            ctx = stages.context(choice.precision, choice.jit, video=True, live=True,
                                 offline=offline)
            # the faces' generator: XLA unless --jit off, 2.4x faster even on a CPU
            built = stages.build(chain, ctx)
            if learning.learners(built):
                if learn_from is None:
                    raise UsageError(f"{spec}: learns from a clip before the show; give one "
                                     "with --learn-from CLIP")
                learning.teach(built, learn_from, work_sizes[0], say=say)
            program = Program(spec, chain, built, (height, width), work_sizes,
                              device, choice, preserve_color, source_jit=jit != "off")
            program.warm_up()
            programs[spec] = program
    finally:
        tf_logger.setLevel(level)
    return programs


def live_values(chains: list[tuple[StageSpec, ...]]) -> dict[str, Any]:
    """The live settings' starting values, as the chains' stages were set up."""
    values: dict[str, Any] = {}
    for chain in chains:
        for stage in chain:
            for entry in settings.entries(stage.options):
                if entry.knob.live:
                    values.setdefault(entry.name, getattr(stage.options, entry.name))
    return values


def live_rules(programs: dict[str, Program]
               ) -> tuple[dict[str, Callable[[Any], Any]], dict[str, list[str]]]:
    """What only the compiled show can say of a live setting: the values it may step through
    (the dream's compiled layers) and a check that a value works (a layer mix of those)."""
    checks: dict[str, Callable[[Any], Any]] = {}
    choices: dict[str, list[str]] = {}
    for program in programs.values():
        for stage, effect in program.effects().items():
            options = next(s.options for s in program.chain if s.name == stage)
            for name, steps in getattr(effect, "live_steps", dict)().items():
                choices[name] = steps
                checks[name] = lambda value, e=effect, o=options, n=name: e.controls(
                    settings.replace(o, **{n: value}))
    return checks, choices
