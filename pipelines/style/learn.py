"""Learning a new style for the 26-style network: only its normalisation scales and shifts.

Dumoulin et al. (2017) share one transformation network among styles and give each style its
own scale and shift in every conditional instance norm layer. A new painting is therefore 990
numbers (:data:`NORM_SHAPES`), fitted here with the rest of the network frozen, by the loss of
Johnson et al. (2016): Gram matrices of VGG16 activations against the painting's, activations
of a content layer against the frame's, total variation, and (optionally) Ruder et al.'s
temporal term on flow-warped frame pairs, so the style stays steady on video.

The fit starts from the built-in style whose output is nearest the painting by Gram distance,
and takes Adam steps inside one compiled graph. Everything here is arrays and graphs: the
engine reads the painting and the frames, keeps checkpoints and stores the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.film.gatys import StyleTarget
from dreamreel.pipelines.gram import STYLE_LAYERS, gram, style_distance
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.style.layout import NORM_SHAPES, NUM_STYLES, STRIDE
from dreamreel.pipelines.vgg16 import VGG16Features

if TYPE_CHECKING:
    from dreamreel.pipelines.style.multistyle import MultiStyleNet

ADAM_BETAS = (0.9, 0.999)
NEAREST_SIZE = 128  # side of the frames on which the built-in styles are compared


@dataclass(frozen=True)
class LearnSettings:
    """How a style is learned (the defaults finish in minutes on a 2-core CPU)."""

    steps: int = setting(300, "Adam steps", low=1)
    size: int = setting(192, "side of the square content crops the style is learned on",
                        low=64, high=1024)
    learning_rate: float = setting(0.02, "Adam's step size on the scales and shifts", low=0.0,
                                   high=1.0)
    style_weight: float = setting(10.0, "weight of the Gram-matrix style loss", low=0.0)
    content_weight: float = setting(1.0, "weight of the content loss", low=0.0)
    tv_weight: float = setting(1.0, "total-variation smoothing", low=0.0)
    temporal_weight: float = setting(0.0, "weight of the temporal loss on flow-warped frame "
                                     "pairs (0: off)", low=0.0)
    content_layer: str = setting("block3_conv3", "the VGG16 layer whose activations must "
                                 "match the frame's")
    style_scale: float = setting(1.0, "the painting's scale: 1 at the crop's area, 2 at twice "
                                 "those sides (bigger strokes above 1)", low=0.1, high=4.0)

    def __post_init__(self) -> None:
        if self.size % STRIDE:
            raise SettingsError(f"size {self.size} must be a multiple of {STRIDE} (the "
                                "network halves it twice)")


def bilinear_warp(image: tf.Tensor, flow: tf.Tensor) -> tf.Tensor:
    """Backward warp: out[y, x] = image[y + flow_y, x + flow_x], bilinear, edges clamped.

    image [N, H, W, C]; flow [N, H, W, 2] (dx, dy), in pixels. Differentiable in `image`.
    """
    shape = tf.shape(image)
    n, h, w = shape[0], shape[1], shape[2]
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32),
                         indexing="ij")
    x = tf.clip_by_value(xs + flow[..., 0], 0.0, tf.cast(w - 1, tf.float32))  # [N, H, W]
    y = tf.clip_by_value(ys + flow[..., 1], 0.0, tf.cast(h - 1, tf.float32))
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0i, y0i = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    x1i, y1i = tf.minimum(x0i + 1, w - 1), tf.minimum(y0i + 1, h - 1)
    flat = tf.reshape(image, tf.stack([n, h * w, -1]))  # [N, H*W, C]

    def at(yi: tf.Tensor, xi: tf.Tensor) -> tf.Tensor:
        return tf.gather(flat, yi * w + xi, batch_dims=1)  # [N, H, W, C]

    top = at(y0i, x0i) * (1 - fx) + at(y0i, x1i) * fx
    bottom = at(y1i, x0i) * (1 - fx) + at(y1i, x1i) * fx
    return top * (1 - fy) + bottom * fy


class StyleLearner:
    """Fits one style's scales and shifts to a painting; the state is plain arrays.

    net: the built-in network (float32); features: VGG16; painting: float32 [H, W, 3] 0..1.
    Call :meth:`start` with the parameters to begin from, then :meth:`step` with content
    batches; :meth:`state` / :meth:`restore` give and take everything a resumed fit needs.
    """

    def __init__(self, net: MultiStyleNet, features: VGG16Features, painting: np.ndarray,
                 settings: LearnSettings) -> None:
        features.check(settings.content_layer)
        self.net, self.features, self.settings = net, features, settings
        self.target = StyleTarget(features, [painting])
        # eager, so the compiled step captures them as constants
        self._grams = self.target.grams(settings.size, settings.size, settings.style_scale)
        self.params = {k: tf.Variable(np.zeros(shape, np.float32), name=k.replace(".", "_"))
                       for k, shape in NORM_SHAPES.items()}
        self._m = {k: tf.Variable(tf.zeros_like(v)) for k, v in self.params.items()}
        self._v = {k: tf.Variable(tf.zeros_like(v)) for k, v in self.params.items()}
        self.steps_done = tf.Variable(0, dtype=tf.int64)
        self._step = tf.function(self._step_graph)
        self._loss = tf.function(self._terms)

    # ---- where to start -------------------------------------------------------------------

    def nearest(self, frames: np.ndarray) -> tuple[int, list[float]]:
        """The built-in style whose output on `frames` ([N, S, S, 3] 0..1, square) is nearest
        the painting by Gram distance, and every style's distance."""
        small = tf.image.resize(frames, (NEAREST_SIZE, NEAREST_SIZE), antialias=True)
        target = self.target.grams(NEAREST_SIZE, NEAREST_SIZE, self.settings.style_scale)
        distances = []
        for index in range(NUM_STYLES):
            out = self.net(small, np.eye(NUM_STYLES, dtype=np.float32)[index])
            acts = self.features(out, STYLE_LAYERS)
            grams = {k: gram(acts[k]) for k in STYLE_LAYERS}
            distances.append(float(tf.reduce_mean(style_distance(grams, target))))
        return int(np.argmin(distances)), distances

    def start(self, params: Mapping[str, np.ndarray]) -> None:
        """Begin a fit at `params` (a :data:`NORM_SHAPES` dict), with Adam's state cleared."""
        for k, var in self.params.items():
            var.assign(np.asarray(params[k], np.float32))
            self._m[k].assign(tf.zeros_like(var))
            self._v[k].assign(tf.zeros_like(var))
        self.steps_done.assign(0)

    # ---- the loss and one step ------------------------------------------------------------

    def _norm(self) -> dict[str, tf.Tensor]:
        return {k: v[tf.newaxis] for k, v in self.params.items()}  # [1, C] each

    def _terms(self, content: tf.Tensor, pair: tf.Tensor, flow: tf.Tensor,
               mask: tf.Tensor) -> tf.Tensor:
        """[4] weighted (content, style, tv, temporal) losses of the current parameters.

        content [N, S, S, 3] 0..1 with S = settings.size; pair [N, S, S, 3]: the frame before each content frame,
        flow [N, S, S, 2] from each content frame to its pair and mask [N, S, S, 1] where that
        flow holds (all zero when the temporal term is off).
        """
        s = self.settings
        norm = self._norm()
        out = self.net.render(content, norm)  # [N, S, S, 3]
        acts = self.features(out, [s.content_layer, *STYLE_LAYERS])
        wanted = self.features(content, [s.content_layer])[s.content_layer]
        content_loss = tf.reduce_mean(tf.square(acts[s.content_layer] - wanted))
        style_loss = tf.reduce_mean(style_distance(
            {k: gram(acts[k]) for k in STYLE_LAYERS}, self._grams)) / len(STYLE_LAYERS)
        dy, dx = out[:, 1:] - out[:, :-1], out[:, :, 1:] - out[:, :, :-1]
        tv = tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))
        if s.temporal_weight > 0:
            before = bilinear_warp(self.net.render(pair, norm), flow)  # onto the content grid
            temporal = tf.reduce_mean(mask * tf.square(out - before))
        else:
            temporal = tf.constant(0.0)
        return tf.stack([s.content_weight * content_loss, s.style_weight * style_loss,
                         s.tv_weight * tv, s.temporal_weight * temporal])

    def _step_graph(self, content, pair, flow, mask) -> tf.Tensor:
        """One Adam step on the scales and shifts; returns the loss terms before it."""
        with tf.GradientTape() as tape:
            terms = self._terms(content, pair, flow, mask)
            total = tf.reduce_sum(terms)
        grads = tape.gradient(total, list(self.params.values()))
        self.steps_done.assign_add(1)
        t = tf.cast(self.steps_done, tf.float32)
        b1, b2 = ADAM_BETAS
        rate = self.settings.learning_rate * tf.sqrt(1 - b2**t) / (1 - b1**t)
        for (k, var), g in zip(self.params.items(), grads, strict=True):
            m = self._m[k].assign(b1 * self._m[k] + (1 - b1) * g)
            v = self._v[k].assign(b2 * self._v[k] + (1 - b2) * tf.square(g))
            var.assign_sub(rate * m / (tf.sqrt(v) + 1e-8))
        return terms

    def step(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """One step on a batch ({content, pair, flow, mask}, see :meth:`_terms`; only
        `content` is needed without the temporal term) -> the weighted loss terms [4]."""
        return self._step(*self._inputs(batch)).numpy()

    def loss(self, batch: Mapping[str, np.ndarray]) -> float:
        """The total loss of the current parameters on a batch, without a step."""
        return float(tf.reduce_sum(self._loss(*self._inputs(batch))))

    @staticmethod
    def _inputs(batch: Mapping[str, np.ndarray]) -> tuple[tf.Tensor, ...]:
        content = tf.convert_to_tensor(batch["content"], tf.float32)
        zeros = tf.zeros_like(content)
        pair = tf.convert_to_tensor(batch.get("pair", zeros), tf.float32)
        flow = tf.convert_to_tensor(batch.get("flow", zeros[..., :2]), tf.float32)
        mask = tf.convert_to_tensor(batch.get("mask", zeros[..., :1]), tf.float32)
        return content, pair, flow, mask

    def render(self, images: np.ndarray, params: Mapping[str, np.ndarray] | None = None
               ) -> np.ndarray:
        """images [N, H, W, 3] 0..1 (H, W multiples of 4) in the style as it stands, or in
        `params` (a :data:`NORM_SHAPES` dict)."""
        norm = self._norm() if params is None else {
            k: tf.constant(v, tf.float32)[tf.newaxis] for k, v in params.items()}
        return self.net.render(tf.convert_to_tensor(images, tf.float32), norm).numpy()

    # ---- state ----------------------------------------------------------------------------

    def learned(self) -> dict[str, np.ndarray]:
        """The current scales and shifts, a :data:`NORM_SHAPES` dict."""
        return {k: v.numpy() for k, v in self.params.items()}

    def state(self) -> dict[str, np.ndarray]:
        """Everything a resumed fit needs: parameters, Adam's moments, the step count."""
        arrays = {f"param/{k}": v.numpy() for k, v in self.params.items()}
        arrays |= {f"m/{k}": v.numpy() for k, v in self._m.items()}
        arrays |= {f"v/{k}": v.numpy() for k, v in self._v.items()}
        return arrays | {"steps_done": np.asarray(self.steps_done.numpy())}

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        for k in self.params:
            self.params[k].assign(state[f"param/{k}"])
            self._m[k].assign(state[f"m/{k}"])
            self._v[k].assign(state[f"v/{k}"])
        self.steps_done.assign(int(state["steps_done"]))
