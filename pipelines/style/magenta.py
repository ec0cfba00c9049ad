"""Arbitrary style transfer (Magenta), rebuilt as TensorFlow graphs.

Ghiasi, Lee, Kudlur, Dumoulin and Shlens, "Exploring the structure of a real-time, arbitrary
neural artistic stylization network" (BMVC 2017). A *style prediction network* maps a style image
to a 100-value embedding (the "bottleneck"); a *style transfer network* (the Dumoulin et al. 2017
transformer) takes a content image and predicts every conditional-instance-norm scale and shift
from that embedding with a dense layer, so any style image can be used.

The weights are those of the int8 TFLite-derived ONNX exports ``arbitrary_predict.onnx`` (the
MobileNetV2-distilled predictor) and ``arbitrary_transform.onnx``, read through
:func:`dreamreel.weights.load` (weights already dequantized). The rebuild is float: it reproduces
the exported graph with its *activation* QuantizeLinear -> DequantizeLinear pairs removed (see
``docs/weights-sources.md``: the int8 activations move the stylized picture by ~0.035 on average).

Read from the ONNX graphs:

* Predictor (:class:`StylePredictor`), MobileNetV2 1.0: ``Conv`` 3x3/2 3->32, 17 inverted
  residual blocks ``expanded_conv[_k]`` (1x1 expand + ReLU6, 3x3 depthwise + ReLU6, linear 1x1
  project, identity skip when stride 1 and channels match), ``Conv_1`` 1x1 320->1280 + ReLU6,
  global average pool, ``mobilenet_conv/Conv`` 1x1 1280->100 (no activation). Batch norm is
  folded into every conv's bias. ReLU6 is ONNX ``Clip(0, 6)``. Padding is TensorFlow ``SAME``
  (the export spells it ``pads=[0,0,1,1]`` for the stride-2 convs at 256x256, ``[1,1,1,1]``
  otherwise). Input RGB in 0..1 (the export quantizes it with scale 1/255), no mean/std.
* Transformer (:class:`StyleTransformer`): every conv is preceded by a *reflection* pad of
  ``kernel // 2`` (``MirrorPad``). ``contract/conv1`` 9x9 3->8, ``conv2`` 3x3/2 8->16, ``conv3``
  3x3/2 16->32, each conv + bias (batch norm folded) + ReLU; five residual blocks
  ``x + IN(conv(relu(IN(conv(x)))))``; ``expand/conv1`` and ``conv2``: nearest 2x upsample, 3x3
  conv 32->16 and 16->8, IN, ReLU; ``expand/conv3`` 9x9 8->3, IN, sigmoid. Each IN ("StyleNorm",
  13 of them) takes ``gamma = bottleneck @ Conv_1 + b`` and ``beta = bottleneck @ Conv + b``
  (``style_params/.../StyleNorm/Conv{_1,}``, 1x1 convs on the [1, 100, 1, 1] bottleneck),
  biased variance, ``eps = 1e-5`` (stored quantized: 127 * 7.874e-8).

All ops are plain TensorFlow (NHWC, float32 by default) with no Python side effects, usable inside
``tf.function(jit_compile=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.style.layout import check_upsampling
from dreamreel.pipelines.style.multistyle import (
    check_dtype,
    check_spatial,
    conditional_instance_norm,
    conv2d,
    oihw_to_hwio,
    one_at_a_time,
    reflect_pad,
    upsample_2x,
)

__all__ = ["BOTTLENECK", "STRIDE", "StylePredictor", "StyleTransformer"]

BOTTLENECK = 100
"""Size of the style embedding."""

STRIDE = 4
"""The transformer's two stride-2 convs: content H and W must be multiples of 4."""

PREDICTOR_SIZE = 256
"""The size the predictor was exported (and trained) at; other sizes work (global pool)."""


def _array(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    """Fetch one dequantized ONNX tensor and check its shape."""
    value = np.asarray(arrays[key], dtype=np.float32)
    assert value.shape == shape, f"{key}: shape {value.shape}, expected {shape}"
    return value


def _relu6(x: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(x, 0.0, 6.0)  # ONNX Clip(min=0, max=6)


# ============================================================================================
# Style prediction network (MobileNetV2 trunk)
# ============================================================================================

_MNV2 = "MobilenetV2"


@dataclass(frozen=True)
class _Block:
    """One MobileNetV2 inverted residual block, named as in the ONNX graph."""

    name: str  # e.g. "expanded_conv_3"
    expansion: int
    cin: int
    cout: int
    stride: int

    @property
    def hidden(self) -> int:
        return self.cin * self.expansion

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.cin == self.cout


def _mobilenet_v2_blocks() -> tuple[_Block, ...]:
    # (expansion t, channels c, repeats n, first stride s): Sandler et al. 2018, table 2.
    table = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
    blocks, cin = [], 32
    for t, c, n, s in table:
        for i in range(n):
            k = len(blocks)
            name = f"expanded_conv_{k}" if k else "expanded_conv"
            blocks.append(_Block(name, t, cin, c, s if i == 0 else 1))
            cin = c
    return tuple(blocks)


_BLOCKS = _mobilenet_v2_blocks()  # 17 blocks, expanded_conv .. expanded_conv_16
assert len(_BLOCKS) == 17 and _BLOCKS[-1].name == "expanded_conv_16"


class StylePredictor(tf.Module):
    """Ghiasi et al. 2017 style prediction network: style image -> 100-value bottleneck.

    ``predictor(style_images)``: float32 [N, H, W, 3] RGB in 0..1 (exported at 256x256; any size
    of at least 32 works, the trunk ends in a global average pool) -> float32 [N, 100].
    """

    stride: int = 1  # any input size

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        dtype: tf.DType = tf.float32,
        name: str = "magenta_predict",
    ) -> None:
        super().__init__(name=name)
        check_dtype(dtype)
        self.dtype = dtype

        def conv(prefix: str, cout: int, cin: int, k: int) -> tuple[tf.Tensor, tf.Tensor]:
            w = _array(arrays, f"{prefix}/weights_dequant", (cout, cin, k, k))
            b = _array(arrays, f"{prefix}/Conv2D_bias_dequant", (cout,))
            return tf.constant(oihw_to_hwio(w), dtype=dtype), tf.constant(b)

        def depthwise(prefix: str, c: int) -> tuple[tf.Tensor, tf.Tensor]:
            w = _array(arrays, f"{prefix}/depthwise_weights_dequant", (c, 1, 3, 3))
            b = _array(arrays, f"{prefix}/depthwise_bias_dequant", (c,))
            w = np.ascontiguousarray(np.transpose(w, (2, 3, 0, 1)))  # [3, 3, C, 1]
            return tf.constant(w, dtype=dtype), tf.constant(b)

        with self.name_scope:
            self._stem = conv(f"{_MNV2}/Conv", 32, 3, 3)  # 3x3/2, 3 -> 32
            self._blocks: list[dict[str, tuple[tf.Tensor, tf.Tensor]]] = []
            for block in _BLOCKS:
                prefix = f"{_MNV2}/{block.name}"
                params = {}
                if block.expansion != 1:
                    params["expand"] = conv(f"{prefix}/expand", block.hidden, block.cin, 1)
                params["depthwise"] = depthwise(f"{prefix}/depthwise", block.hidden)
                params["project"] = conv(f"{prefix}/project", block.cout, block.hidden, 1)
                self._blocks.append(params)
            self._head = conv(f"{_MNV2}/Conv_1", 1280, 320, 1)  # 1x1, 320 -> 1280
            w = _array(arrays, "mobilenet_conv/Conv/weights_dequant", (BOTTLENECK, 1280, 1, 1))
            b = _array(arrays, "mobilenet_conv/Conv/Conv2D_bias_dequant", (BOTTLENECK,))
            self._bottleneck_w = tf.constant(w[:, :, 0, 0].T)  # [1280, 100] float32
            self._bottleneck_b = tf.constant(b)  # [100]

    def __call__(self, style_images: tf.Tensor) -> tf.Tensor:
        x = tf.convert_to_tensor(style_images, dtype=tf.float32)  # [N, H, W, 3] in 0..1
        check_spatial(x, 1, "StylePredictor")
        w, b = self._stem
        x = _relu6(conv2d(x, w, stride=2, padding="SAME", bias=b))  # [N, H/2, W/2, 32]
        for block, params in zip(_BLOCKS, self._blocks, strict=True):
            inputs = x  # [N, h, w, cin]
            if "expand" in params:
                w, b = params["expand"]
                x = _relu6(conv2d(x, w, bias=b))  # [N, h, w, cin * 6]
            w, b = params["depthwise"]
            x = tf.nn.depthwise_conv2d(
                tf.cast(x, w.dtype), w, strides=[1, block.stride, block.stride, 1], padding="SAME"
            )
            x = _relu6(tf.cast(x, tf.float32) + b)  # [N, h / stride, w / stride, hidden]
            w, b = params["project"]
            x = conv2d(x, w, bias=b)  # [N, h / stride, w / stride, cout], linear
            if block.residual:
                x = x + inputs
        w, b = self._head
        x = _relu6(conv2d(x, w, bias=b))  # [N, H/32, W/32, 1280]
        pooled = tf.reduce_mean(x, axis=[1, 2])  # [N, 1280]
        return tf.matmul(pooled, self._bottleneck_w) + self._bottleneck_b  # [N, 100]


# ============================================================================================
# Style transfer network
# ============================================================================================

_T = "transformer"
_SP = "style_params/transformer"


@dataclass(frozen=True)
class _TLayer:
    """One transformer conv, named as in the ONNX graph, with its expected shapes."""

    conv: str  # ONNX prefix of weights_dequant (and Conv2D_bias_dequant)
    norm: str | None  # ONNX prefix of style_params .../StyleNorm, None for folded batch norm
    kernel: int
    stride: int
    cin: int
    cout: int
    upsample: bool = False


# Residual convs carry no bias of their own: every one of them reads this (all-zero) tensor.
_RESIDUAL_BIAS = f"{_T}/residual/residual5/conv1/Conv2D_bias_dequant"
_EPS_KEY = f"{_T}/expand/conv1/conv/StyleNorm/batchnorm/add/y_dequant"

_T_CONTRACT = (
    _TLayer(f"{_T}/contract/conv1", None, 9, 1, 3, 8),
    _TLayer(f"{_T}/contract/conv2", None, 3, 2, 8, 16),
    _TLayer(f"{_T}/contract/conv3", None, 3, 2, 16, 32),
)
_T_RESIDUAL = tuple(
    tuple(
        _TLayer(
            f"{_T}/residual/residual{i}/conv{j}",
            f"{_SP}/residual/residual{i}/conv{j}/StyleNorm",
            kernel=3,
            stride=1,
            cin=32,
            cout=32,
        )
        for j in (1, 2)
    )
    for i in range(1, 6)
)
_T_EXPAND = (
    _TLayer(f"{_T}/expand/conv1/conv", f"{_SP}/expand/conv1/conv/StyleNorm", 3, 1, 32, 16, True),
    _TLayer(f"{_T}/expand/conv2/conv", f"{_SP}/expand/conv2/conv/StyleNorm", 3, 1, 16, 8, True),
    _TLayer(f"{_T}/expand/conv3/conv", f"{_SP}/expand/conv3/conv/StyleNorm", 9, 1, 8, 3),
)
_T_LAYERS = _T_CONTRACT + tuple(layer for pair in _T_RESIDUAL for layer in pair) + _T_EXPAND


class StyleTransformer(tf.Module):
    """Ghiasi et al. 2017 style transfer network: content + bottleneck -> stylized image.

    ``transformer(content, bottleneck)``:

    * content: float32 [N, H, W, 3] RGB in 0..1, any H and W that are multiples of
      :data:`STRIDE` (the export's fixed 384x384 is not a limit of the network);
    * bottleneck: float32 [N, 100] (or [1, 100] for the whole batch; [N, 1, 1, 100] accepted),
      from :class:`StylePredictor`; a convex mix of two bottlenecks blends styles;
    * returns float32 [N, H, W, 3] in 0..1.

    ``dtype=tf.bfloat16`` runs the image convolutions in bfloat16; the style dense layers,
    instance-norm statistics and residual sums stay float32. ``upsampling`` is one of
    :data:`~dreamreel.pipelines.style.layout.UPSAMPLING`.
    """

    stride: int = STRIDE

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        dtype: tf.DType = tf.float32,
        upsampling: str = "nearest",
        name: str = "magenta_transform",
    ) -> None:
        super().__init__(name=name)
        check_dtype(dtype)
        check_upsampling(upsampling)
        self.dtype, self.upsampling = dtype, upsampling
        self._eps = float(_array(arrays, _EPS_KEY, (1, 1, 1, 1)).item())  # 1e-5
        self._kernels: dict[str, tf.Tensor] = {}  # conv -> [k, k, Cin, Cout] in `dtype`
        self._biases: dict[str, tf.Tensor] = {}  # conv -> [Cout] float32
        self._gamma: dict[str, tuple[tf.Tensor, tf.Tensor]] = {}  # conv -> ([100, C], [C])
        self._beta: dict[str, tuple[tf.Tensor, tf.Tensor]] = {}  # conv -> ([100, C], [C])
        with self.name_scope:
            for layer in _T_LAYERS:
                k = layer.kernel
                w = _array(arrays, f"{layer.conv}/weights_dequant", (layer.cout, layer.cin, k, k))
                residual = "/residual/" in layer.conv
                bias_key = _RESIDUAL_BIAS if residual else f"{layer.conv}/Conv2D_bias_dequant"
                self._kernels[layer.conv] = tf.constant(oihw_to_hwio(w), dtype=dtype)
                self._biases[layer.conv] = tf.constant(_array(arrays, bias_key, (layer.cout,)))
                if layer.norm is None:
                    continue
                # gamma (scale) from StyleNorm/Conv_1, beta (shift) from StyleNorm/Conv: the graph
                # multiplies rsqrt(var + eps) by Conv_1's output and subtracts from Conv's.
                for sub, table in (("Conv_1", self._gamma), ("Conv", self._beta)):
                    dense_w = _array(
                        arrays,
                        f"{layer.norm}/{sub}/weights_dequant",
                        (layer.cout, BOTTLENECK, 1, 1),
                    )
                    dense_b = _array(
                        arrays, f"{layer.norm}/{sub}/Conv2D_bias_dequant", (layer.cout,)
                    )
                    table[layer.conv] = (tf.constant(dense_w[:, :, 0, 0].T), tf.constant(dense_b))

    def _conv(self, x: tf.Tensor, layer: _TLayer) -> tf.Tensor:
        """[optional 2x upsample] -> reflect pad -> conv + bias, in the kernels' dtype (the
        activations stay in it from layer to layer: see multistyle's module docstring)."""
        kernel = self._kernels[layer.conv]
        x = tf.cast(x, kernel.dtype)
        if layer.upsample:
            x = upsample_2x(x, self.upsampling)  # [N, 2h, 2w, Cin]
        x = reflect_pad(x, layer.kernel // 2)
        x = tf.nn.conv2d(x, kernel, strides=layer.stride, padding="VALID")  # [N, h', w', Cout]
        return x + tf.cast(self._biases[layer.conv], x.dtype)

    def _styled(self, x: tf.Tensor, layer: _TLayer, bottleneck: tf.Tensor, relu: bool) -> tf.Tensor:
        """Conv then the style-conditioned instance norm, then ReLU if `relu`."""
        x = self._conv(x, layer)
        w, b = self._gamma[layer.conv]
        gamma = tf.matmul(bottleneck, w) + b  # [N or 1, C]
        w, b = self._beta[layer.conv]
        beta = tf.matmul(bottleneck, w) + b  # [N or 1, C]
        return conditional_instance_norm(x, gamma, beta, relu=relu, eps=self._eps)

    def __call__(self, content: tf.Tensor, bottleneck: tf.Tensor) -> tf.Tensor:
        x = tf.convert_to_tensor(content, dtype=tf.float32)  # [N, H, W, 3] in 0..1
        check_spatial(x, STRIDE, "StyleTransformer")
        style = tf.convert_to_tensor(bottleneck, dtype=tf.float32)
        style = tf.reshape(style, [-1, BOTTLENECK])  # [N or 1, 100]
        if one_at_a_time(x):
            return tf.concat([self(x[i : i + 1], style[min(i, style.shape[0] - 1)])
                              for i in range(x.shape[0])], axis=0)

        for layer in _T_CONTRACT:
            x = tf.nn.relu(self._conv(x, layer))  # -> [N, H/4, W/4, 32] after the last
        x = tf.cast(x, tf.float32)  # the residual sums stay float32
        for first, second in _T_RESIDUAL:
            y = self._styled(x, first, style, relu=True)  # [N, H/4, W/4, 32]
            x = x + tf.cast(self._styled(y, second, style, relu=False), tf.float32)
        x = self._styled(x, _T_EXPAND[0], style, relu=True)  # [N, H/2, W/2, 16]
        x = self._styled(x, _T_EXPAND[1], style, relu=True)  # [N, H, W, 8]
        x = self._styled(x, _T_EXPAND[2], style, relu=False)  # [N, H, W, 3]
        return tf.sigmoid(tf.cast(x, tf.float32))  # [N, H, W, 3] in 0..1
