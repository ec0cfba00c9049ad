"""DeepDream: gradient ascent on the image to amplify what a layer of VGG16 sees in it.

After Mordvintsev, Olah & Tyka 2015, "Inceptionism: Going Deeper into Neural Networks" (the
Google Research blog post and its deepdream notebook), structured like the keras-io
`deep_dream` example: the layer choice is data (`DreamSettings.layers`), the feature
extractor returns a dict keyed by layer name, and only the ascent step is compiled.

How the engine uses it: the ascent is iterative (octaves x steps compiled calls, with a
random shift drawn between calls), so it is not a single graph of the frame and does NOT
follow the `Effect.__call__` protocol of pipelines/base.py (it cannot go in a `Chain`).
Instead:
- `dream(images, features, settings, seed, init)`: float32 RGB 0..1 in and out, one call.
- `DreamEffect(features, settings, seed).process(frames_uint8, init=None) -> uint8`: the
  per-frame path. It keeps the compiled steps (one per octave shape) across frames and one
  random generator, so a video compiles once and a fixed seed repeats. For video feedback,
  pass the previous frame's dream warped to the current frame as `init`.
- `zoom_frame(image, zoom, rotate_deg)`: the per-frame affine of fractal-zoom videos.

The pieces, and why:
- Octaves (from the notebook): dream at the smallest scale first, then carry the *detail*
  (dreamed image minus that octave's downscaled original) up to the next scale, so patterns
  grow at several sizes without the full-size image drifting from the source.
- Jitter: the image is rolled by a random shift before each gradient and the gradient rolled
  back, which averages out the network's fixed stride-grid artefacts.
- Tiles: a large frame's gradient is computed tile by tile (one tile's activations in memory
  at a time) and stitched. Tile edges sit on the network's pooling grid, each tile overlaps
  its neighbours by half a receptive field (48 px for block4_conv3: about 1.15x the work at
  640x480), the objective is normalised by the whole image's size, and the random roll moves
  the seams every step. So the stitched gradient equals the untiled one beyond a receptive
  field of a seam and is close to it (about 1% relative) at the seam; without the overlap the
  zero padding of each tile made the gradient at the seam some 30% off.
- The gradient is normalised by its standard deviation per image, so `step_size` is in image
  units (0..1) whatever the layer's scale; the image is clipped to 0..1 after each step.
- Guided dreams (the notebook's "controlling dreams"; Kadenze "Creative Applications of Deep
  Learning with TensorFlow", session 4): each of the image's feature vectors is pulled toward
  the guide's feature vector it best matches by dot product.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.vgg16 import VGG16Features

OBJECTIVES = ("mean", "l2")
MIN_OCTAVE_SIDE = 32  # smaller octaves are skipped: a few activations at block4 say nothing
GUIDE_MAX_SIDE = 512  # the guide is shrunk to this: it bounds the positions x guide match matrix


def parse_layer_key(key: str) -> tuple[str, int | None]:
    """'block4_conv3' -> ('block4_conv3', None); 'block4_conv3:12' -> ('block4_conv3', 12)."""
    name, sep, channel = key.partition(":")
    if not sep:
        return name, None
    if not channel.isdigit():
        raise SettingsError(f"layer '{key}': the channel after ':' must be a whole number >= 0")
    return name, int(channel)


def parse_layers(spec: str) -> dict[str, float]:
    """A command-line layer spec: 'block4_conv3', or 'block4_conv3:12=0.5,block5_conv1=1'."""
    layers: dict[str, float] = {}
    for part in spec.split(","):
        key, sep, weight = part.strip().partition("=")
        try:
            layers[key] = float(weight) if sep else 1.0
        except ValueError:
            raise SettingsError(f"layer weight '{weight}' in '{spec}' is not a number") from None
    return layers


@dataclass
class DreamSettings:
    """What to dream and how. Defaults give the classic look on a 640x480 photo.

    layers: {layer or "layer:channel": weight}; the objective is the weighted sum.
    objective: "mean" (mean activation, the keras-io example) or "l2" (half the mean square,
      the notebook's default: favours what is already strong).
    steps: gradient steps per octave. step_size: per step, in 0..1 image units (the gradient
      is normalised to unit standard deviation).
    octaves, octave_scale: number of scales, and the size ratio between neighbouring scales.
    jitter: largest random shift in pixels, drawn per step on each axis.
    tile_size: the largest tile side for the gradient (0: never tile).
    guide: an RGB 0..1 [H, W, 3] image; if set, the objective pulls the image's features
      toward the guide's best-matching features at the chosen layers (whole layers only).
    tv_weight: weight of a smoothing step (gradient of half the squared total variation),
      added after normalisation; 0 disables it.
    jit: compile the step with XLA (slower than oneDNN on CPUs, see perf-notes; try it on GPUs).
    """

    layers: dict[str, float] = field(default_factory=lambda: {"block4_conv3": 1.0})
    objective: str = "mean"
    steps: int = 10
    step_size: float = 0.008
    octaves: int = 4
    octave_scale: float = 1.4
    jitter: int = 32
    tile_size: int = 512
    guide: np.ndarray | None = None
    tv_weight: float = 0.0
    jit: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise SettingsError for settings that cannot make a dream."""
        if not isinstance(self.layers, dict) or not self.layers:
            raise SettingsError("layers must be a non-empty dict of layer name -> weight")
        for key, weight in self.layers.items():
            _, channel = parse_layer_key(key)
            if not math.isfinite(weight):
                raise SettingsError(f"layer '{key}' has weight {weight}, not a finite number")
            if channel is not None and self.guide is not None:
                raise SettingsError(f"layer '{key}': a guided dream matches whole layers, "
                                    "not single channels")
        if not any(self.layers.values()):
            raise SettingsError("every layer weight is 0: nothing to dream")
        if self.objective not in OBJECTIVES:
            raise SettingsError(f"objective '{self.objective}' is not one of {OBJECTIVES}")
        checks = [
            (self.steps >= 1, f"steps must be >= 1 (got {self.steps})"),
            (0 < self.step_size <= 1, f"step_size must be in (0, 1] (got {self.step_size})"),
            (self.octaves >= 1, f"octaves must be >= 1 (got {self.octaves})"),
            (1 < self.octave_scale <= 4 or self.octaves == 1,
             f"octave_scale must be in (1, 4] (got {self.octave_scale})"),
            (self.jitter >= 0, f"jitter must be >= 0 pixels (got {self.jitter})"),
            (self.tile_size == 0 or self.tile_size >= 64,
             f"tile_size must be 0 (no tiles) or >= 64 (got {self.tile_size})"),
            (self.tv_weight >= 0, f"tv_weight must be >= 0 (got {self.tv_weight})"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)
        if self.guide is not None:
            guide = np.asarray(self.guide)
            if guide.ndim != 3 or guide.shape[2] != 3 or min(guide.shape[:2]) < 16:
                raise SettingsError(f"guide must be an RGB image [H, W, 3], at least 16 px "
                                    f"(got shape {guide.shape})")


def octave_sizes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """(height, width) of each octave, smallest first, ending at the full size."""
    sizes = []
    for i in reversed(range(octaves)):
        h, w = round(height / scale**i), round(width / scale**i)
        if i == 0 or min(h, w) >= MIN_OCTAVE_SIDE:
            sizes.append((h, w))
    return sizes


def tile_spans(size: int, tile: int, grid: int) -> list[tuple[int, int]]:
    """Split 0..size into ceil(size / tile) near-equal spans with inner edges on multiples of
    `grid` (the network's pooling stride), so a tile sees the same pooling grid as the image."""
    count = max(1, math.ceil(size / tile)) if tile else 1
    edges = [0] + [round(i * size / count / grid) * grid for i in range(1, count)] + [size]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _resize(images: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """[N, h, w, C] -> [N, *size, C], bilinear (antialiased when shrinking)."""
    if tuple(images.shape[1:3]) == tuple(size):
        return images
    return tf.image.resize(images, size, method="bilinear", antialias=True)


def _tv_gradient(images: tf.Tensor) -> tf.Tensor:
    """Gradient of half the squared total variation, [N, H, W, 3]: a discrete -Laplacian."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        dy = images[:, 1:] - images[:, :-1]  # [N, H-1, W, 3]
        dx = images[:, :, 1:] - images[:, :, :-1]  # [N, H, W-1, 3]
        tv = 0.5 * (tf.reduce_sum(dy**2) + tf.reduce_sum(dx**2))
    return tape.gradient(tv, images)


class Dreamer:
    """The dream of one network with one settings object: objective, gradient, compiled step.

    The step is compiled once per image shape (`tf.function` concrete functions kept in a
    dict), so each octave size compiles once per run, and once per video.
    """

    def __init__(self, features: VGG16Features, settings: DreamSettings) -> None:
        settings.validate()
        self.features, self.settings = features, settings
        self.targets: list[tuple[str, int | None, float]] = []
        for key, weight in settings.layers.items():
            name, channel = parse_layer_key(key)
            features.check(name)
            if channel is not None and channel >= features.channels(name):
                raise SettingsError(f"layer '{key}': {name} has channels "
                                    f"0..{features.channels(name) - 1}")
            self.targets.append((name, channel, float(weight)))
        self.names = sorted({name for name, _, _ in self.targets}, key=features.layers.index)
        self.grid = max(features.stride(name) for name in self.names)
        # Half the deepest layer's receptive field, on the pooling grid: a tile's overlap.
        half_field = max(features.receptive_field(name) for name in self.names) / 2
        self.margin = math.ceil(half_field / self.grid) * self.grid
        self.guide = None if settings.guide is None else self._guide_features(settings.guide)
        self._step_fn = tf.function(self._step, jit_compile=settings.jit)
        self._steps: dict[tuple[int, ...], Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = {}

    def _guide_features(self, guide: np.ndarray) -> dict[str, tf.Tensor]:
        """The guide's feature vectors per layer: {layer: [Q, C]}."""
        image = tf.constant(np.asarray(guide, np.float32)[np.newaxis])  # [1, h, w, 3]
        h, w = image.shape[1:3]
        shrink = min(1.0, GUIDE_MAX_SIDE / max(h, w))
        image = _resize(image, (round(h * shrink), round(w * shrink)))
        acts = self.features(image, self.names)
        return {name: tf.reshape(a, [-1, a.shape[-1]]) for name, a in acts.items()}

    def default_weights(self) -> np.ndarray:
        """The settings' layer weights, in `targets` order: [T] float32."""
        return np.array([weight for _, _, weight in self.targets], np.float32)

    def depth(self, weights: np.ndarray) -> int:
        """How many of `names` the forward pass needs for these layer weights: up to the
        deepest layer weighted other than 0 (a live show's extra layers often are 0)."""
        used = [name for (name, _, _), w in zip(self.targets, weights, strict=True) if w != 0]
        return max((self.names.index(name) for name in used), default=0) + 1

    def objective(self, images: tf.Tensor, pixels: int | None = None,
                  weights: tf.Tensor | None = None, depth: int | None = None) -> tf.Tensor:
        """images [N, h, w, 3] RGB 0..1 -> [N]: the weighted objective of each image.

        Sums are divided by the activation count of a `pixels`-pixel image (default: these
        images'), so the objectives of tiles add up to the whole image's. `weights` ([T], one
        per target) replaces the settings' layer weights, so a live show can move between
        layers without a new graph. `depth` stops the network after the first `depth` of
        `names` (deeper targets must then be weighted 0): block3_conv3 alone costs two
        thirds of a step through block5_conv1.
        """
        pixels = pixels or images.shape[1] * images.shape[2]
        if weights is None:
            weights = tf.constant(self.default_weights())
        names = self.names[:depth]
        acts = self.features(images, names)
        total = tf.zeros(tf.shape(images)[:1])  # [N]
        for i, (name, channel, _) in enumerate(self.targets):
            if name not in names:
                continue
            weight = weights[i]
            a = acts[name]  # [N, h/s, w/s, C]
            if channel is not None:
                a = a[..., channel : channel + 1]  # [N, h/s, w/s, 1]
            if self.guide is not None:
                value = self._matched(a, self.guide[name])
            elif self.settings.objective == "l2":
                value = 0.5 * tf.reduce_sum(tf.square(a), axis=[1, 2, 3])
            else:
                value = tf.reduce_sum(a, axis=[1, 2, 3])
            count = pixels / self.features.stride(name) ** 2 * a.shape[-1]
            total += weight * value / count
        return total

    @staticmethod
    def _matched(acts: tf.Tensor, guide: tf.Tensor) -> tf.Tensor:
        """Sum over positions of each feature vector dotted with its best-matching guide vector.

        acts [N, h, w, C], guide [Q, C] -> [N]. The gradient w.r.t. each feature vector is the
        matched guide vector (the notebook's `y[:, A.argmax(1)]`).
        """
        flat = tf.reshape(acts, [tf.shape(acts)[0], -1, acts.shape[-1]])  # [N, P, C]
        best = tf.argmax(tf.einsum("npc,qc->npq", flat, guide), axis=2)  # [N, P]
        return tf.reduce_sum(flat * tf.gather(guide, best), axis=[1, 2])  # [N]

    def gradient(self, images: tf.Tensor, weights: tf.Tensor | None = None,
                 depth: int | None = None) -> tf.Tensor:
        """d objective / d images, [N, H, W, 3], tile by tile when larger than tile_size.

        Each tile is widened by `margin` pixels of its neighbours (where it has any) and only
        its own span of the gradient is kept, so pixels near a seam still see real image
        rather than padding. The tiles run one after another (each waits for the previous
        tile's gradient), so only one tile's activations are held at a time.
        """
        _, height, width, _ = images.shape
        tile, m = self.settings.tile_size, self.margin
        rows, previous = [], None
        for y0, y1 in tile_spans(height, tile, self.grid):
            row = []
            for x0, x1 in tile_spans(width, tile, self.grid):
                top, left = max(0, y0 - m), max(0, x0 - m)
                part = images[:, top : min(height, y1 + m), left : min(width, x1 + m)]
                if previous is not None:
                    with tf.control_dependencies([previous]):
                        part = tf.identity(part)  # [N, th + margins, tw + margins, 3]
                with tf.GradientTape() as tape:
                    tape.watch(part)
                    value = tf.reduce_sum(self.objective(part, height * width, weights, depth))
                grad = tape.gradient(value, part)
                previous = grad[:, y0 - top : y1 - top, x0 - left : x1 - left]  # [N, th, tw, 3]
                row.append(previous)
            rows.append(tf.concat(row, axis=2))  # [N, th, W, 3]
        return tf.concat(rows, axis=1)  # [N, H, W, 3]

    def _step(self, images: tf.Tensor, shift: tf.Tensor, weights: tf.Tensor,
              step_size: tf.Tensor, depth: int) -> tf.Tensor:
        """One ascent step: images [N, H, W, 3] 0..1, shift [2] int32, layer weights [T],
        step size [] -> images [N, H, W, 3]; `depth` as in `objective` (one graph each)."""
        rolled = tf.roll(images, shift, axis=[1, 2])
        grad = tf.roll(self.gradient(rolled, weights, depth), -shift, axis=[1, 2])  # [N, H, W, 3]
        grad /= tf.math.reduce_std(grad, axis=[1, 2, 3], keepdims=True) + 1e-8
        if self.settings.tv_weight:
            grad -= self.settings.tv_weight * _tv_gradient(images)
        return tf.clip_by_value(images + step_size * grad, 0.0, 1.0)

    def step(self, images: tf.Tensor, shift: np.ndarray, weights: np.ndarray | None = None,
             step_size: float | None = None) -> tf.Tensor:
        """The compiled step for this shape and depth (traced on first use), applied once;
        `weights` and `step_size` default to the settings'."""
        weights = self.default_weights() if weights is None else np.asarray(weights, np.float32)
        key = (*images.shape, self.depth(weights))
        if key not in self._steps:
            self._steps[key] = self._step_fn.get_concrete_function(
                tf.TensorSpec(images.shape, tf.float32), tf.TensorSpec([2], tf.int32),
                tf.TensorSpec([len(self.targets)], tf.float32), tf.TensorSpec([], tf.float32),
                key[-1],
            )
        step_size = self.settings.step_size if step_size is None else step_size
        return self._steps[key](images, tf.constant(shift, tf.int32), tf.constant(weights),
                                tf.constant(step_size, tf.float32))

    def random_shift(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """The roll of one step: jitter, plus a random tile offset when the image is tiled."""
        jitter = self.settings.jitter
        shift = rng.integers(-jitter, jitter + 1, size=2)
        tile = self.settings.tile_size
        if tile and max(height, width) > tile:
            shift += rng.integers(0, tile, size=2)
        return shift.astype(np.int32)

    def run(
        self, images: np.ndarray, rng: np.random.Generator, init: np.ndarray | None = None,
        weights: np.ndarray | None = None, step_size: float | None = None,
    ) -> np.ndarray:
        """images [N, H, W, 3] float32 RGB 0..1 -> dreamed [N, H, W, 3] float32 0..1.

        `init` ([N, H, W, 3] 0..1) starts the ascent from another image (e.g. the previous
        frame's dream warped to this frame). The octave bases stay the source's; the init's
        difference from the source enters band by band (a Laplacian pyramid), so with no steps
        the result would be `init` itself. `weights` and `step_size` as for `step`.
        """
        images = _check_images(images, "images")
        _, height, width, _ = images.shape
        if min(height, width) < self.grid:
            raise SettingsError(f"image {width}x{height} is smaller than the {self.grid}-pixel "
                                f"stride of layer {self.names[-1]}")
        s = self.settings
        sizes = octave_sizes(height, width, s.octaves, s.octave_scale)
        source = tf.constant(images)  # [N, H, W, 3]
        offset = None
        if init is not None:
            init = _check_images(init, "init")
            if init.shape != images.shape:
                raise SettingsError(f"init has shape {init.shape}, images {images.shape}")
            offset = tf.constant(init) - source  # [N, H, W, 3]
        image, base = None, None
        for size in sizes:
            new_base = _resize(source, size)  # [N, h, w, 3]
            if image is None:
                image = new_base
            else:
                image = new_base + _resize(image - base, size)  # carry the detail up
            if offset is not None:
                band = _resize(offset, size)
                if base is not None:
                    band -= _resize(_resize(offset, tuple(base.shape[1:3])), size)
                image += band
            base = new_base
            for _ in range(s.steps):
                image = self.step(image, self.random_shift(rng, *size), weights, step_size)
        return image.numpy()


def _check_images(images: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(images, np.float32)
    if array.ndim != 4 or array.shape[3] != 3:
        raise SettingsError(f"{what} must be [N, H, W, 3] RGB, got shape {array.shape}")
    return array


def dream(
    images_rgb01: np.ndarray,
    features: VGG16Features,
    settings: DreamSettings,
    seed: int | None = None,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Dream [N, H, W, 3] float32 RGB 0..1 frames; the same seed gives the same output."""
    return Dreamer(features, settings).run(images_rgb01, np.random.default_rng(seed), init)


class DreamEffect:
    """Dreams uint8 frames: `process(frames, init, index) -> uint8` (see module doc).

    It runs several compiled steps per frame, so it is driven from NumPy, not traced into a
    chain. Its compiled steps live as long as it does. The random shifts of frame `index` are
    drawn from a generator seeded by (seed, index), so a frame dreams the same whatever was
    dreamed before it (a resumed job, a chunk on another machine).
    """

    def __init__(self, features: VGG16Features, settings: DreamSettings,
                 seed: int | None = None) -> None:
        self.dreamer = Dreamer(features, settings)
        self.seed = 0 if seed is None else seed

    def process(self, frames_uint8: np.ndarray, init: np.ndarray | None = None, index: int = 0,
                weights: np.ndarray | None = None, step_size: float | None = None) -> np.ndarray:
        """frames [N, H, W, 3] uint8 RGB (init: uint8, or float32 0..1) -> [N, H, W, 3] uint8.
        `weights` (one per `dreamer.targets`) and `step_size` default to the settings'."""
        frames = np.asarray(frames_uint8, np.float32) / 255.0
        if init is not None and np.asarray(init).dtype == np.uint8:
            init = np.asarray(init, np.float32) / 255.0
        rng = np.random.default_rng([self.seed, index])
        out = self.dreamer.run(frames, rng, init, weights, step_size)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def zoom_frame(image: np.ndarray, zoom: float, rotate_deg: float = 0.0) -> np.ndarray:
    """Zoom by `zoom` (> 1: in) and rotate by `rotate_deg` (counter-clockwise) about the centre.

    [H, W, C] uint8 or float32 -> same shape and dtype; the border reflects, so a zoom-out or a
    rotation fills corners with picture rather than black (the next dream paints over them).
    """
    if not zoom > 0:
        raise SettingsError(f"zoom must be > 0 (got {zoom})")
    height, width = image.shape[:2]
    centre = ((width - 1) / 2, (height - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, rotate_deg, zoom)  # [2, 3]
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
