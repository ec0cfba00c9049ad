"""The 26-style feed-forward stylization network, rebuilt as a TensorFlow graph.

Dumoulin, Shlens and Kudlur, "A Learned Representation for Artistic Style" (ICLR 2017): one
image transformation network shared by many styles, where every instance normalization layer has
a per-style scale ``gamma[s]`` and shift ``beta[s]`` ("conditional instance normalization"). A
convex mixture ``w`` over the styles mixes the parameters, ``gamma = w @ gamma_table``, which
blends the styles.

The weights are those of ``multistyle26.onnx`` (the TensorFlow Android "stylize" demo network),
read through :func:`dreamreel.weights.load`. What the ONNX graph does, read node by node:

* every conv has no bias and is preceded by a *reflection* pad of ``kernel // 2``;
* ``contract.0`` 9x9 3->32, ``contract.1`` / ``contract.2`` 3x3 stride 2 32->32;
* six residual blocks ``res.i``: ``x + IN(conv(relu(IN(conv(x)))))`` (no ReLU after the sum);
* ``expand.0`` / ``expand.1``: nearest 2x upsampling (asymmetric, floor) then 3x3 conv
  32->8 and 8->4; ``expand.2`` 9x9 4->3; every conv is followed by conditional instance norm,
  ReLU everywhere except the last, which goes through a sigmoid;
* instance norm: biased variance over H, W, ``eps = 1e-5``.

Everything here is plain TensorFlow (NHWC, float32 by default), free of Python side effects, so a
caller may wrap :class:`MultiStyleNet` in ``tf.function(jit_compile=True|False)``.

Speed on CPU (oneDNN): the net is small (~2.5 GFLOP at 320x240), so its time goes to the
memory-bound ops around the convs rather than to the convs. :class:`MultiStyleNet` therefore keeps
activations in the conv dtype from layer to layer, reflection-pads with slices + concat (faster
than ``MirrorPad``) and normalizes with :func:`conditional_instance_norm` (one fused kernel where
it pays off): 1.7-2x faster in bfloat16, 1.2-1.3x in float32 than a cast, pad and
``tf.nn.moments`` around every conv (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.style.layout import (
    CONTRACT,
    EXPAND,
    LAYERS,
    NUM_STYLES,
    RESIDUAL,
    STRIDE,
    Layer,
    check_norm_params,
    check_upsampling,
)

__all__ = [
    "MultiStyleNet",
    "conditional_instance_norm",
    "conv2d",
    "one_at_a_time",
    "reflect_pad",
    "upsample_2x",
    "upsample_nearest_2x",
]

IN_EPS = 1e-5
"""Instance-norm epsilon, read from the ONNX graph (``/.../norm/Constant_4_output_0``)."""


# --------------------------------------------------------------------------------------------
# Building blocks shared with the Magenta rebuild (pipelines/style/magenta.py).
# --------------------------------------------------------------------------------------------


def check_dtype(dtype: tf.DType) -> None:
    """Reject a compute type the layers do not support."""
    if dtype not in (tf.float32, tf.bfloat16):
        raise ValueError(f"dtype must be tf.float32 or tf.bfloat16, got {dtype}")


def oihw_to_hwio(kernel: np.ndarray) -> np.ndarray:
    """ONNX/PyTorch conv kernel [O, I, kh, kw] -> TensorFlow [kh, kw, I, O]."""
    return np.ascontiguousarray(np.transpose(kernel, (2, 3, 1, 0)), dtype=np.float32)


def conv2d(
    x: tf.Tensor,
    kernel: tf.Tensor,
    *,
    stride: int = 1,
    padding: str = "VALID",
    bias: tf.Tensor | None = None,
) -> tf.Tensor:
    """Conv in the kernel's dtype, result back in float32.

    x: [N, H, W, Cin] float32; kernel: [k, k, Cin, Cout] (float32 or bfloat16).
    Returns [N, H', W', Cout] float32.
    """
    x = tf.cast(x, kernel.dtype)
    y = tf.nn.conv2d(x, kernel, strides=stride, padding=padding)
    y = tf.cast(y, tf.float32)
    if bias is not None:
        y = y + bias  # [Cout] broadcast
    return y


def reflect_pad(x: tf.Tensor, pad: int) -> tf.Tensor:
    """Reflection pad of H and W by ``pad`` (< H, W), like ``tf.pad(mode="REFLECT")``.

    Built from slices + concat, which oneDNN builds of TensorFlow run faster than ``MirrorPad``.
    """
    if pad == 0:
        return x
    x = tf.concat([x[:, pad:0:-1], x, x[:, -2 : -pad - 2 : -1]], axis=1)  # rows p..1, all, -2..
    return tf.concat([x[:, :, pad:0:-1], x, x[:, :, -2 : -pad - 2 : -1]], axis=2)


FUSED_NORM_MIN_CHANNELS = 32
"""Below this many channels oneDNN's fused batch norm is slower than plain reductions (it is
~3-5x slower at 320x240x3/4), so :func:`conditional_instance_norm` takes plain reductions."""


def conditional_instance_norm(
    x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, *, relu: bool, eps: float = IN_EPS
) -> tf.Tensor:
    """Instance norm with per-sample scale and shift (+ optional ReLU), in ``x``'s dtype.

    ``(x - mean_hw) / sqrt(var_hw + eps) * gamma + beta`` (biased variance, as in the ONNX
    graphs). x: [N, H, W, C] float32 or bfloat16; gamma, beta: [N or 1, C] float32. Statistics
    are float32 either way. Returns [N, H, W, C] in x's dtype.

    With one image and one mixture (static N == 1) and C >= :data:`FUSED_NORM_MIN_CHANNELS`,
    batch norm in training mode *is* instance norm (biased variance), so it runs as a single
    ``FusedBatchNormV3`` kernel (under XLA it agrees with the plain graph to 4e-3 at 640x480,
    about one level of 255). Otherwise: sums over rows then columns of the [N, H, W*C] view
    (contiguous reductions), E[x^2] - E[x]^2, and the affine map on that same view.
    """
    c = x.shape[-1]
    if x.shape[0] == 1 and gamma.shape[0] == 1 and c >= FUSED_NORM_MIN_CHANNELS:
        y = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma[0], offset=beta[0], mean=tf.zeros([0]), variance=tf.zeros([0]),
            epsilon=eps, exponential_avg_factor=1.0, data_format="NHWC", is_training=True,
        )[0]
        return tf.nn.relu(y) if relu else y
    shape = tf.shape(x)
    h, w = shape[1], shape[2]
    rows = tf.reshape(tf.cast(x, tf.float32), tf.stack([shape[0], h, w * c]))  # [N, H, W*C]
    count = tf.cast(h * w, tf.float32)
    total = tf.reduce_sum(tf.reshape(tf.reduce_sum(rows, 1), tf.stack([-1, w, c])), 1)  # [N, C]
    squares = tf.reduce_sum(tf.reshape(tf.reduce_sum(tf.square(rows), 1), tf.stack([-1, w, c])), 1)
    mean = total / count
    var = tf.maximum(squares / count - tf.square(mean), 0.0)  # [N, C], biased
    scale = gamma * tf.math.rsqrt(var + eps)  # [N or 1, C]
    shift = beta - mean * scale  # [N, C]
    # [N, C] -> [N, 1, W*C], matching the channel-minor layout of the rows
    rows = rows * tf.tile(scale, tf.stack([1, w]))[:, tf.newaxis] + tf.tile(
        shift, tf.stack([1, w])
    )[:, tf.newaxis]
    if relu:
        rows = tf.nn.relu(rows)
    return tf.reshape(tf.cast(rows, x.dtype), shape)


def one_at_a_time(images: tf.Tensor) -> bool:
    """Whether to run a batch image by image: with one image, every 32-channel instance norm
    is a single fused kernel, which made a batch of 4 run 1.5x faster than batched reductions
    (benchmarks/RESULTS.md). The loop is unrolled at trace time (static batch size)."""
    return images.shape[0] is not None and images.shape[0] > 1


def upsample_nearest_2x(x: tf.Tensor) -> tf.Tensor:
    """Nearest-neighbour 2x upsampling, [N, H, W, C] -> [N, 2H, 2W, C].

    Equals ONNX ``Resize(mode=nearest, coordinate_transformation_mode=asymmetric,
    nearest_mode=floor, scales=[1, 1, 2, 2])``: output pixel (i, j) copies input (i // 2, j // 2).
    """
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    c = x.shape[-1] if x.shape[-1] is not None else shape[3]
    x = x[:, :, tf.newaxis, :, tf.newaxis, :]  # [N, H, 1, W, 1, C]
    x = tf.broadcast_to(x, tf.stack([n, h, 2, w, 2, c]))  # [N, H, 2, W, 2, C]
    return tf.reshape(x, tf.stack([n, 2 * h, 2 * w, c]))  # [N, 2H, 2W, C]


def upsample_2x(x: tf.Tensor, method: str = "nearest") -> tf.Tensor:
    """2x upsampling [N, H, W, C] -> [N, 2H, 2W, C] by one of :data:`~dreamreel.pipelines.style.layout.UPSAMPLING`, in x's dtype."""
    check_upsampling(method)
    if method == "nearest":
        return upsample_nearest_2x(x)
    shape = tf.shape(x)  # bilinear, with half-pixel centres: symmetric, no shift
    up = tf.image.resize(tf.cast(x, tf.float32), tf.stack([2 * shape[1], 2 * shape[2]]))
    return tf.cast(up, x.dtype)


def check_spatial(images: tf.Tensor, stride: int, where: str) -> None:
    """Trace-time check (static shapes only) that H and W are multiples of ``stride``."""
    if images.shape.rank != 4 or images.shape[-1] != 3:
        raise ValueError(f"{where}: expected images [N, H, W, 3], got {images.shape}")
    for dim in images.shape[1:3]:
        if dim is not None and dim % stride:
            raise ValueError(
                f"{where}: H and W must be multiples of {stride}, got {images.shape[1:3]}"
            )


# --------------------------------------------------------------------------------------------


class MultiStyleNet(tf.Module):
    """Dumoulin et al. 2017 conditional-instance-norm network with 26 built-in styles.

    ``net(images, style_weights)``:

    * images: float32 [N, H, W, 3], RGB in 0..1, H and W multiples of :data:`~dreamreel.pipelines.style.layout.STRIDE`;
    * style_weights: float32 [S] (one mixture for the whole batch) or [N, S] (one per image),
      S = ``num_styles``: the 26 built-in styles, then the learned ones given as ``extra``
      (each a :data:`~dreamreel.pipelines.style.layout.NORM_SHAPES` dict); a one-hot vector selects a style, a convex
      combination blends styles;
    * returns float32 [N, H, W, 3] in 0..1.

    ``dtype=tf.bfloat16`` runs the convolutions in bfloat16 (kernels stored in bfloat16) and
    keeps the activations between layers in bfloat16, while instance-norm statistics, the residual
    sums and the output stay float32. ``upsampling`` is one of :data:`~dreamreel.pipelines.style.layout.UPSAMPLING`.
    ``trainable=True`` (float32 only) holds the kernels as variables, ``trainable_variables``,
    so that the network itself can be fine-tuned (pipelines/style/steady.py).
    """

    stride: int = STRIDE

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        extra: Sequence[Mapping[str, np.ndarray]] = (),
        dtype: tf.DType = tf.float32,
        upsampling: str = "nearest",
        name: str = "multistyle26",
        trainable: bool = False,
    ) -> None:
        super().__init__(name=name)
        check_dtype(dtype)
        if trainable and dtype != tf.float32:
            raise ValueError("only a float32 network can be trained")
        check_upsampling(upsampling)
        self.dtype, self.upsampling = dtype, upsampling
        self.num_styles = NUM_STYLES + len(extra)
        self._kernels: dict[str, tf.Tensor | tf.Variable] = {}  # name -> [k, k, Cin, Cout]
        self._gamma: dict[str, tf.Tensor] = {}  # name -> [num_styles, Cout] float32
        self._beta: dict[str, tf.Tensor] = {}  # name -> [num_styles, Cout] float32
        for style in extra:
            check_norm_params(style)
        with self.name_scope:
            for layer in LAYERS:
                w = np.asarray(arrays[f"{layer.name}.w"], dtype=np.float32)
                gamma = np.asarray(arrays[f"{layer.name}.norm.gamma"], dtype=np.float32)
                beta = np.asarray(arrays[f"{layer.name}.norm.beta"], dtype=np.float32)
                want = (layer.cout, layer.cin, layer.kernel, layer.kernel)
                assert w.shape == want, f"{layer.name}.w: {w.shape} != {want}"
                assert gamma.shape == (NUM_STYLES, layer.cout), f"{layer.name}.gamma {gamma.shape}"
                assert beta.shape == (NUM_STYLES, layer.cout), f"{layer.name}.beta {beta.shape}"
                gamma = np.concatenate([gamma, *(s[f"{layer.name}.gamma"][None] for s in extra)])
                beta = np.concatenate([beta, *(s[f"{layer.name}.beta"][None] for s in extra)])
                kernel = tf.constant(oihw_to_hwio(w), dtype=dtype)
                self._kernels[layer.name] = tf.Variable(kernel) if trainable else kernel
                self._gamma[layer.name] = tf.constant(gamma, tf.float32)
                self._beta[layer.name] = tf.constant(beta, tf.float32)

    def norm_params(self, style: int) -> dict[str, np.ndarray]:
        """Style `style`'s scales and shifts, {layer.gamma / layer.beta: [C]}: a learned
        style's starting point and storage format (:data:`~dreamreel.pipelines.style.layout.NORM_SHAPES`)."""
        return {f"{layer.name}.{kind}": table[layer.name][style].numpy()
                for layer in LAYERS for kind, table in (("gamma", self._gamma),
                                                             ("beta", self._beta))}

    def kernel(self, layer: str) -> np.ndarray:
        """Layer `layer`'s kernel as the shipped file holds it, float32 OIHW (what a fine-tuned
        network is stored as)."""
        return np.asarray(self._kernels[layer].numpy(), np.float32).transpose(3, 2, 0, 1)

    def mixed(self, mix: tf.Tensor) -> dict[str, tf.Tensor]:
        """A mixture [N or 1, num_styles] -> its scales and shifts {name: [N or 1, C]}."""
        return {f"{layer.name}.{kind}": tf.matmul(mix, table[layer.name])
                for layer in LAYERS for kind, table in (("gamma", self._gamma),
                                                             ("beta", self._beta))}

    def _layer(self, x: tf.Tensor, layer: Layer, norm: Mapping[str, tf.Tensor],
               relu: bool) -> tf.Tensor:
        """[optional 2x upsample] -> reflect pad -> conv -> conditional IN -> [ReLU].

        x: [N, H, W, Cin] in any float dtype; returns [N, H', W', Cout] in ``self.dtype``.
        """
        x = tf.cast(x, self.dtype)
        if layer.upsample:
            x = upsample_2x(x, self.upsampling)  # [N, 2H, 2W, Cin]
        x = reflect_pad(x, layer.kernel // 2)
        x = tf.nn.conv2d(x, self._kernels[layer.name], strides=layer.stride, padding="VALID")
        return conditional_instance_norm(x, norm[f"{layer.name}.gamma"],
                                         norm[f"{layer.name}.beta"], relu=relu)

    def __call__(self, images: tf.Tensor, style_weights: tf.Tensor) -> tf.Tensor:
        images = tf.convert_to_tensor(images, dtype=tf.float32)  # [N, H, W, 3]
        check_spatial(images, STRIDE, "MultiStyleNet")
        mix = tf.convert_to_tensor(style_weights, dtype=tf.float32)
        if mix.shape.rank == 1:
            mix = mix[tf.newaxis, :]  # [1, S]: the same mixture for every image
        if mix.shape.rank != 2 or mix.shape[-1] != self.num_styles:
            raise ValueError(f"style_weights must be [{self.num_styles}] or "
                             f"[N, {self.num_styles}], got {mix.shape}")
        if one_at_a_time(images):
            return tf.concat([self(images[i : i + 1], mix[min(i, mix.shape[0] - 1)])
                              for i in range(images.shape[0])], axis=0)
        return self.render(images, self.mixed(mix))

    def render(self, images: tf.Tensor, norm: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """images [N, H, W, 3] 0..1 through the network with these scales and shifts
        ({layer.gamma / layer.beta: [N or 1, C]}) -> [N, H, W, 3] 0..1. Differentiable in
        `norm`, which is how a new style is learned (pipelines/style/learn.py)."""
        x = images
        for layer in CONTRACT:
            x = self._layer(x, layer, norm, relu=True)  # -> [N, H/4, W/4, 32] after the last
        x = tf.cast(x, tf.float32)  # the residual sums stay float32
        for first, second in RESIDUAL:
            y = self._layer(x, first, norm, relu=True)  # [N, H/4, W/4, 32]
            x = x + tf.cast(self._layer(y, second, norm, relu=False), tf.float32)
        x = self._layer(x, EXPAND[0], norm, relu=True)  # [N, H/2, W/2, 8]
        x = self._layer(x, EXPAND[1], norm, relu=True)  # [N, H, W, 4]
        x = self._layer(x, EXPAND[2], norm, relu=False)  # [N, H, W, 3]
        return tf.sigmoid(tf.cast(x, tf.float32))  # [N, H, W, 3] in 0..1
