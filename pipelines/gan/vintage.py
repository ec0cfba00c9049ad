"""The `vintage` pipeline: a CycleGAN photo -> vintage photograph generator on every frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.gan.cyclegan import ResnetGenerator
from dreamreel.pipelines.registry import Context, Pipeline


@dataclass(frozen=True)
class VintageOptions:
    """No settings beyond the strength every stage has."""


class ImageToImage:
    """A CycleGAN/pix2pix ResNet generator applied to every frame; strength blends with the source."""

    handles_strength = False

    def __init__(self, generator: ResnetGenerator, name: str = "vintage") -> None:
        self.generator, self.name = generator, name
        self.stride = generator.stride

    def controls(self, settings=None) -> dict[str, np.ndarray]:
        return {"strength": np.float32(1.0)}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.generator(images)  # [N, H, W, 3] 0..1


def build(settings: VintageOptions, context: Context) -> ImageToImage:
    return ImageToImage(ResnetGenerator(context.load("cyclegan_vintage")))


PIPELINE = Pipeline(
    name="vintage",
    summary="a CycleGAN generator: modern photo -> vintage photograph (Zhu et al. 2017)",
    kind="frame",
    settings=VintageOptions,
    build=build,
    networks=("cyclegan_vintage",),
    precisions=("float32",),
)
