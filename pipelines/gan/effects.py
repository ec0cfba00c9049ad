"""GAN generators as per-frame effects: CycleGAN image-to-image ("vintage")."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.gan.cyclegan import ResnetGenerator


class ImageToImage:
    """A CycleGAN/pix2pix ResNet generator applied to every frame; strength blends with the source."""

    handles_strength = False

    def __init__(self, generator: ResnetGenerator, name: str = "vintage", strength: float = 1.0) -> None:
        self.generator, self.name = generator, name
        self.stride = generator.stride
        self.values = {"strength": np.float32(strength)}

    def controls(self) -> dict[str, np.ndarray]:
        return dict(self.values)

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.generator(images)  # [N, H, W, 3] 0..1
