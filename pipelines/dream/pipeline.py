"""The `dream` pipeline: DeepDream on each frame, in feedback mode for video.

Feedback mode (the default for video): each frame starts from the previous frame's
hallucination carried along the optical flow (the previous dream minus its input, warped onto
the current frame and masked where the flow is unreliable), so the dream sticks to objects and
deepens while the scene is still instead of boiling; the engine then blends the result with the
warped previous output at `temporal`. A scene cut starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import Guide, compute_dtype
from dreamreel.pipelines.dream.dream import DreamEffect, DreamSettings, parse_layers
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.vgg16 import VGG16Features

STILL_STEPS = 10
VIDEO_STEPS = 4  # steps per octave for video frames: feedback carries the rest over
MAX_STEP_SIZE = 0.1  # a step beyond this only saturates the picture
# Feedback defaults, from `python benchmarks/dream_feedback.py` (benchmarks/RESULTS.md): on the
# silent film blend 0.8 with the stabiliser at 0.9 leaves 0.49x the per-frame dream's warping
# error and still dreams 1.76x as strongly as one frame alone.
DEFAULT_BLEND = 0.8
FEEDBACK_TEMPORAL = 0.9
# The layers a live dream can move between (with any given by --layer). Each has its own
# compiled step, stopping the network at the deepest layer weighted, traced before the show.
LIVE_LAYERS = ("block3_conv3", "block4_conv1", "block4_conv3", "block5_conv1")


def _strongest(spec: str) -> str:
    """A layer mix counts as its strongest layer when stepping to the next one."""
    layers = parse_layers(spec)
    return max(layers, key=layers.get)


def _layers(spec: str) -> str:
    parse_layers(spec)  # raises SettingsError for a bad weight
    return spec.strip()


@dataclass(frozen=True)
class DreamOptions:
    layer: str = setting("block4_conv3", "layer(s) to amplify: block4_conv3, block4_conv3:12 "
                         "(one channel), or block3_conv3=0.5,block4_conv3=1", live=True,
                         keys=("l", "k"), parse=_layers, nearest=_strongest)
    steps: int | None = setting(None, f"ascent steps per octave (default {STILL_STEPS} for a "
                                f"still, {VIDEO_STEPS} per video frame, 2 live)", low=1)
    step_size: float = setting(0.008, "per step, in 0..1 image units", low=0.001,
                               high=MAX_STEP_SIZE, live=True, keys=(".", ","), nudge=0.002,
                               span=(0.001, 0.05))
    octaves: int = setting(4, "scales dreamed at, smallest first (1 live)", low=1)
    octave_scale: float = setting(1.4, "size ratio of neighbouring octaves", low=1.0, high=4.0)
    jitter: int = setting(32, "random shift per step, pixels", low=0)
    tile: int = setting(512, "largest gradient tile (0 = never tile)", low=0)
    objective: str = setting("mean", "what to amplify: the mean activation, or l2", choices=(
        "mean", "l2"))
    guide: Path | None = setting(None, "dream toward this picture's features")
    tv_weight: float | None = setting(None, "total-variation smoothing (default 0 for dream, "
                                      "1 for gatys)", low=0.0)
    seed: int = setting(0, "random seed (same seed, same dream)", low=0)
    blend: float = setting(DEFAULT_BLEND, "video: how much of the previous hallucination "
                           "carries over", low=0.0, high=1.0)
    feedback: bool = setting(True, "video: dream every frame from scratch (then --temporal "
                             "smooths)", flag="--no-feedback")


def layer_weights(spec: str, layers: list[str]) -> np.ndarray:
    """'block5_conv1' or 'block3_conv3=0.5,block4_conv3=1' -> one weight per compiled layer."""
    wanted = parse_layers(spec)
    unknown = [key for key in wanted if key not in layers]
    if unknown:
        raise SettingsError(f"layer {', '.join(unknown)} was not compiled for this show; "
                            f"live layers: {', '.join(layers)} (add one with --layer)")
    return np.array([wanted.get(key, 0.0) for key in layers], np.float32)


class DreamSequence:
    """The dream as a sequential effect: feedback from the warped previous dream (video), or
    each frame from scratch (a still, or --no-feedback)."""

    name = "dream"
    residual = True  # the hallucination is added to the frame

    def __init__(self, effect: DreamEffect, options: DreamOptions, video: bool) -> None:
        self.effect, self.options = effect, options
        self.feedback = video and options.feedback
        self.temporal = FEEDBACK_TEMPORAL if self.feedback else None
        targets = effect.dreamer.targets
        self.layers = [name if channel is None else f"{name}:{channel}"
                       for name, channel, _ in targets]

    def layer_weights(self, spec: str) -> np.ndarray:
        return layer_weights(spec, self.layers)

    def live_steps(self) -> dict[str, list[str]]:
        """The layers keys and faders step through: those compiled for this show."""
        return {"layer": list(self.layers)}

    def controls(self, settings: DreamOptions | None = None) -> dict[str, np.ndarray]:
        options = settings or self.options
        return {"layer_weights": self.layer_weights(options.layer),
                "step_size": np.float32(options.step_size)}

    def __call__(self, frame: np.ndarray, guide: Guide | None, index: int,
                 controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        init = None
        if self.feedback and guide is not None and not guide.is_cut:
            hallucination = (guide.warped_prev - guide.warped_source) * guide.mask[..., None]
            init = np.clip(frame + self.options.blend * hallucination, 0, 255)[None] / 255.0
        values = controls or self.controls()
        return self.effect.process(frame[None], init, index, values["layer_weights"],
                                   float(values["step_size"]))[0]

    def reset(self) -> None:
        """Nothing to forget: what is carried over comes with each frame's guide."""

    def probe(self, frame: np.ndarray):
        """One ascent step on `frame` at its own size: what the tuner times."""
        image = tf.constant(frame[None].astype(np.float32) / 255.0)
        shift = np.zeros(2, np.int32)
        return lambda: self.effect.dreamer.step(image, shift).numpy() * 255.0

    def warm_up(self, frame: np.ndarray) -> None:
        """Trace the ascent step for every layer (each stops the network at its own)."""
        for one_layer in np.eye(len(self.layers), dtype=np.float32):
            self.effect.process(frame[None], None, 0, one_layer)


def build(options: DreamOptions, context: Context) -> DreamSequence:
    steps = options.steps or (VIDEO_STEPS if context.video else STILL_STEPS)
    extra = [*(LIVE_LAYERS if context.live else ()),
             *(name for spec in context.moves.get("layer", ()) for name in parse_layers(spec))]
    layers = {**dict.fromkeys(extra, 0.0), **parse_layers(options.layer)}
    guide = None
    if options.guide is not None:
        guide = context.read_image(options.guide).astype(np.float32) / 255.0
    settings = DreamSettings(layers=layers, objective=options.objective, steps=steps,
                             step_size=options.step_size, octaves=options.octaves,
                             octave_scale=options.octave_scale, jitter=options.jitter,
                             tile_size=options.tile, guide=guide,
                             tv_weight=options.tv_weight or 0.0, jit=context.jit)
    features = VGG16Features(context.load("vgg16"), dtype=compute_dtype(context.precision))
    return DreamSequence(DreamEffect(features, settings, seed=options.seed), options,
                         context.video)


PIPELINE = Pipeline(
    name="dream",
    summary="DeepDream on VGG16 (Mordvintsev et al. 2015), in feedback mode on video",
    kind="sequential",
    settings=DreamOptions,
    build=build,
    networks=("vgg16",),
    place="last",
    live_defaults={"layer": "block3_conv3", "steps": 2, "octaves": 1},
)
