"""Film mode: optimisation-based style transfer, made coherent across the frames of a video.

The image itself is optimised (Gatys, Ecker & Bethge 2016, "Image Style Transfer Using
Convolutional Neural Networks", CVPR) so that its VGG16 activations at one layer match the
content photo's and its Gram matrices at several layers match the painting's; a total-variation
term keeps the high frequencies VGG does not constrain from turning into noise. For video
(Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos", GCPR) each frame starts
from the previous result warped along the optical flow of the input, and an extra temporal loss
keeps the pixels whose flow is reliable close to that warped result: the flicker of
independently optimised frames goes, and because the start is already stylised far fewer steps
are needed per frame.

Why it is built this way:
- The loss, its gradient and the optimiser's update are traced into one `tf.function`, compiled
  once per image shape and kept (a video compiles once for the coarse pass, once at full size).
- The style's Gram matrices are computed once per run and size (`StyleTarget`), from one or
  several paintings, with weights; only the content activations are computed per frame.
- Adam or L-BFGS (Gatys et al. used L-BFGS). Without SciPy or TensorFlow Probability here,
  L-BFGS is the compact two-loop recursion (Nocedal & Wright 2006, algorithm 7.4) with a
  backtracking Armijo line search, in NumPy around the compiled loss-and-gradient function.
- Coarse to fine (optional): the first frame is optimised at a lower resolution (cheap: the
  cost scales with the pixel count), its detail upsampled onto the content, then refined at
  full size with the warm-start step count, the same refinement a later video frame gets. Off
  by default: on the cat photo (451x300) it took half the time of 120 full-size steps but
  stopped at 2.2x their loss, about where the direct run is after the same time.
- Optional colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural
  Style Transfer", luminance-only transfer by colour reconstruction): the output keeps the
  content's chroma (YUV) and takes the result's luminance.

How the engine uses it (not an `Effect` of pipelines/base.py: it runs many steps per frame):

    stylizer = FilmStylizer(features, StyleTarget(features, [painting]), FilmSettings())
    for source in frames:                      # uint8 HxWx3 RGB
        out = stylizer.process(source, stabiliser.guide(source))
        stabiliser.commit(source, out)

Resuming a job (checkpointing): the stylizer keeps no state between frames beyond a frame
counter (`frame_index`, only used to label `on_step` calls); the previous output lives in the
engine's `Stabiliser`. To resume at frame k the engine must have saved, losslessly (PNG), the
output frames 0..k-1, plus the settings and the style image(s) and weights. On resume: build the
same `FilmStylizer`, set `stylizer.frame_index = k`, and prime a fresh Stabiliser with
`stabiliser.commit(source[k-1], saved_output[k-1])`; frame k then gets exactly the guide it would
have had (only DIS's flow warm start, an initial guess, is lost).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import Guide, compute_dtype
from dreamreel.pipelines.gram import STYLE_LAYERS, gram
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.vgg16 import VGG16Features

OPTIMIZERS = ("adam", "lbfgs")
PRECISIONS = ("float32", "bfloat16")
LBFGS_MEMORY = 10  # curvature pairs kept by L-BFGS
MIN_SIDE = 32  # the coarse pass is skipped when it would be smaller than this

StepCallback = Callable[[int, int, float], None]  # (frame_index, step, loss)


@dataclass
class FilmSettings:
    """How to stylise. Weights are relative to a content loss of mean squared activation error.

    content_weight, style_weight, tv_weight: weights of the content loss (mean squared error of
      `content_layer`'s activations), the style loss (mean over `style_layers` of the mean
      squared error of size-normalised Gram matrices) and the total variation (mean squared
      difference of neighbouring pixels, image in 0..1).
    content_layer: the VGG16 layer whose activations must match the content's.
    style_layers: the layers whose Gram matrices must match the style's.
    optimizer: "adam" or "lbfgs".
    steps: optimisation steps of the first frame (and after a scene cut).
    steps_warm: steps of a frame that starts from the warped previous result, and of the
      full-size refinement after a coarse pass.
    learning_rate: Adam's step size, in 0..1 image units (unused by L-BFGS).
    coarse_to_fine: scale of a first, coarse pass of `steps` steps (e.g. 0.5), or None.
    style_scale: the painting is resized to this times the content's pixel size (area) before
      its Gram matrices are taken: larger paints larger strokes.
    temporal_weight: weight of Ruder et al.'s temporal loss, mean(mask * (x - warped_prev)^2).
    preserve_color: keep the content's chroma, take only the luminance of the result.
    precision: the compute type the VGG16Features must have: "float32" or "bfloat16".
    jit: compile the step with XLA (slower than oneDNN on CPUs, see perf-notes; try it on GPUs).
    """

    # Defaults measured on chelsea_cat.png (451x300) with Van Gogh's Starry Night: see the
    # comments; block4_conv2 keeps the cat's shapes and lets the strokes cross fine fur
    # detail that block3_conv2 (at a tenth of the weight, for the same stylisation) holds on to.
    content_weight: float = setting(1.0, "weight of the content loss", low=0.0)
    # 1 leaves the photo showing through; 10 is clearly painted
    style_weight: float = setting(10.0, "weight of the Gram-matrix style loss", low=0.0)
    tv_weight: float = setting(1.0, "total-variation smoothing (default 0 for dream, 1 for gatys)",
                               low=0.0)
    content_layer: str = setting("block4_conv2", "the VGG16 layer whose activations must match "
                                 "the frame's")
    style_layers: tuple[str, ...] = setting(STYLE_LAYERS, "comma-separated VGG16 layers for the "
                                            "Gram losses")
    # Adam over 40 steps reached 24 (from 988) in 17.5 s; this L-BFGS only 864 in 15 s.
    optimizer: str = setting("adam", "the optimiser", choices=OPTIMIZERS)
    steps: int = setting(100, "steps for the first frame and after a cut", low=1,
                         flag="--first-steps")
    # On chaplin_3s.gif (320x232), frames 1-5 after the same first frame: content + style loss
    # 6.3-7.7 with 20 warm steps (falling to 4.7 by frame 35), 8.0-10.2 with 10 (the style
    # term climbs back); 20 steps keep the clip at ~5 s a frame on 2 cores.
    steps_warm: int = setting(20, "steps for later frames, warm-started", low=1,
                              flag="--warm-steps")
    learning_rate: float = setting(0.02, "Adam's step size, in 0..1 image units", low=0.0,
                                   high=1.0)
    coarse_to_fine: float | None = setting(None, "optimise the first frame at this scale first, "
                                           "then refine", low=0.0, high=1.0)
    style_scale: float = setting(1.0, "the painting's scale: 1 at the frame's area, 2 at twice "
                                 "those sides (bigger strokes above 1)", low=0.1, high=4.0)
    # 1e3 held nothing; 1e5 fought the style (test_film)
    temporal_weight: float = setting(2e4, "weight of the temporal loss on reliable pixels",
                                     low=0.0)
    preserve_color: bool = False
    # bfloat16: 2.2x faster than float32 per step, same loss reached, on a CPU that computes it
    # natively (AVX512_BF16/AMX); 3x slower where TensorFlow emulates it. The engine decides.
    precision: str = "float32"
    jit: bool = False

    def __post_init__(self) -> None:
        self.style_layers = tuple(self.style_layers)
        self.validate()

    def validate(self) -> None:
        """Raise SettingsError for settings that cannot make a picture."""
        weights = {"content_weight": self.content_weight, "style_weight": self.style_weight,
                   "tv_weight": self.tv_weight, "temporal_weight": self.temporal_weight}
        for name, value in weights.items():
            if not (math.isfinite(value) and value >= 0):
                raise SettingsError(f"{name} must be a finite number >= 0 (got {value})")
        checks = [
            (bool(self.style_layers), "style_layers must name at least one layer"),
            (self.optimizer in OPTIMIZERS,
             f"optimizer must be one of {OPTIMIZERS} (got {self.optimizer!r})"),
            (isinstance(self.steps, int) and self.steps >= 1,
             f"steps must be a whole number >= 1 (got {self.steps})"),
            (isinstance(self.steps_warm, int) and self.steps_warm >= 1,
             f"steps_warm must be a whole number >= 1 (got {self.steps_warm})"),
            (0 < self.learning_rate <= 1,
             f"learning_rate must be in (0, 1] (got {self.learning_rate})"),
            (self.coarse_to_fine is None or 0 < self.coarse_to_fine < 1,
             f"coarse_to_fine must be None or in (0, 1) (got {self.coarse_to_fine})"),
            (0.1 <= self.style_scale <= 4,
             f"style_scale must be in [0.1, 4] (got {self.style_scale})"),
            (self.precision in PRECISIONS,
             f"precision must be one of {tuple(PRECISIONS)} (got {self.precision!r})"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    def check_layers(self, features: VGG16Features) -> None:
        """Raise SettingsError for a layer `features` does not have, or the wrong precision."""
        for name in (self.content_layer, *self.style_layers):
            features.check(name)
        if features.dtype != compute_dtype(self.precision):
            raise SettingsError(f"precision is {self.precision} but the features compute in "
                                f"{features.dtype.name}: build VGG16Features(arrays, "
                                f"compute_dtype('{self.precision}'))")


def _to_float(image: np.ndarray) -> np.ndarray:
    """uint8 (0..255) or float (0..1) HxWx3 RGB -> float32 HxWx3 0..1."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise SettingsError(f"expected an RGB image [H, W, 3], got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 HxWx3 -> float32 height x width x 3 (area when shrinking, cubic when growing)."""
    if image.shape[:2] == (height, width):
        return image
    shrink = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


class StyleTarget:
    """The Gram matrices of one or several paintings, mixed by weight, per layer and size.

    The paintings are resized to the content's pixel area, then `scale` times on each side
    (aspect kept), before their Gram matrices are taken, so the strokes keep their size
    relative to the picture; the result is cached per content size, so a run computes them
    once per size it optimises at.
    """

    def __init__(
        self,
        features: VGG16Features,
        images: Sequence[np.ndarray],
        weights: Sequence[float] | None = None,
        layers: Sequence[str] = STYLE_LAYERS,
    ) -> None:
        if not images:
            raise SettingsError("a style needs at least one image")
        weights = [1.0] * len(images) if weights is None else [float(w) for w in weights]
        if len(weights) != len(images) or min(weights) < 0 or sum(weights) <= 0:
            raise SettingsError(f"style weights {weights} must be >= 0, not all 0, one per image")
        for name in layers:
            features.check(name)
        self.features, self.layers = features, tuple(layers)
        self.images = [_to_float(image) for image in images]
        self.weights = [w / sum(weights) for w in weights]
        self._cache: dict[tuple[int, int, float], dict[str, tf.Tensor]] = {}

    def grams(self, height: int, width: int, scale: float = 1.0) -> dict[str, tf.Tensor]:
        """{layer: [1, C, C]} for a `height` x `width` content at `scale`, computed once."""
        key = (height, width, scale)
        if key not in self._cache:
            mixed: dict[str, tf.Tensor] = {}
            for image, weight in zip(self.images, self.weights, strict=True):
                h, w = image.shape[:2]
                factor = scale * math.sqrt(height * width / (h * w))
                size = (max(MIN_SIDE, round(h * factor)), max(MIN_SIDE, round(w * factor)))
                resized = tf.constant(_resize(image, *size)[np.newaxis])  # [1, h', w', 3]
                acts = self.features(resized, self.layers)
                for name in self.layers:
                    g = weight * gram(acts[name])  # [1, C, C]
                    mixed[name] = mixed[name] + g if name in mixed else g
            self._cache[key] = mixed
        return self._cache[key]


@dataclass(frozen=True)
class FrameResult:
    """What one frame's optimisation reached: the loss terms (weighted) of the final image."""

    content: float
    style: float
    tv: float
    temporal: float
    steps: int
    seconds: float

    @property
    def total(self) -> float:
        return self.content + self.style + self.tv + self.temporal


class Gatys:
    """The loss of Gatys et al. (plus Ruder et al.'s temporal term) and its compiled optimisers.

    Everything that varies per frame is an argument of the compiled functions (content
    activations, warped previous result, mask, temporal weight), so each image shape is traced
    once: `_adam_step` and `_loss_and_grad` keep one concrete function per shape.
    """

    def __init__(self, features: VGG16Features, style: StyleTarget,
                 settings: FilmSettings) -> None:
        settings.validate()
        settings.check_layers(features)
        missing = set(settings.style_layers) - set(style.layers)
        if missing:
            raise SettingsError(f"the style target lacks the style layers {sorted(missing)}")
        self.features, self.style, self.settings = features, style, settings
        self.layers = [settings.content_layer, *settings.style_layers]
        self._adam_fn = tf.function(self._adam_step_graph, jit_compile=settings.jit)
        self._loss_fn = tf.function(self._loss_and_grad_graph, jit_compile=settings.jit)
        self._compiled: dict[tuple[str, tuple[int, ...]], Callable[..., tuple]] = {}

    def content_target(self, content: np.ndarray) -> tf.Tensor:
        """HxWx3 0..1 -> the content layer's activations [1, h, w, C]."""
        image = tf.constant(content[np.newaxis])  # [1, H, W, 3]
        return self.features(image, [self.settings.content_layer])[self.settings.content_layer]

    def losses(self, x: tf.Tensor, content_acts: tf.Tensor, grams: dict[str, tf.Tensor],
               warped: tf.Tensor, mask: tf.Tensor, temporal_weight: tf.Tensor) -> tf.Tensor:
        """x [1, H, W, 3] 0..1 -> [4] weighted (content, style, tv, temporal) losses.

        warped [1, H, W, 3] 0..1 and mask [1, H, W, 1] 0..1: the previous result on this frame's
        grid and where it can be trusted; temporal_weight is 0 for a frame with no past.
        """
        s = self.settings
        acts = self.features(x, self.layers)
        content = tf.reduce_mean(tf.square(acts[s.content_layer] - content_acts))
        style = tf.add_n([
            tf.reduce_mean(tf.square(gram(acts[name]) - grams[name])) for name in s.style_layers
        ]) / len(s.style_layers)
        dy = x[:, 1:] - x[:, :-1]  # [1, H-1, W, 3]
        dx = x[:, :, 1:] - x[:, :, :-1]  # [1, H, W-1, 3]
        tv = tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))
        temporal = tf.reduce_mean(mask * tf.square(x - warped))
        return tf.stack([s.content_weight * content, s.style_weight * style,
                         s.tv_weight * tv, temporal_weight * temporal])  # [4]

    def _loss_and_grad_graph(self, x: tf.Tensor, *frame: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """x [1, H, W, 3] -> (losses [4], d total / d x [1, H, W, 3])."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            parts = self.losses(x, *frame)
            total = tf.reduce_sum(parts)
        return parts, tape.gradient(total, x)

    def _adam_step_graph(self, x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, t: tf.Tensor,
                         *frame: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """One Adam step (Kingma & Ba 2015), image kept in 0..1.

        x, m, v [1, H, W, 3]; t: the step number from 1 -> (x, m, v, losses [4] of the input x).
        """
        parts, grad = self._loss_and_grad_graph(x, *frame)
        beta1, beta2 = 0.9, 0.999
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * tf.square(grad)
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        x = x - self.settings.learning_rate * m_hat / (tf.sqrt(v_hat) + 1e-8)
        return tf.clip_by_value(x, 0.0, 1.0), m, v, parts

    def _compiled_fn(self, kind: str, x: tf.Tensor, frame: tuple[tf.Tensor, ...]):
        """The concrete function `kind` ("adam" or "loss") for this shape, traced on first use."""
        key = (kind, tuple(x.shape))
        if key not in self._compiled:
            specs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), frame)
            image = tf.TensorSpec(x.shape, tf.float32)
            if kind == "adam":
                scalar = tf.TensorSpec([], tf.float32)
                self._compiled[key] = self._adam_fn.get_concrete_function(
                    image, image, image, scalar, *specs)
            else:
                self._compiled[key] = self._loss_fn.get_concrete_function(image, *specs)
        return self._compiled[key]

    def optimise(self, x0: np.ndarray, content: np.ndarray, scale: float, steps: int,
                 warped: np.ndarray | None = None, mask: np.ndarray | None = None,
                 on_step: Callable[[int, float], None] | None = None,
                 ) -> tuple[np.ndarray, FrameResult]:
        """Optimise x0 (HxWx3 0..1) toward `content` (HxWx3 0..1) for `steps` steps.

        warped (HxWx3 0..1) and mask (HxW 0..1) add the temporal loss. `scale` picks the
        style's Gram matrices (the pass's size relative to the full frame). Returns the image
        and the loss terms of the last evaluated image.
        """
        started = time.perf_counter()
        height, width = content.shape[:2]
        s = self.settings
        has_past = warped is not None and mask is not None
        frame = (
            self.content_target(content),
            self.style.grams(round(height / scale), round(width / scale), s.style_scale * scale),
            tf.constant((warped if has_past else np.zeros_like(content))[np.newaxis]),
            tf.constant((mask if has_past else np.zeros((height, width), np.float32))
                        [np.newaxis, :, :, np.newaxis]),
            tf.constant(s.temporal_weight if has_past else 0.0, tf.float32),
        )
        x = tf.constant(np.asarray(x0, np.float32)[np.newaxis])  # [1, H, W, 3]
        if s.optimizer == "adam":
            x, parts = self._adam(x, frame, steps, on_step)
        else:
            x, parts = self._lbfgs(x, frame, steps, on_step)
        values = [float(p) for p in parts]
        seconds = time.perf_counter() - started
        return x[0], FrameResult(*values, steps=steps, seconds=seconds)

    def _adam(self, x: tf.Tensor, frame: tuple, steps: int,
              on_step: Callable[[int, float], None] | None) -> tuple[np.ndarray, tf.Tensor]:
        step = self._compiled_fn("adam", x, frame)
        m = v = tf.zeros_like(x)
        parts = None
        for i in range(steps):
            x, m, v, parts = step(x, m, v, tf.constant(i + 1.0), *frame)
            if on_step is not None:
                on_step(i, float(tf.reduce_sum(parts)))
        return x.numpy(), parts

    def _lbfgs(self, x: tf.Tensor, frame: tuple, steps: int,
               on_step: Callable[[int, float], None] | None) -> tuple[np.ndarray, tf.Tensor]:
        """L-BFGS with the two-loop recursion and a backtracking Armijo line search.

        The image is clipped to 0..1 at the end only: the loss keeps it near 0..1 anyway, and
        projecting every iterate would spoil the curvature pairs.
        """
        evaluate = self._compiled_fn("loss", x, frame)
        shape = x.shape

        def loss_grad(flat: np.ndarray) -> tuple[float, np.ndarray, tf.Tensor]:
            parts, grad = evaluate(tf.constant(flat.reshape(shape), tf.float32), *frame)
            return float(tf.reduce_sum(parts)), grad.numpy().ravel().astype(np.float64), parts

        flat = x.numpy().ravel().astype(np.float64)  # [H*W*3]
        loss, grad, parts = loss_grad(flat)
        pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / y.s)
        evaluations = 1
        for i in range(steps):
            direction = -_two_loop(grad, pairs)
            slope = float(grad @ direction)
            if slope >= 0:  # not a descent direction: forget the curvature, go downhill
                pairs.clear()
                direction, slope = -grad, -float(grad @ grad)
            alpha = 1.0 if pairs else 0.01 / max(np.abs(grad).max(), 1e-12)
            while True:
                candidate = flat + alpha * direction
                new_loss, new_grad, new_parts = loss_grad(candidate)
                evaluations += 1
                if new_loss <= loss + 1e-4 * alpha * slope or alpha < 1e-8:
                    break
                alpha *= 0.5
            s_k, y_k = candidate - flat, new_grad - grad
            curvature = float(y_k @ s_k)
            if curvature > 1e-10:
                pairs.append((s_k, y_k, 1.0 / curvature))
                del pairs[:-LBFGS_MEMORY]
            flat, loss, grad, parts = candidate, new_loss, new_grad, new_parts
            if on_step is not None:
                on_step(i, loss)
        image = np.clip(flat.reshape(shape), 0.0, 1.0).astype(np.float32)
        return image, parts


def _two_loop(grad: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """The L-BFGS inverse-Hessian estimate times `grad` (Nocedal & Wright, algorithm 7.4)."""
    q = grad.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        alphas.append(a)
        q -= a * y
    if pairs:
        s, y, _ = pairs[-1]
        q *= float(s @ y) / float(y @ y)  # initial Hessian scaling gamma_k
    for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
        b = rho * float(y @ q)
        q += (a - b) * s
    return q


def preserve_color(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's chroma (YUV): HxWx3 0..1 -> HxWx3 0..1."""
    luma = cv2.cvtColor(result, cv2.COLOR_RGB2YUV)[..., :1]  # HxWx1
    chroma = cv2.cvtColor(content, cv2.COLOR_RGB2YUV)[..., 1:]  # HxWx2
    return np.clip(cv2.cvtColor(np.concatenate([luma, chroma], axis=2), cv2.COLOR_YUV2RGB), 0, 1)


class FilmStylizer:
    """Film mode for video: `process(frame_uint8, guide) -> uint8`, frame after frame.

    The first frame, and the first after a cut (guide None or is_cut), starts from the content
    and runs `steps` (after an optional coarse pass). A later frame starts from the warped
    previous result where the mask is reliable and from the content where it is not (pixels
    disoccluded since the last frame), and runs `steps_warm` steps with the temporal loss.
    `on_step(frame_index, step, loss)` is called after every step; `last` holds the loss terms
    the latest frame reached. See the module docstring for what resuming a job needs.
    """

    def __init__(self, features: VGG16Features, style_target: StyleTarget,
                 settings: FilmSettings, on_step: StepCallback | None = None) -> None:
        self.gatys = Gatys(features, style_target, settings)
        self.settings = settings
        self.on_step = on_step
        self.frame_index = 0
        self.last: FrameResult | None = None

    def process(self, frame_uint8: np.ndarray, guide: Guide | None = None) -> np.ndarray:
        """uint8 HxWx3 RGB (guide: from `Stabiliser.guide`) -> uint8 HxWx3 RGB."""
        content = _to_float(frame_uint8)
        index = self.frame_index
        report = None if self.on_step is None else (lambda i, loss: self.on_step(index, i, loss))
        if guide is None or guide.is_cut:
            result = self.first_frame(content, report)
        else:
            mask = guide.mask.astype(np.float32)  # HxW
            warped = guide.warped_prev.astype(np.float32) / 255.0  # HxWx3
            init = mask[..., None] * warped + (1 - mask[..., None]) * content  # HxWx3
            result, self.last = self.gatys.optimise(
                init, content, 1.0, self.settings.steps_warm, warped, mask, report)
        if self.settings.preserve_color:
            result = preserve_color(result, content)
        self.frame_index += 1
        return np.clip(np.rint(result * 255.0), 0, 255).astype(np.uint8)

    def first_frame(self, content: np.ndarray,
                    on_step: Callable[[int, float], None] | None = None) -> np.ndarray:
        """HxWx3 0..1 -> stylised HxWx3 0..1 from the content alone (coarse, then fine)."""
        s = self.settings
        height, width = content.shape[:2]
        scale = s.coarse_to_fine
        if scale is None or min(height, width) * scale < MIN_SIDE:
            result, self.last = self.gatys.optimise(content, content, 1.0, s.steps,
                                                    on_step=on_step)
            return result
        small = _resize(content, round(height * scale), round(width * scale))
        coarse, first = self.gatys.optimise(small, small, scale, s.steps, on_step=on_step)
        # The coarse result's detail is upsampled onto the full-size content.
        init = np.clip(content + _resize(coarse - small, height, width), 0, 1)
        offset = None if on_step is None else (lambda i, loss: on_step(s.steps + i, loss))
        result, fine = self.gatys.optimise(init, content, 1.0, s.steps_warm, on_step=offset)
        self.last = FrameResult(fine.content, fine.style, fine.tv, fine.temporal,
                                first.steps + fine.steps, first.seconds + fine.seconds)
        return result


def stylize(image: np.ndarray, features: VGG16Features, style: StyleTarget,
            settings: FilmSettings) -> np.ndarray:
    """One picture: uint8 HxWx3 RGB -> stylised uint8 HxWx3 RGB."""
    return FilmStylizer(features, style, settings).process(image)
