"""The two style effects the engine runs: 26 built-in styles, and any painting.

Both take their style as a graph input (a 26-way mixture, or a 100-d Magenta style vector),
so switching or blending styles mid-stream never recompiles the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.resize import shrink
from dreamreel.pipelines.style.magenta import StylePredictor, StyleTransformer
from dreamreel.pipelines.style.multistyle import NUM_STYLES, STRIDE, MultiStyleNet

PREDICTOR_SIZE = 256  # the style-prediction network's training resolution


def parse_style_spec(spec: str) -> np.ndarray:
    """'7' -> one-hot style 7; '3:0.5,12:0.5' -> that blend. Weights are normalised to sum 1."""
    mix = np.zeros(NUM_STYLES, np.float32)
    for part in str(spec).split(","):
        index, _, weight = part.strip().partition(":")
        try:
            i, w = int(index), float(weight) if weight else 1.0
        except ValueError:
            raise SettingsError(f"style '{spec}' is not N or N:W,N:W (e.g. 7 or 3:0.5,12:0.5)") from None
        if not 0 <= i < NUM_STYLES:
            raise SettingsError(f"unknown style {i}: the built-in styles are 0..{NUM_STYLES - 1}")
        if w < 0:
            raise SettingsError(f"style weight {w} is negative")
        mix[i] += w
    if mix.sum() <= 0:
        raise SettingsError(f"style '{spec}' has no positive weight")
    return mix / mix.sum()


class BuiltinStyle:
    """Dumoulin et al.'s conditional instance norm network; strength blends with the source."""

    name = "style"
    stride = STRIDE
    handles_strength = False

    def __init__(self, net: MultiStyleNet, style: str = "0") -> None:
        self.net = net
        self.style = style

    def controls(self, settings=None) -> dict[str, np.ndarray]:
        spec = self.style if settings is None else settings.style
        return {"style_weights": parse_style_spec(spec), "strength": np.float32(1.0)}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.net(images, controls["style_weights"])  # [N, H, W, 3] 0..1


class ArbitraryStyle:
    """Ghiasi et al.'s arbitrary style transfer at the working resolution.

    Strength interpolates the style vector toward the content's own (as the paper does), so
    a low strength keeps the frame's own look rather than fading two pictures together.
    `vector_of(painting)` gives a painting's style vector (the engine reads and caches it).
    """

    name = "style"
    handles_strength = True

    def __init__(self, predictor: StylePredictor, transformer: StyleTransformer,
                 vector_of: Callable[[Path], np.ndarray], painting: Path) -> None:
        self.predictor, self.transformer = predictor, transformer
        self.stride = transformer.stride
        self.vector_of, self.painting = vector_of, painting
        self._vector = np.asarray(vector_of(painting), np.float32).reshape(-1)

    def controls(self, settings=None) -> dict[str, np.ndarray]:
        painting = self.painting if settings is None or settings.style_image is None else (
            settings.style_image)
        vector = self._vector if painting == self.painting else self.vector_of(painting)
        return {"style_vector": np.asarray(vector, np.float32).reshape(-1),
                "strength": np.float32(1.0)}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        style = controls["style_vector"][tf.newaxis, :]  # [1, 100]
        strength = controls["strength"]

        def blended() -> tf.Tensor:
            small = shrink(images, (PREDICTOR_SIZE, PREDICTOR_SIZE))
            own = self.predictor(small)  # [N, 100]: the content's own style
            return strength * style + (1.0 - strength) * own

        batch = tf.shape(images)[0]
        full = tf.tile(style, [batch, 1])  # [N, 100]
        bottleneck = tf.cond(strength < 1.0, blended, lambda: full)
        return self.transformer(images, bottleneck)  # [N, H, W, 3] 0..1
