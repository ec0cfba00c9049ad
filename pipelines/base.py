"""What effects offer the engine, and what the engine hands them; nothing here knows of files.

Two kinds of effect (a pipeline's `build` returns one; see pipelines/registry.py):

- `Effect`, per frame: a TensorFlow function of float frames and controls. The engine feeds it
  frames in 0..1 at a size that is a multiple of `stride`, plus its controls as tensors (so
  changing a style or a strength never recompiles), and gets frames in 0..1 of the same size
  back. Frame effects of a chain are traced into one graph (`Chain`).
- `SequentialEffect`, frame after frame: it carries state (a feedback dream, film mode) and is
  given, with each uint8 frame, a `Guide`: its previous output carried along the optical flow
  onto this frame, with a mask of where that can be trusted.

An effect of either kind may also learn from the clip before the first frame: when it has
`learn(frames, say)`, the engine calls it once with up to 64 frames spread evenly over the
job's part of the input (uint8 [N, h, w, 3] at the working size; the input's own frames, not
what earlier stages of a chain make of them) and `say(line)` for its progress lines. The
autoencoder trains on them and keeps the network in the cache through `Context.cached`.
Effects built for timing only (the tuner, `bench`'s model rows) are not taught.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import tensorflow as tf


def compute_dtype(precision: str) -> tf.DType:
    """The compute type a precision setting names ("float32", "bfloat16", "float16")."""
    return tf.as_dtype(precision)


class Effect(Protocol):
    name: str
    stride: int  # input height and width must be multiples of this
    handles_strength: bool  # True: the effect reads controls["strength"] itself

    def controls(self, settings: Any | None = None) -> dict[str, np.ndarray]:
        """Every control the effect reads (shape and dtype fixed), for `settings` (an instance
        of its pipeline's settings, e.g. changed live) or, without, the ones it was built with."""
        ...

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        """images: [N, H, W, 3] float32 RGB 0..1 -> [N, H, W, 3] float32 0..1."""
        ...


@dataclass(frozen=True)
class Guide:
    """What a sequential effect needs to make frame t consistent with its output at t-1.

    warped_prev: float32 HxWx3 in 0..255, the previous output warped onto the current frame.
    warped_source: float32 HxWx3 in 0..255, the previous input frame warped the same way (so
      `warped_prev - warped_source` is what the effect added last time, carried along).
    mask: float32 HxW in 0..1, 1 where warped_prev can be trusted (all 0 on a cut).
    flow: float32 HxWx2, current -> previous on the current frame's grid.
    is_cut: the input changed scene; nothing from before may be used.
    """

    warped_prev: np.ndarray
    warped_source: np.ndarray
    mask: np.ndarray
    flow: np.ndarray
    is_cut: bool


class SequentialEffect(Protocol):
    """An effect that sees the frames in order (one at a time) and carries state between them.

    residual: True when it adds to the frame (a dream): at a reduced working size the engine
      enlarges its change and adds it to the full-size frame; False when its output replaces
      the frame (film mode) and is enlarged as it is.
    temporal: the default weight of the engine's blend of its output with the warped previous
      output where the flow is reliable (0: it keeps itself steady, e.g. by a temporal loss).
    """

    name: str
    residual: bool
    temporal: float

    def controls(self, settings: Any | None = None) -> dict[str, np.ndarray]:
        """As Effect.controls: the values its live settings turn into."""
        ...

    def __call__(self, frame: np.ndarray, guide: Guide | None, index: int,
                 controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """uint8 HxWx3 RGB frame number `index` -> uint8 HxWx3. `guide` is None for the first
        frame; any randomness is keyed by `index`, so a frame renders the same wherever and
        whenever it is rendered."""
        ...

    def reset(self) -> None:
        """Forget the past: the next frame starts afresh."""
        ...


class Chain:
    """Effects in sequence, traced into one graph: no hop through NumPy between effects.

    Each stage keeps its own controls, named `<stage name>.<control>`, and its own strength
    (a stage that does not handle strength itself is blended with its input).
    """

    handles_strength = True

    def __init__(self, effects: list[Effect]) -> None:
        self.effects = effects
        self.name = ",".join(e.name for e in effects)
        self.stride = math.lcm(*(e.stride for e in effects))

    def controls(self, settings: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """`settings`: each stage's settings by stage name (missing stages keep theirs)."""
        settings = settings or {}
        return {f"{e.name}.{k}": v for e in self.effects
                for k, v in e.controls(settings.get(e.name)).items()}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        x = images
        for effect in self.effects:
            own = {k.split(".", 1)[1]: v for k, v in controls.items() if k.startswith(effect.name + ".")}
            y = effect(x, own)
            if not effect.handles_strength and "strength" in own:
                y = x + own["strength"] * (y - x)
            x = y
        return x
