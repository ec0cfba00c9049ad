"""The two style effects the engine runs: 26 built-in styles (and learned ones), and any painting.

Both take their style as a graph input (a mixture over the styles, or a 100-d Magenta style vector),
so switching or blending styles mid-stream never recompiles the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.resize import shrink
from dreamreel.pipelines.style.layout import NUM_STYLES, STRIDE

if TYPE_CHECKING:
    from dreamreel.pipelines.style.magenta import StylePredictor, StyleTransformer
    from dreamreel.pipelines.style.multistyle import MultiStyleNet

PREDICTOR_SIZE = 256  # the style-prediction network's training resolution


def style_terms(spec: str) -> list[tuple[str, float]]:
    """'7' -> [('7', 1.0)]; '3:0.5,wave:0.5' -> its parts: a built-in style's number or a
    learned style's name, each with its weight. Checks all but whether the names exist."""
    terms = []
    for part in str(spec).split(","):
        name, _, weight = part.strip().partition(":")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            w = float("nan")
        if not name or w != w:
            raise SettingsError(f"style '{spec}' is not N or N:W,N:W (e.g. 7, 3:0.5,12:0.5 or "
                                "a learned style's name)")
        if w < 0:
            raise SettingsError(f"style weight {w} is negative")
        if name.isdigit() and not 0 <= int(name) < NUM_STYLES:
            raise SettingsError(f"unknown style {name}: the built-in styles are "
                                f"0..{NUM_STYLES - 1}")
        terms.append((name, w))
    if sum(w for _, w in terms) <= 0:
        raise SettingsError(f"style '{spec}' has no positive weight")
    return terms


def parse_style_spec(spec: str, learned: Sequence[str] = ()) -> np.ndarray:
    """'7' -> one-hot style 7; '3:0.5,12:0.5' -> that blend; a name is the learned style at
    26 + its place in `learned`. Weights are normalised to sum 1; [26 + len(learned)]."""
    mix = np.zeros(NUM_STYLES + len(learned), np.float32)
    for name, w in style_terms(spec):
        if name.isdigit():
            i = int(name)
        elif name in learned:
            i = NUM_STYLES + list(learned).index(name)
        else:
            known = ", ".join(learned) or "none (dreamreel styles learn PAINTING --name NAME)"
            raise SettingsError(f"unknown style '{name}': the built-in styles are "
                                f"0..{NUM_STYLES - 1}; the learned ones: {known}")
        mix[i] += w
    return mix / mix.sum()


class BuiltinStyle:
    """Dumoulin et al.'s conditional instance norm network; strength blends with the source."""

    name = "style"
    stride = STRIDE
    handles_strength = False

    def __init__(self, net: MultiStyleNet, style: str = "0", learned: Sequence[str] = ()
                 ) -> None:
        self.net = net
        self.style = style
        self.learned = tuple(learned)  # the names of the net's styles after the 26 built-ins
        parse_style_spec(style, self.learned)  # an unknown name fails before any frame

    def controls(self, settings=None) -> dict[str, np.ndarray]:
        spec = self.style if settings is None else settings.style
        return {"style_weights": parse_style_spec(spec, self.learned),
                "strength": np.float32(1.0)}

    def live_steps(self) -> dict[str, list[str]]:
        """Keys, MIDI notes and faders step through the built-in styles, then the learned."""
        return {"style": [str(i) for i in range(NUM_STYLES)] + list(self.learned)}

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
