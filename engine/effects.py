"""Turn a pipeline name and its options into an effect: load networks, read style images.

The pipelines know nothing of files; this is where a painting on disk becomes a style vector
(cached per painting by content hash, since predicting it is the slow part of a short run).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from dreamreel import weights
from dreamreel.errors import MediaError, SettingsError
from dreamreel.pipelines.base import Chain, Effect

PIPELINES = ("style", "vintage", "dream", "gatys")


@dataclass
class EffectOptions:
    """The effect settings a user gives on the command line or live."""

    pipeline: str = "style"
    style: str = "0"
    style_image: Path | None = None
    strength: float = 1.0
    precision: str = "float32"
    offline: bool = False


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3], or a one-line MediaError."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such image file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path}: not an image OpenCV can read (png, jpg, webp, bmp, tiff)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _dtype(precision: str) -> tf.DType:
    return {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[precision]


def cached_style_vector(path: Path, predictor) -> np.ndarray:
    """A painting's style vector, cached on disk by the file's content hash (run and live share it)."""
    from dreamreel.pipelines.style.effects import style_vector

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    cache = weights.home() / "style-vectors" / f"{digest[:32]}.npy"
    if cache.is_file():
        return np.load(cache)
    vector = style_vector(predictor, read_image(path))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, vector)
    tmp.replace(cache)
    return vector


def parse_chain(spec: str, names: tuple[str, ...] = PIPELINES) -> list[tuple[str, float | None]]:
    """'vintage@0.6,style' -> [('vintage', 0.6), ('style', None)]: stages and their strengths,
    each one of `names`."""
    stages = []
    for part in spec.split(","):
        name, _, strength = part.strip().partition("@")
        if name not in names:
            raise SettingsError(f"unknown pipeline '{name}'; available: {', '.join(names)}")
        try:
            value = float(strength) if strength else None
        except ValueError:
            raise SettingsError(f"'{part}': the strength after @ must be a number") from None
        if value is not None and not 0.0 <= value <= 1.0:
            raise SettingsError(f"'{part}': strength must be within 0..1")
        stages.append((name, value))
    names = [name for name, _ in stages]
    if len(set(names)) != len(names):
        raise SettingsError(f"'{spec}': a chain uses each pipeline once")
    return stages


def _single(name: str, options: EffectOptions, strength: float) -> Effect:
    dtype = _dtype(options.precision)
    if name == "vintage":
        from dreamreel.pipelines.gan.cyclegan import ResnetGenerator
        from dreamreel.pipelines.gan.effects import ImageToImage

        return ImageToImage(ResnetGenerator(weights.load("cyclegan_vintage", offline=options.offline)),
                            "vintage", strength)
    if name != "style":
        raise SettingsError(f"'{name}' is not a per-frame graph effect")
    if options.style_image is not None:
        from dreamreel.pipelines.style.effects import ArbitraryStyle
        from dreamreel.pipelines.style.magenta import StylePredictor, StyleTransformer

        read_image(options.style_image)  # fail on a bad painting before loading networks
        predictor = StylePredictor(weights.load("magenta_predict", offline=options.offline))
        transformer = StyleTransformer(weights.load("magenta_transform", offline=options.offline),
                                       dtype=dtype)
        vector = cached_style_vector(options.style_image, predictor)
        return ArbitraryStyle(predictor, transformer, vector, strength)
    from dreamreel.pipelines.style.effects import BuiltinStyle, parse_style_spec
    from dreamreel.pipelines.style.multistyle import MultiStyleNet

    mix = parse_style_spec(options.style)
    net = MultiStyleNet(weights.load("multistyle26", offline=options.offline), dtype=dtype)
    return BuiltinStyle(net, mix, strength)


def build_effect(options: EffectOptions) -> Effect:
    """The effect (or chain) for `options`, its networks loaded through the weights registry."""
    if not 0.0 <= options.strength <= 1.0:
        raise SettingsError(f"--strength must be within 0..1, not {options.strength}")
    stages = parse_chain(options.pipeline)
    effects = [_single(name, options, options.strength if s is None else s) for name, s in stages]
    return effects[0] if len(effects) == 1 else Chain(effects)
