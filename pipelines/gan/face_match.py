"""A real face carried into the DCGAN's face space: the latent whose face looks like it.

Lesson 5's VAEGAN learns an encoder for that; no VAEGAN weights can be had, so the latent is
found by optimisation instead (GAN inversion, as in Zhu et al. 2016, "Generative Visual
Manipulation on the Natural Image Manifold"): a few Adam steps on z that lower the pixel error
between G(z) and the 64x64 crop, weighted to the face's ellipse, plus a small prior keeping
|z| on the shell of radius 10 where the generator's training latents lie (see latent.py). On
video each frame starts from the previous frame's latent, so the steps add up while the face
stays and a frame needs only a few.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.gan.dcgan import IMAGE_SIZE, LATENT_DIM, DCGANGenerator

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


def ellipse(size: int = IMAGE_SIZE, feather: float = 0.25) -> np.ndarray:
    """float32 [size, size] 1 inside the face's ellipse (0.8 of the width, 0.95 of the
    height), falling smoothly to 0 over the outer `feather` of its radius."""
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(axis / 0.95, axis / 0.8, indexing="ij")
    t = np.clip((1 - np.hypot(x, y)) / feather, 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)


class LatentMatcher:
    """`steps` Adam steps on a latent towards a face, traced once into one graph."""

    def __init__(self, generator: DCGANGenerator, steps: int, jit: bool = False) -> None:
        self.generator, self.steps = generator, steps
        self.weight = tf.constant(ellipse()[None, :, :, None])  # [1, 64, 64, 1]
        spec = [tf.TensorSpec([1, LATENT_DIM], tf.float32),
                tf.TensorSpec([1, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32),
                tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32)]
        self._fn = tf.function(self._graph, input_signature=spec, jit_compile=jit)
        self._loss = tf.function(self._pixel_loss, input_signature=spec[:2])

    def _pixel_loss(self, z: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        error = tf.reduce_sum(self.weight * tf.square(self.generator(z) - target))
        return error / (3.0 * tf.reduce_sum(self.weight))

    def _graph(self, z: tf.Tensor, target: tf.Tensor, rate: tf.Tensor,
               prior: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        m, v = tf.zeros_like(z), tf.zeros_like(z)
        shell = float(np.sqrt(LATENT_DIM))
        for step in range(1, self.steps + 1):
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = self._pixel_loss(z, target) + prior * tf.square(tf.norm(z) / shell - 1.0)
            grad = tape.gradient(loss, z)
            m = BETA1 * m + (1 - BETA1) * grad
            v = BETA2 * v + (1 - BETA2) * tf.square(grad)
            m_hat, v_hat = m / (1 - BETA1**step), v / (1 - BETA2**step)
            z = z - rate * m_hat / (tf.sqrt(v_hat) + ADAM_EPS)
        return z, self.generator(z)

    def __call__(self, z: np.ndarray, target: np.ndarray, rate: float,
                 prior: float) -> tuple[np.ndarray, np.ndarray]:
        """z float32 [100], target float32 [64, 64, 3] in 0..1 -> (the stepped latent [100],
        its face float32 [64, 64, 3] in 0..1)."""
        z_new, face = self._fn(z[None], target[None], np.float32(rate), np.float32(prior))
        return z_new.numpy()[0], face.numpy()[0]

    def loss(self, z: np.ndarray, target: np.ndarray) -> float:
        """The pixel loss (ellipse-weighted mean squared error) of z's face against target."""
        return float(self._loss(z[None].astype(np.float32), target[None].astype(np.float32)))
