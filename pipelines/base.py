"""What every effect offers the engine: a TensorFlow function of float frames and controls.

An effect knows nothing of files, cameras or uint8: the engine feeds it frames in 0..1 at a
size that is a multiple of `stride`, plus its controls as tensors (so changing a style or a
strength never recompiles), and gets frames in 0..1 of the same size back.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import tensorflow as tf


class Effect(Protocol):
    name: str
    stride: int  # input height and width must be multiples of this
    handles_strength: bool  # True: the effect reads controls["strength"] itself

    def controls(self) -> dict[str, np.ndarray]:
        """Every control the effect reads, with its current value (shape and dtype fixed)."""
        ...

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        """images: [N, H, W, 3] float32 RGB 0..1 -> [N, H, W, 3] float32 0..1."""
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

    def controls(self) -> dict[str, np.ndarray]:
        return {f"{e.name}.{k}": v for e in self.effects for k, v in e.controls().items()}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        x = images
        for effect in self.effects:
            own = {k.split(".", 1)[1]: v for k, v in controls.items() if k.startswith(effect.name + ".")}
            y = effect(x, own)
            if not effect.handles_strength and "strength" in own:
                y = x + own["strength"] * (y - x)
            x = y
        return x
