"""The pipelines of a live show, compiled before it starts, and how each renders a frame.

A graph pipeline (style, vintage and their chains) is one FrameGraph per working size, with
styles and strengths as graph inputs. The dream is not one graph but a few compiled ascent
steps per frame in feedback mode (`engine.dreaming`): the hallucination is carried along the
flow, so it deepens while the scene is still. Its layer mix and step size are inputs of the
compiled step, so a performer moves between layers without a new trace. A chain may end in
the dream (`style,dream`): its graph stages run first.

`faces` is a generator, not a filter: DCGAN faces walking on the beat, with the seed and the
tempo (bpm) as live inputs, mixed over the camera by the strength. It may start a chain
(`faces,style`, `faces,dream`): the later stages paint the faces.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np
import tensorflow as tf

from dreamreel import weights
from dreamreel.engine.dreaming import FeedbackDream, dream_at_size, dream_effect
from dreamreel.engine.effects import PIPELINES, EffectOptions, build_effect, parse_chain
from dreamreel.engine.graph import FrameGraph, working_size
from dreamreel.engine.temporal import Stabilizer
from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import Effect
from dreamreel.pipelines.dream import parse_layers
from dreamreel.pipelines.gan.dcgan import LATENT_DIM, DCGANGenerator
from dreamreel.pipelines.gan.faces import FaceRenderer
from dreamreel.pipelines.gan.latent import LiveWalk

# The layers a live dream can move between (with any given by --layer). Each has its own
# compiled step that stops the network at the deepest layer weighted (block3_conv3 alone:
# two thirds of the time of block4_conv3), all traced before the show.
LIVE_LAYERS = ("block3_conv3", "block4_conv1", "block4_conv3", "block5_conv1")
FACES = "faces"  # the generator that may start a live chain
PAUSE = 1.0  # seconds without a frame after which the faces' walk resumes where it stopped


@dataclass(frozen=True)
class Spec:
    """A live pipeline spec cut into its parts: [faces[@S],] [graph stages,] [dream]."""

    faces: bool
    faces_strength: float | None
    graph: str | None  # e.g. "vintage@0.6,style"
    dream: bool


def parse_spec(spec: str) -> Spec:
    """Check a setlist entry and cut it up; SettingsError says which rule it breaks."""
    stages = parse_chain(spec, (*PIPELINES, FACES))
    names = [name for name, _ in stages]
    if FACES in names[1:]:
        raise SettingsError(f"'{spec}': faces makes the picture, so it can only start a chain")
    if "dream" in names[:-1]:
        raise SettingsError(f"'{spec}': dream must be the last stage of a chain")
    if "gatys" in names:
        raise SettingsError(f"'{spec}': gatys is not a live pipeline (seconds a frame); "
                            "use `dreamreel run`")
    faces, dream = names[0] == FACES, names[-1] == "dream"
    parts = [part.strip() for part in spec.split(",")]
    graph = ",".join(parts[int(faces) : len(parts) - int(dream)]) or None
    return Spec(faces, stages[0][1] if faces else None, graph, dream)


@dataclass(frozen=True)
class Inputs:
    """What the controllers ask of one frame, fades applied."""

    mix: np.ndarray  # built-in style weights [26]
    vector: np.ndarray | None  # a painting's style vector, for pipelines that take one
    strength: float
    temporal: float  # stabiliser weight, 0 = off
    layer_weights: np.ndarray | None = None  # dream: one weight per DreamProgram.layers
    step_size: float | None = None  # dream
    seed: int = 0  # faces: which faces
    tempo: float = 120.0  # faces: beats per minute, a new face on each beat
    now: float = 0.0  # the show's clock, seconds


@dataclass
class Program:
    """A graph pipeline of the setlist, compiled at every working size of the ladder.

    The graphs take and give frames of the working size: the camera frame is shrunk and the
    result enlarged with OpenCV, a fifth of the time that resizing inside the graph took at
    640x480. What the strength lets through of the camera keeps the camera's full detail.
    fixed: strengths fixed by the spec (`vintage@0.6,style`), by control name; every other
    strength control follows the live strength.
    """

    name: str
    effect: Effect
    graphs: list[FrameGraph]
    fixed: dict[str, float]
    frame_shape: tuple[int, int]  # the camera's (height, width)
    stabilises = False  # the show stabilises this program's output

    def controls(self, mix: np.ndarray, vector: np.ndarray | None, strength: float) -> dict:
        values = {}
        for key in self.effect.controls():
            leaf = key.rsplit(".", 1)[-1]
            if leaf == "style_weights":
                values[key] = mix
            elif leaf == "style_vector" and vector is not None:
                values[key] = vector
            elif leaf == "strength":
                values[key] = np.float32(self.fixed.get(key, strength))
        return values

    def camera_share(self, controls: dict) -> float:
        """How much of the camera passes straight through: the product of (1 - strength)
        over the stages (0 past a stage that uses its strength otherwise, as style-image does)."""
        stages = getattr(self.effect, "effects", [self.effect])
        share = 1.0
        for stage in stages:
            if stage.handles_strength:
                return 0.0
            share *= 1.0 - float(controls[f"{stage.name}.strength" if len(stages) > 1 else "strength"])
        return share

    def render(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """HxWx3 uint8 -> HxWx3 uint8 through the graph of ladder rung `rung`."""
        controls = self.controls(inputs.mix, inputs.vector, inputs.strength)
        graph = self.graphs[rung]
        height, width = image.shape[:2]
        if (graph.height, graph.width) == (height, width):
            return graph(image[np.newaxis], controls)[0]
        small = cv2.resize(image, (graph.width, graph.height), interpolation=cv2.INTER_AREA)
        out = cv2.resize(graph(small[np.newaxis], controls)[0], (width, height),
                         interpolation=cv2.INTER_CUBIC)
        share = self.camera_share(controls)
        if share <= 0.0:
            return out
        blurred = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        detail = image.astype(np.float32) - blurred  # what the working size cannot hold
        return np.clip(out + share * detail + 0.5, 0, 255).astype(np.uint8)

    def arbitrary_style(self) -> Effect | None:
        """The stage that takes a painting (has a style predictor), if any."""
        stages = getattr(self.effect, "effects", [self.effect])
        return next((e for e in stages if hasattr(e, "predictor")), None)


class FacesProgram:
    """DCGAN faces walking on the live tempo, covering the frame, mixed over the camera.

    One renderer per rung draws the face square at the working size's long side; its middle
    is cut to the frame's shape and enlarged to it. `strength` (fixed by `faces@S`, else the
    live strength) mixes the faces over the camera; `after` paints them (`faces,style`).
    """

    stabilises = False

    def __init__(self, name: str, renderers: list[FaceRenderer], frame_shape: tuple[int, int],
                 sizes: list[tuple[int, int]], seed: int, strength: float | None = None,
                 after: Program | None = None) -> None:
        self.name, self.renderers, self.frame_shape = name, renderers, frame_shape
        self.sizes, self.strength, self.after = sizes, strength, after
        self.walk = LiveWalk(seed)
        self._last: float | None = None

    def render(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """HxWx3 uint8 camera -> HxWx3 uint8: the face of this moment over it."""
        now = inputs.now
        seconds = 0.0 if self._last is None or now - self._last > PAUSE else now - self._last
        self._last = now
        z = self.walk.advance(seconds, inputs.tempo, inputs.seed)
        face = next(self.renderers[rung](z[np.newaxis]))  # S x S x 3, S = the long side
        work_h, work_w = self.sizes[rung]
        top, left = (face.shape[0] - work_h) // 2, (face.shape[1] - work_w) // 2
        face = face[top : top + work_h, left : left + work_w]
        height, width = self.frame_shape
        if (work_h, work_w) != (height, width):
            face = cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR)
        strength = inputs.strength if self.strength is None else self.strength
        out = face if strength >= 1.0 else cv2.addWeighted(image, 1.0 - strength, face, strength, 0.0)
        return out if self.after is None else self.after.render(out, rung, inputs)

    def arbitrary_style(self) -> Effect | None:
        return None if self.after is None else self.after.arbitrary_style()


class DreamProgram:
    """Feedback DeepDream at each rung's working size, after optional graph stages.

    It stabilises its own output (the feedback needs the same flow), with the live temporal
    weight, so the show does not stabilise it again.
    """

    stabilises = True

    def __init__(self, name: str, feedback: FeedbackDream, sizes: list[tuple[int, int]],
                 frame_shape: tuple[int, int], before: Program | FacesProgram | None = None) -> None:
        self.name, self.feedback, self.sizes = name, feedback, sizes
        self.frame_shape, self.before = frame_shape, before
        targets = feedback.effect.dreamer.targets
        self.layers = [name if channel is None else f"{name}:{channel}" for name, channel, _ in targets]

    def layer_weights(self, spec: str) -> np.ndarray:
        """'block5_conv1' or 'block3_conv3=0.5,block4_conv3=1' -> weights in `layers` order."""
        wanted = parse_layers(spec)
        unknown = [key for key in wanted if key not in self.layers]
        if unknown:
            raise SettingsError(f"layer {', '.join(unknown)} was not compiled for this show; "
                                f"live layers: {', '.join(self.layers)} (add one with --layer)")
        return np.array([wanted.get(key, 0.0) for key in self.layers], np.float32)

    def render(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        """HxWx3 uint8 -> HxWx3 uint8: dreamed at the rung's size, carried from the last frame,
        the hallucination added to the full-size frame."""
        if self.before is not None:
            image = self.before.render(image, rung, inputs)
        return self._dream(image, rung, inputs)

    def _dream(self, image: np.ndarray, rung: int, inputs: Inputs) -> np.ndarray:
        effect = self.feedback.effect
        effect.weights, effect.step_size = inputs.layer_weights, inputs.step_size
        self.feedback.stabiliser.weight = inputs.temporal
        if image.shape[:2] == self.sizes[rung]:
            return self.feedback(image[np.newaxis])[0]
        return dream_at_size(self.feedback, image[np.newaxis], self.sizes[rung])[0]

    def arbitrary_style(self) -> Effect | None:
        return None if self.before is None else self.before.arbitrary_style()

    def warm_up(self, blank: np.ndarray) -> None:
        """Trace the ascent step at every rung and for every live layer (each stops the
        network at its layer; the graph stages are traced already), then forget the black
        frames."""
        for rung in range(len(self.sizes)):
            for one_layer in np.eye(len(self.layers), dtype=np.float32):
                self._dream(blank, rung, Inputs(np.zeros(0, np.float32), None, 1.0, 0.0, one_layer))
        self.feedback.reset()


def compile_programs(specs: list[str], options: EffectOptions, height: int, width: int,
                     sizes: list[int], device: str, jit: bool, preserve_color: bool = False,
                     dream_args: argparse.Namespace | None = None
                     ) -> dict[str, Program | FacesProgram | DreamProgram]:
    """Build and trace every pipeline at every working size for frames of height x width.

    Each graph is run once on a black frame, so tracing (seconds each on a CPU) is over
    before the show starts. `dream_args` (the command line's dream options, whose --seed
    also picks the first faces) is needed when a spec starts with faces or ends in dream.
    """
    programs: dict[str, Program | FacesProgram | DreamProgram] = {}
    blank = np.zeros((height, width, 3), np.uint8)
    work_sizes = [working_size(height, width, side) for side in sizes]
    # Each FrameGraph traces its own tf.function of the same method, which TensorFlow would
    # report as "retracing" from the fifth graph on; here that is by design.
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    for spec in specs:
        parts = parse_spec(spec)
        if (parts.faces or parts.dream) and dream_args is None:
            raise SettingsError(f"'{spec}': no dream/faces options given")
        program = None
        if parts.graph is not None:
            program = _graph_program(parts.graph, options, height, width, work_sizes, device, jit,
                                     preserve_color)
        if parts.faces:
            program = _faces_program(spec, dream_args, options, (height, width), work_sizes,
                                     device, parts.faces_strength, program)
        if parts.dream:
            effect = dream_effect(dream_args, video=True, jit=jit, extra_layers=LIVE_LAYERS)
            feedback = FeedbackDream(effect, dream_args.blend, Stabilizer(preset="ultrafast"))
            program = DreamProgram(spec, feedback, work_sizes, (height, width), program)
            program.warm_up(blank)
        programs[spec] = program
    tf_logger.setLevel(level)
    return programs


def _faces_program(spec: str, args: argparse.Namespace, options: EffectOptions,
                   frame_shape: tuple[int, int], work_sizes: list[tuple[int, int]], device: str,
                   strength: float | None, after: Program | None) -> FacesProgram:
    """The faces renderer at every rung, each traced once (the generator XLA-compiled where
    `--jit` is not off: 2.4x faster even on a CPU, benchmarks/dcgan_rate.py)."""
    generator = DCGANGenerator(weights.load("dcgan_faces", offline=options.offline or None))
    renderers = []
    for work_h, work_w in work_sizes:
        renderer = FaceRenderer(generator, 1, max(work_h, work_w), resample="bicubic",
                                device=device, jit=args.jit != "off")
        next(renderer(np.zeros((1, LATENT_DIM), np.float32)))
        renderers.append(renderer)
    return FacesProgram(spec, renderers, frame_shape, work_sizes, args.seed, strength, after)


def _graph_program(spec: str, options: EffectOptions, height: int, width: int,
                   work_sizes: list[tuple[int, int]], device: str, jit: bool,
                   preserve_color: bool) -> Program:
    effect = build_effect(replace(options, pipeline=spec))
    stages = getattr(effect, "effects", [effect])
    chained = len(stages) > 1
    fixed = {(f"{e.name}.strength" if chained else "strength"): s
             for (_, s), e in zip(parse_chain(spec), stages, strict=True) if s is not None}
    graphs = []
    for work_h, work_w in work_sizes:
        graph = FrameGraph(effect, 1, work_h, work_w, work_h, work_w, jit=jit, device=device,
                           preserve_color=preserve_color)
        graph(np.zeros((1, work_h, work_w, 3), np.uint8))
        graphs.append(graph)
    return Program(spec, effect, graphs, fixed, (height, width))
