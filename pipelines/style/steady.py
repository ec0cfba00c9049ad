"""The steady network: the 26-style network fine-tuned so that its strokes move with the scene.

As shipped, the network scales back up by nearest-neighbour upsampling and paints its strokes on
its own 4-pixel grid, so they flicker wherever the picture moves by anything but a multiple of 4
pixels; bilinear upsampling lets them move with the content but changes the look, since the
convolutions after it were trained on 2x2 blocks (benchmarks/RESULTS.md, "The network's grid").
Here the network with bilinear upsampling is fine-tuned, every kernel and every built-in
style's scales and shifts, starting from the shipped weights, to paint like the shipped network
while staying steady. Each crop of a batch takes a style at random; the loss:

* texture: VGG16 Gram matrices of its output against the shipped network's output on the same
  crop and style (Gram matrices do not care where a stroke sits, only what strokes there are);
* colour: the 4x4-pooled colours against the shipped output's;
* steadiness: Ruder et al.'s temporal term on frame pairs, each with the flow from the frame onto
  the other and where that flow holds (the engine gives consecutive frames with their optical
  flow, and a frame against itself shifted by a few whole pixels: an exact flow).

The first part of the steps learns the look, the rest holds the colours 10x closer at half the
step size. Everything here is arrays and graphs; the engine samples the frames and stores the
result (engine/steady_tuning.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.gram import STYLE_LAYERS, gram, style_distance
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.style.layout import LAYERS, NUM_STYLES, STRIDE
from dreamreel.pipelines.style.learn import bilinear_warp
from dreamreel.pipelines.vgg16 import VGG16Features

LOOK_SHARE = 0.4  # of the steps: the look first, then the colours held closer
COLOUR_WEIGHTS = (100.0, 1000.0)  # the colour term's weight in each part


@dataclass(frozen=True)
class SteadySettings:
    """How the steady network is fine-tuned (the defaults took 43 minutes on a 2-core Xeon with
    AMX, 117 on a 2-core AVX2-only EPYC)."""

    steps: int = setting(2000, "Adam steps (each of 4 crops, each crop a style at random)",
                         low=1)
    size: int = setting(192, "side of the square crops", low=64, high=512)
    learning_rate: float = setting(0.001, "Adam's step size in the first part (half in the "
                                   "second)", low=0.0, high=0.1)
    temporal_weight: float = setting(300.0, "weight of the temporal term against the texture",
                                     low=0.0)

    def __post_init__(self) -> None:
        if self.size % STRIDE:
            raise SettingsError(f"size {self.size} must be a multiple of {STRIDE} (the "
                                "network halves it twice)")


class SteadyTuner:
    """The shipped network (the target), its bilinear copy being tuned, and one Adam step.

    ``step(batch, styles, part)``: batch {"content", "pair": [N, S, S, 3] 0..1, "flow":
    [N, S, S, 2] content -> pair, "mask": [N, S, S, 1]}, styles [N] built-in style indices,
    part 0 or 1; returns the (texture, colour, temporal) terms. ``arrays()``: the tuned
    network in the shipped network's named layout (kernels OIHW, norms [26, C]).
    """

    def __init__(self, arrays: dict[str, np.ndarray], vgg: VGG16Features,
                 settings: SteadySettings) -> None:
        # Imported here: its defaults load TensorFlow, which the command line's --help must not.
        from dreamreel.pipelines.style.multistyle import MultiStyleNet

        self.settings = settings
        self.shipped = MultiStyleNet(arrays)
        self.tuned = MultiStyleNet(arrays, upsampling="bilinear", trainable=True)
        eye = tf.eye(NUM_STYLES)
        self.tables = {k: tf.Variable(v) for k, v in self.shipped.mixed(eye).items()}
        self.variables = [*self.tuned.trainable_variables, *self.tables.values()]
        self.vgg = vgg
        rate = settings.learning_rate
        self.parts = [self._step_graph(tf.keras.optimizers.Adam(r), w)
                      for r, w in zip((rate, rate / 2), COLOUR_WEIGHTS, strict=True)]

    def _grams(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        acts = self.vgg(images, STYLE_LAYERS)
        return {k: gram(acts[k]) for k in STYLE_LAYERS}

    def _step_graph(self, optimizer: tf.keras.optimizers.Optimizer, colour_weight: float):
        temporal_weight = self.settings.temporal_weight

        @tf.function
        def step(content, pair, flow, mask, styles):
            onehot = tf.one_hot(styles, NUM_STYLES)  # [N, 26]
            target = self.shipped.render(content, self.shipped.mixed(onehot))
            target_grams = self._grams(target)
            with tf.GradientTape() as tape:
                both = tf.concat([onehot, onehot], 0)
                norm = {k: tf.matmul(both, v) for k, v in self.tables.items()}
                out = self.tuned.render(tf.concat([content, pair], 0), norm)
                now, other = tf.split(out, 2)
                texture = tf.reduce_mean(style_distance(self._grams(now), target_grams))
                colour = tf.reduce_mean(tf.square(tf.nn.avg_pool2d(now - target, 4, 4, "VALID")))
                temporal = tf.reduce_mean(mask * tf.square(now - bilinear_warp(other, flow)))
                total = (texture / len(STYLE_LAYERS) + colour_weight * colour
                         + temporal_weight * temporal)
            grads = tape.gradient(total, self.variables)
            optimizer.apply_gradients(zip(grads, self.variables, strict=True))
            return tf.stack([texture, colour, temporal])

        return step

    def part(self, step: int) -> int:
        """Which part of the schedule step `step` (from 0) is in."""
        return int(step >= round(LOOK_SHARE * self.settings.steps))

    def step(self, batch: dict[str, np.ndarray], styles: np.ndarray, part: int) -> np.ndarray:
        terms = self.parts[part](batch["content"], batch["pair"], batch["flow"], batch["mask"],
                                 tf.constant(styles, tf.int32))
        return terms.numpy()

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for layer in LAYERS:
            out[f"{layer.name}.w"] = self.tuned.kernel(layer.name)
            for kind in ("gamma", "beta"):
                out[f"{layer.name}.norm.{kind}"] = self.tables[f"{layer.name}.{kind}"].numpy()
        return out
