"""A small convolutional autoencoder: four strided convolutions down to a grid of 1/16th the
size, a dense bottleneck of `latent` numbers, and four transposed convolutions back up.

Everything the picture keeps must pass through those `latent` numbers, so a small bottleneck
remembers only the gist of the scene (where the light is, the shapes that move) and a large one
most of its detail. The weights are one flat vector (what the user's cache keeps); training is
Adam inside one compiled step.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CHANNELS = (3, 16, 32, 64, 64)  # the picture, then each strided convolution's output
DOWN = 2 ** (len(CHANNELS) - 1)  # the working height and width must be multiples of this
KERNEL = 4  # a kernel divisible by the stride: transposed convolutions without checkerboards


class AutoEncoder:
    """Encoder and decoder for [N, H, W, 3] pictures in 0..1 (H and W multiples of DOWN).

    All the weights are one variable, `vector`, cut into kernels by `parts`: the cache keeps
    that vector as it is, and Adam updates it in a handful of operations. (A plain class, not
    a tf.Module: it tracks its one variable itself, and the command line reads this module's
    sizes without loading TensorFlow.)
    """

    def __init__(self, shape: tuple[int, int], latent: int, seed: int = 0) -> None:
        height, width = shape
        if height % DOWN or width % DOWN:
            raise ValueError(f"the working size {width}x{height} is not a multiple of {DOWN}")
        self.shape, self.latent = (height, width), latent
        self.grid = (height // DOWN, width // DOWN, CHANNELS[-1])
        flat = int(np.prod(self.grid))
        pairs = list(zip(CHANNELS[:-1], CHANNELS[1:], strict=True))
        # name: (shape, fan-in for He initialisation; 0 for a bias, which starts at zero).
        # A transposed convolution's kernel is [kh, kw, out, in], and with a stride of 2 each
        # output sees a quarter of its taps.
        self.layout: dict[str, tuple[tuple[int, ...], int]] = {
            **{f"down{i}": ((KERNEL, KERNEL, a, b), KERNEL * KERNEL * a)
               for i, (a, b) in enumerate(pairs)},
            **{f"down{i}_bias": ((b,), 0) for i, (_, b) in enumerate(pairs)},
            "to_latent": ((flat, latent), flat), "latent_bias": ((latent,), 0),
            "from_latent": ((latent, flat), latent), "grid_bias": ((flat,), 0),
            **{f"up{i}": ((KERNEL, KERNEL, a, b), KERNEL * KERNEL * b // 4)
               for i, (a, b) in enumerate(reversed(pairs))},
            **{f"up{i}_bias": ((a,), 0) for i, (a, _) in enumerate(reversed(pairs))},
        }
        rng = np.random.default_rng(seed)
        self.vector = tf.Variable(np.concatenate([
            rng.normal(0.0, np.sqrt(2.0 / fan_in), s).ravel() if fan_in else np.zeros(s).ravel()
            for s, fan_in in self.layout.values()]).astype(np.float32))

    def parts(self) -> dict[str, tf.Tensor]:
        """The weights cut from `vector`, by name."""
        shapes = [s for s, _ in self.layout.values()]
        pieces = tf.split(self.vector, [int(np.prod(s)) for s in shapes])
        return {name: tf.reshape(p, s)
                for name, p, s in zip(self.layout, pieces, shapes, strict=True)}

    def encode(self, images: tf.Tensor) -> tf.Tensor:
        """[N, H, W, 3] 0..1 -> [N, latent]."""
        w = self.parts()
        x = images * 2.0 - 1.0
        for i in range(len(CHANNELS) - 1):
            x = tf.nn.leaky_relu(tf.nn.conv2d(x, w[f"down{i}"], 2, "SAME") + w[f"down{i}_bias"],
                                 0.2)
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.matmul(x, w["to_latent"]) + w["latent_bias"]

    def decode(self, codes: tf.Tensor) -> tf.Tensor:
        """[N, latent] -> [N, H, W, 3] 0..1."""
        w = self.parts()
        n = tf.shape(codes)[0]
        x = tf.nn.leaky_relu(tf.matmul(codes, w["from_latent"]) + w["grid_bias"], 0.2)
        x = tf.reshape(x, [n, *self.grid])
        last = len(CHANNELS) - 2
        for i in range(last + 1):
            kernel = w[f"up{i}"]
            size = [n, tf.shape(x)[1] * 2, tf.shape(x)[2] * 2, kernel.shape[2]]
            x = tf.nn.conv2d_transpose(x, kernel, size, 2, "SAME") + w[f"up{i}_bias"]
            x = tf.sigmoid(x) if i == last else tf.nn.leaky_relu(x, 0.2)
        return x

    def flat(self) -> np.ndarray:
        """The weights as one float32 vector."""
        return self.vector.numpy()

    def load(self, vector: np.ndarray) -> None:
        """Take the weights from a vector `flat` made for the same shape and latent size."""
        if vector.shape != tuple(self.vector.shape):
            raise ValueError(f"{vector.shape} weights are not this network's {self.vector.shape}")
        self.vector.assign(vector)


class Trainer:
    """Adam on the mean squared reconstruction error, one compiled step per batch; each
    batch is flipped left-right at random (the step's seed), so the few frames go further."""

    def __init__(self, net: AutoEncoder, learning_rate: float, jit: bool = False) -> None:
        self.net = net
        self.optimizer = tf.keras.optimizers.Adam(learning_rate)
        self.optimizer.build([net.vector])  # its moments exist before the step is traced (once)
        self._step = tf.function(self._step_graph, jit_compile=jit, autograph=False)

    def _step_graph(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        flip = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) < 0.5
        x = tf.where(flip, tf.reverse(images, [2]), images)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.net.decode(self.net.encode(x)) - x))
        self.optimizer.apply_gradients([(tape.gradient(loss, self.net.vector), self.net.vector)])
        return loss

    def step(self, images: np.ndarray, seed: tuple[int, int]) -> float:
        """One step on float32 [N, H, W, 3] 0..1; returns the loss before it."""
        return float(self._step(tf.constant(images), tf.constant(seed, tf.int32)))
