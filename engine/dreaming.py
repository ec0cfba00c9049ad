"""DeepDream in the engine: settings from the command line, and feedback mode for video.

Feedback mode (default for video): each frame starts from the previous frame's hallucination
carried along the optical flow: the difference between the previous dream and its input,
warped onto the current frame and masked where the flow is unreliable, so the dream sticks to
objects and deepens while the scene is still instead of boiling; the result is then blended
with the warped previous output like any stabilised effect. A scene cut starts afresh.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from dreamreel import weights
from dreamreel.engine.flow import warp
from dreamreel.engine.temporal import Stabilizer
from dreamreel.errors import SettingsError
from dreamreel.pipelines.dream import DreamEffect, DreamSettings, parse_layers
from dreamreel.pipelines.vgg16 import VGG16Features

VIDEO_STEPS = 4  # steps per octave for video frames: feedback carries the rest over
# Feedback defaults, from `python benchmarks/dream_feedback.py` (benchmarks/RESULTS.md): on the
# silent film blend 0.9 with the stabiliser at 0.85 left 0.53x the per-frame dream's warping
# error; blend 0.8 with 0.9 gives 0.49x and still dreams 1.76x as strongly as one frame alone.
DEFAULT_BLEND = 0.8
FEEDBACK_TEMPORAL = 0.9  # the feedback dream's own stabiliser weight unless --temporal says


def add_dream_arguments(parser: argparse.ArgumentParser, seed: bool = True,
                        layer: str = "block4_conv3") -> None:
    """The dream options; `seed=False` where the command has a --seed of its own."""
    group = parser.add_argument_group("dream (--pipeline dream)")
    group.add_argument("--layer", default=layer, metavar="SPEC",
                       help="layer(s) to amplify: block4_conv3, block4_conv3:12 (one channel), "
                       f"or block3_conv3=0.5,block4_conv3=1 (default {layer})")
    group.add_argument("--steps", type=int, help="ascent steps per octave (default 10 for a still, "
                       f"{VIDEO_STEPS} per video frame)")
    group.add_argument("--step-size", type=float, default=0.008, help="per step, 0..1 image units")
    group.add_argument("--octaves", type=int, default=4)
    group.add_argument("--octave-scale", type=float, default=1.4)
    group.add_argument("--jitter", type=int, default=32, help="random shift per step, pixels")
    group.add_argument("--tile", type=int, default=512, help="largest gradient tile (0 = never tile)")
    group.add_argument("--objective", default="mean", choices=("mean", "l2"))
    group.add_argument("--guide", type=Path, metavar="IMAGE", help="dream toward this picture's features")
    group.add_argument("--tv-weight", type=float,
                       help="total-variation smoothing (default 0 for dream, 1 for gatys)")
    if seed:
        group.add_argument("--seed", type=int, default=0, help="random seed (same seed, same dream)")
    group.add_argument("--blend", type=float, default=DEFAULT_BLEND,
                       help=f"video: how much of the previous hallucination carries over (default {DEFAULT_BLEND})")
    group.add_argument("--no-feedback", action="store_true",
                       help="video: dream every frame from scratch (then --temporal smooths)")


def dream_effect(args: argparse.Namespace, video: bool, jit: bool,
                 extra_layers: tuple[str, ...] = ()) -> DreamEffect:
    """A DreamEffect from the command line's dream options; `extra_layers` join the objective
    with weight 0, so a live show can turn them up without a new graph."""
    from dreamreel.engine.effects import read_image

    if not 0.0 <= args.blend <= 1.0:
        raise SettingsError("--blend must be within 0..1")
    guide = read_image(args.guide).astype(np.float32) / 255.0 if args.guide else None
    steps = args.steps or (VIDEO_STEPS if video else 10)
    layers = {**dict.fromkeys(extra_layers, 0.0), **parse_layers(args.layer)}
    settings = DreamSettings(layers=layers, objective=args.objective, steps=steps,
                             step_size=args.step_size, octaves=args.octaves,
                             octave_scale=args.octave_scale, jitter=args.jitter, tile_size=args.tile,
                             guide=guide, tv_weight=args.tv_weight or 0.0, jit=jit)
    dtype = tf.float32 if args.precision == "float32" else tf.bfloat16
    features = VGG16Features(weights.load("vgg16", offline=args.offline), dtype=dtype)
    for key in settings.layers:
        features.check(key.partition(":")[0])
    return DreamEffect(features, settings, seed=args.seed)


class FeedbackDream:
    """Frame-by-frame dreaming that carries the hallucination along the flow (one frame a call)."""

    def __init__(self, effect: DreamEffect, blend: float, stabiliser: Stabilizer | None = None) -> None:
        self.effect, self.blend = effect, blend
        self.stabiliser = stabiliser or Stabilizer()
        self._prev_source: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the past: the next frame is dreamed afresh."""
        self.stabiliser.reset()
        self._prev_source = None

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """[1, H, W, 3] uint8 -> [1, H, W, 3] uint8 (frames must come in order)."""
        source = frames[0]
        guide = self.stabiliser.guide(source)
        init = None
        if guide is not None and not guide.is_cut and self._prev_source is not None:
            prev_source = warp(self._prev_source.astype(np.float32), guide.flow)  # HxWx3 0..255
            hallucination = (guide.warped_prev - prev_source) * guide.mask[..., None]
            init = np.clip(source + self.blend * hallucination, 0, 255)[None] / 255.0
        dreamed = self.effect.process(frames, init)[0]
        # Blend with the warped previous output where the flow is reliable (same flow, computed
        # once): the carried hallucination alone still lets the new steps' details flicker.
        out = self.stabiliser(source, dreamed)
        self._prev_source = source
        return out[None]


def dream_at_size(dreamer: Callable[[np.ndarray], np.ndarray], frames: np.ndarray,
                  size: tuple[int, int]) -> np.ndarray:
    """Dream [N, H, W, 3] uint8 frames at the working (h, w) `size` and add the hallucination,
    enlarged, to the full-size frames: the dream works at the size asked for (its cost grows
    with the pixels) while the frames keep their own sharpness."""
    height, width = size
    small = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])
    dreamed = dreamer(small)
    out = np.empty_like(frames)
    for i, (frame, before, after) in enumerate(zip(frames, small, dreamed, strict=True)):
        added = cv2.resize(after.astype(np.float32) - before, (frame.shape[1], frame.shape[0]),
                           interpolation=cv2.INTER_CUBIC)  # H x W x 3
        out[i] = np.clip(frame + added + 0.5, 0, 255)
    return out
