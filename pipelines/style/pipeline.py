"""The `style` pipeline: 26 built-in styles and their blends, or any painting as the style."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import compute_dtype
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.style.effects import (
    PREDICTOR_SIZE,
    ArbitraryStyle,
    BuiltinStyle,
    style_terms,
)
from dreamreel.pipelines.style.layout import NUM_STYLES, STEADY, UPSAMPLING

if TYPE_CHECKING:
    from dreamreel.pipelines.style.magenta import StylePredictor


def _strongest(spec: str) -> str:
    """A blend counts as its strongest style when stepping to the next one."""
    return max(style_terms(spec), key=lambda term: term[1])[0]


def _style_spec(spec: str) -> str:
    style_terms(spec)  # raises SettingsError with the reason; names are checked at build
    return spec.strip()


@dataclass(frozen=True)
class StyleOptions:
    style: str = setting("0", f"built-in style 0..{NUM_STYLES - 1}, a learned style's name, "
                         "or a blend such as 3:0.5,12:0.5", live=True, keys=("right", "left"), parse=_style_spec,
                         steps=tuple(str(i) for i in range(NUM_STYLES)),
                         nearest=_strongest, aliases=("blend",))
    style_image: Path | None = setting(None, "any picture as the style (Magenta arbitrary "
                                       "style)", flag="--style-image", live=True, slow=True)
    upsampling: str = setting("nearest", "how the network scales back up: nearest, as trained; "
                              "bilinear: strokes move with the picture, not the network's "
                              "4-pixel grid (about half the flicker on pans; bolder strokes); "
                              "steady: bilinear, with the network fine-tuned to keep its look "
                              "(made on this machine by `dreamreel styles steady`; learned "
                              "styles keep the scales and shifts fitted to the shipped one)",
                              choices=(*UPSAMPLING, STEADY), graph=True)


def build(settings: StyleOptions, context: Context) -> BuiltinStyle | ArbitraryStyle:
    # The networks' modules load TensorFlow: imported here, the command line reads the
    # settings above without it.
    from dreamreel.pipelines.style.magenta import StylePredictor, StyleTransformer
    from dreamreel.pipelines.style.multistyle import MultiStyleNet

    dtype = compute_dtype(context.precision)
    steady = settings.upsampling == STEADY
    upsampling = "bilinear" if steady else settings.upsampling
    if settings.style_image is None:
        learned = context.styles() if context.styles else {}
        if steady and context.steady is None:
            raise SettingsError("--upsampling steady: this run has no steady network to load")
        arrays = context.steady() if steady else context.load("multistyle26")
        net = MultiStyleNet(arrays, extra=list(learned.values()), dtype=dtype,
                            upsampling=upsampling)
        return BuiltinStyle(net, settings.style, learned=list(learned))
    if steady:
        raise SettingsError("--upsampling steady is the 26-style network's; with --style-image "
                            "use nearest or bilinear")
    context.read_image(settings.style_image)  # a bad painting fails before networks load
    predictor = StylePredictor(context.load("magenta_predict"))
    transformer = StyleTransformer(context.load("magenta_transform"), dtype=dtype,
                                   upsampling=upsampling)

    def vector_of(painting: Path) -> np.ndarray:
        """The 100-d style vector of a painting, predicted once per picture and cached."""
        path = Path(painting)
        return context.cached("style-vectors", path.read_bytes(),
                              lambda: style_vector(predictor, context.read_image(path)))

    return ArbitraryStyle(predictor, transformer, vector_of, settings.style_image)


def style_vector(predictor: StylePredictor, painting: np.ndarray) -> np.ndarray:
    """The 100-d style vector of a painting (uint8 RGB [H, W, 3]), at the predictor's size."""
    image = tf.convert_to_tensor(painting[np.newaxis], tf.float32) / 255.0
    image = tf.image.resize(image, (PREDICTOR_SIZE, PREDICTOR_SIZE), antialias=True)
    return predictor(image).numpy().reshape(-1)


PIPELINE = Pipeline(
    name="style",
    summary="fast style transfer: 26 built-in styles and blends (Dumoulin et al. 2017), or any "
    "painting (Ghiasi et al. 2017)",
    kind="frame",
    settings=StyleOptions,
    build=build,
    networks=("multistyle26", "magenta_predict", "magenta_transform"),
    lite_without_onednn=True,
)
