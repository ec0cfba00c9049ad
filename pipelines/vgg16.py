"""A VGG-style convolutional trunk as a feature extractor: ReLU activations by layer name.

Built from named arrays (no Keras model), so DeepDream, Gram-matrix style losses and metrics
share one definition of VGG16 (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks
for Large-Scale Image Recognition") and any user network laid out the same way.

The convention for the arrays ("Keras-style conv network"):
- Each layer is a 3x3 (any odd size) convolution stored as `<layer>/kernel` (HWIO) and
  `<layer>/bias` (O), followed by ReLU, with "same" padding and stride 1.
- Layer names are `<block>_<anything>`, e.g. `block4_conv3`. The layers run in natural order
  of their names (`block2_conv1` before `block10_conv1`), and a 2x2 stride-2 max pool sits
  between two layers whose block (the name before the last `_`) differs, as in VGG.
- Each kernel's input channels must equal the previous layer's output channels; the first
  layer takes 3 (BGR).
- The weights converters (weights/convert.py) give a Keras 3 `.weights.h5` network these
  names.
- Input convention of the Caffe-trained VGG16 (and the HED weights): BGR, 0..255, minus the
  ImageNet channel means. `__call__` takes RGB 0..1 and does this conversion itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.weights.convert import VGG16_LAYERS

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # ImageNet means, B G R, 0..255 scale

LAYERS = VGG16_LAYERS  # VGG16's 13 convolutions, in order


def _natural_key(name: str) -> list[int | str]:
    """'block10_conv2' -> ['block', 10, '_conv', 2, '']: numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _block(layer: str) -> str:
    """'block4_conv3' -> 'block4': the pooling stage a layer belongs to."""
    return layer.rsplit("_", 1)[0]


class VGG16Features:
    """ReLU activations of named conv layers; computation stops at the deepest layer asked for.

    `dtype` is the convolutions' compute type: bfloat16 roughly halves a step on CPUs with
    AVX512_BF16 (see shared/docs/perf-notes.md); activations are returned as float32 either way,
    so losses and gradients accumulate in float32.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], dtype: tf.DType | str = "float32"
                 ) -> None:
        names = sorted(
            (key[: -len("/kernel")] for key in arrays
             if key.endswith("/kernel") and f"{key[: -len('/kernel')]}/bias" in arrays),
            key=_natural_key,
        )
        if not names:
            raise SettingsError(
                "no convolution layers found: expected `<layer>/kernel` and `<layer>/bias` "
                "arrays (the keras_h5 converter names a Keras conv net's layers so)"
            )
        self.dtype = dtype = tf.as_dtype(dtype)
        self.layers: tuple[str, ...] = tuple(names)
        self._kernels: list[tf.Tensor] = []
        self._biases: list[tf.Tensor] = []
        self._strides: dict[str, int] = {}
        self._fields: dict[str, int] = {}
        channels, stride, field = 3, 1, 1
        for i, name in enumerate(names):
            kernel = np.asarray(arrays[f"{name}/kernel"], np.float32)  # [kh, kw, in, out]
            bias = np.asarray(arrays[f"{name}/bias"], np.float32)  # [out]
            if kernel.ndim != 4 or kernel.shape[2] != channels or bias.shape != kernel.shape[3:]:
                raise SettingsError(
                    f"layer {name}: kernel {kernel.shape} and bias {bias.shape} do not follow "
                    f"a layer with {channels} output channels"
                )
            if i > 0 and _block(name) != _block(names[i - 1]):
                field += stride  # a 2x2 pool widens the field by one step of its input
                stride *= 2
            field += (kernel.shape[0] - 1) * stride
            self._kernels.append(tf.cast(tf.constant(kernel), dtype))
            self._biases.append(tf.cast(tf.constant(bias), dtype))
            self._strides[name] = stride
            self._fields[name] = field
            channels = kernel.shape[3]

    def check(self, name: str) -> None:
        """Raise SettingsError unless `name` is one of this network's layers."""
        if name not in self._strides:
            raise SettingsError(f"unknown layer '{name}'; valid layers: {', '.join(self.layers)}")

    def stride(self, name: str) -> int:
        """How many input pixels one activation of `name` steps over (2 ** pools before it)."""
        self.check(name)
        return self._strides[name]

    def receptive_field(self, name: str) -> int:
        """Side in input pixels of the window one activation of `name` sees (VGG16: 3..196)."""
        self.check(name)
        return self._fields[name]

    def channels(self, name: str) -> int:
        self.check(name)
        return int(self._kernels[self.layers.index(name)].shape[3])

    def __call__(self, images_rgb01: tf.Tensor, layers: Sequence[str]) -> dict[str, tf.Tensor]:
        """images [N, H, W, 3] RGB 0..1 -> {layer: [N, H/stride, W/stride, C] float32}."""
        for name in layers:
            self.check(name)
        wanted = set(layers)
        last = max(self.layers.index(name) for name in layers)
        x = images_rgb01[..., ::-1] * 255.0 - tf.constant(CAFFE_MEAN_BGR)  # [N, H, W, 3] BGR
        x = tf.cast(x, self.dtype)
        out: dict[str, tf.Tensor] = {}
        for i in range(last + 1):
            name = self.layers[i]
            if i > 0 and _block(name) != _block(self.layers[i - 1]):
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")  # [N, H/2, W/2, C]
            x = tf.nn.relu(tf.nn.conv2d(x, self._kernels[i], 1, "SAME") + self._biases[i])
            if name in wanted:
                out[name] = tf.cast(x, tf.float32)
        return out
