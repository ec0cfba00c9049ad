"""A coordinate network f(x, y) -> RGB and its fitting by Adam, the lesson's "image painting".

The pixel's position, in 0..1 across the picture, goes in as itself and as Fourier features
(sin and cos of 2 pi times random frequencies, Tancik et al. 2020): without them a small
network can only paint soft blobs; the spread of the frequencies (`detail`, cycles across the
picture) sets how fine a detail it can learn. Hidden layers are ReLU, the output a sigmoid.
With a third coordinate, the time across a clip, the same network is f(x, y, t): one fit of
a whole clip that paints it at any moment.

All state is in tf.Variables (weights, Adam's moments, its step count), so one compiled Adam
step per picture size serves every frame, and warm starting a frame is doing nothing at all.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

FEATURES = 64  # random frequencies: each gives a sine and a cosine input
DEPTH = 3  # hidden layers
BETAS = (0.9, 0.999)
BATCH = 4096  # pixels a step learns from, drawn at random: a step costs the same at any size


def grid(height: int, width: int, time: float | None = None) -> tf.Tensor:
    """The pixel centres of a height x width picture as [height * width, 2] (y, x) in 0..1, row
    major, or [.., 3] (y, x, t) at `time` in 0..1; the same positions at any size, so a fit at
    one size renders at another."""
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    planes = [yy.ravel(), xx.ravel()] + ([] if time is None else [np.full(yy.size, time)])
    return tf.constant(np.stack(planes, axis=1).astype(np.float32))


class CoordinateNet:
    """The network, its Adam state, and the compiled step and render (see the module
    docstring). Everything random comes from `seed`: the same seed, the same painting."""

    def __init__(self, detail: float, width: int, seed: int = 0, jit: bool = False,
                 time_detail: float | None = None) -> None:
        """`time_detail` (cycles across the clip) adds the time coordinate: coords are then
        (y, x, t)."""
        rng = np.random.default_rng(seed)
        spreads = [detail, detail] + ([] if time_detail is None else [time_detail])
        frequencies = rng.normal(0.0, 1.0, (len(spreads), FEATURES)) * np.array(spreads)[:, None]
        self.frequencies = tf.constant(frequencies.astype(np.float32))
        sizes = [len(spreads) + 2 * FEATURES, *[width] * DEPTH, 3]
        self.initial = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = np.sqrt(6.0 / n_in)  # He uniform, for ReLU
            self.initial += [rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32),
                             np.zeros(n_out, np.float32)]
        self.weights = [tf.Variable(w) for w in self.initial]
        self.moments = [tf.Variable(np.zeros_like(w)) for w in self.initial * 2]
        self.step_count = tf.Variable(0.0)
        self.step = tf.function(self._step, jit_compile=jit)
        self.render = tf.function(self._render, jit_compile=jit)

    def restart(self) -> None:
        """Back to the seed's initial weights, Adam's memory cleared."""
        for variable, value in zip(self.weights, self.initial, strict=True):
            variable.assign(value)
        for moment in self.moments:
            moment.assign(tf.zeros_like(moment))
        self.step_count.assign(0.0)

    def _render(self, coords: tf.Tensor) -> tf.Tensor:
        """coords [P, 2] (y, x) or [P, 3] (y, x, t) in 0..1 -> colours [P, 3] in 0..1."""
        angles = 2.0 * np.pi * tf.matmul(coords, self.frequencies)
        x = tf.concat([coords, tf.sin(angles), tf.cos(angles)], axis=1)
        last = len(self.weights) - 2
        for i in range(0, len(self.weights), 2):
            x = tf.matmul(x, self.weights[i]) + self.weights[i + 1]
            x = tf.sigmoid(x) if i == last else tf.nn.relu(x)
        return x

    def _step(self, coords: tf.Tensor, target: tf.Tensor, learning_rate: tf.Tensor,
              key: tf.Tensor) -> tf.Tensor:
        """One Adam step (Kingma & Ba 2015) on the mean squared error to `target` [P, 3] in
        0..1 over BATCH pixels drawn by (`key`, the step count); returns that loss."""
        count = tf.shape(coords)[0]
        if coords.shape[0] > BATCH:
            seed = tf.stack([key, tf.cast(self.step_count, tf.int64)])
            chosen = tf.random.stateless_uniform([BATCH], seed, maxval=count, dtype=tf.int32)
            coords, target = tf.gather(coords, chosen), tf.gather(target, chosen)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self._render(coords) - target))
        grads = tape.gradient(loss, self.weights)
        self.step_count.assign_add(1.0)
        beta1, beta2 = BETAS
        scale = learning_rate * tf.sqrt(1.0 - beta2**self.step_count) / (
            1.0 - beta1**self.step_count)
        count = len(self.weights)
        for weight, grad, m, v in zip(self.weights, grads, self.moments[:count],
                                      self.moments[count:], strict=True):
            m.assign(beta1 * m + (1.0 - beta1) * grad)
            v.assign(beta2 * v + (1.0 - beta2) * tf.square(grad))
            weight.assign_sub(scale * m / (tf.sqrt(v) + 1e-8))
        return loss

    def fit(self, coords: tf.Tensor, target: tf.Tensor, steps: int, learning_rate: float,
            key: int = 0) -> float:
        """`steps` Adam steps toward `target` [P, 3] in 0..1 from wherever the weights are;
        the loss before the last step."""
        rate = tf.constant(learning_rate, tf.float32)
        loss = tf.constant(np.nan)
        for _ in range(steps):
            loss = self.step(coords, target, rate, tf.constant(key, tf.int64))
        return float(loss)

    def picture(self, coords: tf.Tensor, height: int, width: int) -> np.ndarray:
        """What the network paints at `coords` (a `grid(height, width)`), uint8 HxWx3."""
        colours = self.render(coords).numpy().reshape(height, width, 3)
        return (colours * 255.0 + 0.5).astype(np.uint8)
