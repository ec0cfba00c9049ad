"""CycleGAN / pix2pix ResNet generator (Zhu, Park, Isola, Efros 2017, "Unpaired Image-to-Image
Translation using Cycle-Consistent Adversarial Networks"; architecture after Johnson et al. 2016)
rebuilt in TensorFlow, NHWC.

It reads a PyTorch state dict of ``ResnetGenerator`` from junyanz/pytorch-CycleGAN-and-pix2pix
(or a clone with the same ``nn.Sequential`` numbering), e.g. vintagify's photo -> vintage
generator via ``dreamreel.weights.load("cyclegan_vintage")``. With B residual blocks:

    model.0        ReflectionPad2d(3)
    model.1        Conv2d(3, ngf, 7)                        model.2  InstanceNorm, ReLU
    model.4        Conv2d(ngf, d1, 3, stride 2, padding 1)  model.5  InstanceNorm, ReLU
    model.7        Conv2d(d1, d2, 3, stride 2, padding 1)   model.8  InstanceNorm, ReLU
    model.10 ..    B x ResnetBlock(d2): x + [ReflectionPad(1), Conv 3x3, IN, ReLU,
    model.(9+B)                              ReflectionPad(1), Conv 3x3, IN](x)
                   (``block.1/2/5/6`` or ``conv_block.1/2/5/6``; with use_dropout the second
                   conv and norm sit at 6/7, and the eval-mode dropout is the identity)
    model.(10+B)   ConvTranspose2d(d2, u1, 3, stride 2, padding 1, output_padding 1), IN, ReLU
    model.(13+B)   ConvTranspose2d(u1, u2, 3, 2, 1, 1)      model.(14+B) IN, ReLU
    model.(16+B)   ReflectionPad2d(3)
    model.(17+B)   Conv2d(u2, 3, 7), tanh

B, ngf, d1, d2, u1, u2 are read from the checkpoint's keys and shapes (6 and 9 blocks are the
usual). InstanceNorm2d: per image and channel over H, W, biased variance, eps 1e-5, with the
affine scale/shift when the checkpoint has them (``affine=True``) and without otherwise. Conv
biases are optional the same way. Anything that does not fit raises ValueError naming the key.

Convention: ``__call__`` takes RGB in 0..1, [N, H, W, 3] with H, W multiples of ``STRIDE`` (4),
maps to -1..1 as the network expects, and returns [N, H, W, 3] in 0..1. Only plain TF ops, so it
can be traced inside an outer ``tf.function`` (with or without ``jit_compile``).

PyTorch -> TensorFlow details that matter (proved against a literal NumPy rendering of the
PyTorch definitions in tests/test_gan_parity.py, not by eye):
- Conv2d OIHW -> HWIO; ConvTranspose2d IOHW -> HWOI (``[KH, KW, out, in]``), no kernel flip.
- The stride-2 convs pad 1 on *both* sides; TF's "SAME" would pad (0, 1) on even sizes, which
  shifts the picture by a pixel, so explicit paddings are used.
- ConvTranspose2d(padding=1, output_padding=1) keeps full-output rows 1 .. 2H of 0 .. 2H, i.e.
  TF explicit padding (1, 0) per spatial axis; TF "SAME" would keep rows 0 .. 2H-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

STRIDE = 4  # two stride-2 convs: H and W must be multiples of 4
IN_EPS = 1e-5
N_DOWNSAMPLING = 2
_RESBLOCK_START = 4 + 3 * N_DOWNSAMPLING  # model.10
_RESBLOCK_NAMES = ("block", "conv_block")


@dataclass(frozen=True)
class _Norm:
    """InstanceNorm2d parameters (None when the layer is not affine)."""

    gamma: tf.Tensor | None  # [C]
    beta: tf.Tensor | None  # [C]


@dataclass(frozen=True)
class _Conv:
    """A convolution with TF-layout kernel: HWIO for conv2d, HWOI for conv2d_transpose."""

    kernel: tf.Tensor
    bias: tf.Tensor | None  # [out]
    out_channels: int


class _Checkpoint:
    """Reads a state dict with explicit keys and shape checks, remembering what it used."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.arrays

    def shape(self, key: str) -> tuple[int, ...]:
        if key not in self.arrays:
            raise ValueError(f"CycleGAN checkpoint has no '{key}'")
        return tuple(int(d) for d in np.shape(self.arrays[key]))

    def take(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in self.arrays:
            raise ValueError(f"CycleGAN checkpoint has no '{key}' (expected shape {shape})")
        value = np.asarray(self.arrays[key], dtype=np.float32)
        if value.shape != shape:
            raise ValueError(
                f"CycleGAN checkpoint '{key}' has shape {value.shape}, expected {shape}"
            )
        self.used.add(key)
        return value

    def conv(self, key: str, cin: int, k: int, transpose: bool = False) -> _Conv:
        """Conv2d weight OIHW [out, cin, k, k] -> HWIO; ConvTranspose2d IOHW -> HWOI."""
        shape = self.shape(f"{key}.weight")
        if len(shape) != 4:
            raise ValueError(f"CycleGAN checkpoint '{key}.weight' is not a conv kernel: {shape}")
        cout = shape[0] if not transpose else shape[1]
        expected = (cin, cout, k, k) if transpose else (cout, cin, k, k)
        w = self.take(f"{key}.weight", expected)
        # The same permutation serves both:
        #   Conv2d          OIHW -> (H, W, I, O) = HWIO, what tf.nn.conv2d expects;
        #   ConvTranspose2d IOHW -> (H, W, O, I) = HWOI, what tf.nn.conv2d_transpose expects.
        kernel = w.transpose(2, 3, 1, 0)
        bias = None
        if self.has(f"{key}.bias"):
            bias = tf.constant(self.take(f"{key}.bias", (cout,)))
        return _Conv(tf.constant(kernel), bias, cout)

    def norm(self, key: str, channels: int) -> _Norm:
        for stat in ("running_mean", "running_var"):
            if self.has(f"{key}.{stat}"):
                raise ValueError(
                    f"CycleGAN checkpoint has '{key}.{stat}': running statistics mean a batch-norm"
                    " generator (or a pre-0.4 instance-norm export); only instance norm without"
                    " running statistics is supported"
                )
        has_w, has_b = self.has(f"{key}.weight"), self.has(f"{key}.bias")
        if has_w != has_b:
            missing = f"{key}.bias" if has_w else f"{key}.weight"
            raise ValueError(f"CycleGAN checkpoint has no '{missing}' (affine norm half present)")
        if not has_w:
            return _Norm(None, None)
        gamma = self.take(f"{key}.weight", (channels,))
        beta = self.take(f"{key}.bias", (channels,))
        return _Norm(tf.constant(gamma), tf.constant(beta))


def _instance_norm(x: tf.Tensor, norm: _Norm) -> tf.Tensor:
    """InstanceNorm2d on NHWC: statistics over H, W per image and channel, biased variance."""
    mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)  # [N, 1, 1, C] each
    y = (x - mean) * tf.math.rsqrt(var + IN_EPS)  # [N, H, W, C]
    if norm.gamma is not None:
        y = y * norm.gamma + norm.beta
    return y


def _reflect(x: tf.Tensor, p: int) -> tf.Tensor:
    """ReflectionPad2d(p) on NHWC (mirror without repeating the edge): [N, H+2p, W+2p, C]."""
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")


def _conv(x: tf.Tensor, conv: _Conv, stride: int = 1, zero_pad: int = 0) -> tf.Tensor:
    """Conv2d with PyTorch's symmetric zero padding ``zero_pad``."""
    pads = [[0, 0], [zero_pad, zero_pad], [zero_pad, zero_pad], [0, 0]]
    y = tf.nn.conv2d(x, conv.kernel, strides=stride, padding=pads if zero_pad else "VALID")
    return y if conv.bias is None else y + conv.bias


def _dim(x: tf.Tensor, axis: int) -> int | tf.Tensor:
    """Static size of ``x`` along ``axis`` when known (keeps shapes static), else dynamic."""
    size = x.shape[axis]
    return int(size) if size is not None else tf.shape(x)[axis]


def _conv_transpose_up2(x: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): [N, H, W, Cin] -> [N, 2H, 2W, Cout].

    The full scatter output has 2H + 1 rows (0 .. 2H); PyTorch drops ``padding`` = 1 row at the
    start and ``padding - output_padding`` = 0 at the end. In TF's terms that is the transpose of
    a conv with explicit padding (1, 0) on each spatial axis.
    """
    n, h, w = _dim(x, 0), _dim(x, 1), _dim(x, 2)
    y = tf.nn.conv2d_transpose(
        x,
        conv.kernel,
        output_shape=tf.stack([n, 2 * h, 2 * w, conv.out_channels]),
        strides=2,
        padding=[[0, 0], [1, 0], [1, 0], [0, 0]],
    )  # [N, 2H, 2W, Cout]
    return y if conv.bias is None else y + conv.bias


class ResnetGenerator:
    """CycleGAN ResNet generator: ``images [N, H, W, 3]`` RGB 0..1 -> ``[N, H, W, 3]`` 0..1.

    ``arrays`` is the PyTorch state dict as NumPy (see the module docstring for the layout);
    the number of residual blocks and all channel counts are read from it. H and W must be
    multiples of ``STRIDE``.
    """

    stride: int = STRIDE

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        ck = _Checkpoint(arrays)
        stem_shape = ck.shape("model.1.weight")
        if len(stem_shape) != 4 or stem_shape[1] != 3 or stem_shape[2:] != (7, 7):
            raise ValueError(
                f"CycleGAN checkpoint 'model.1.weight' has shape {stem_shape}, expected"
                " (ngf, 3, 7, 7): an RGB-input ResnetGenerator"
            )
        self.ngf = stem_shape[0]
        self._stem = ck.conv("model.1", 3, 7)
        self._stem_norm = ck.norm("model.2", self.ngf)
        channels = self.ngf
        self._down: list[tuple[_Conv, _Norm]] = []
        for i in range(N_DOWNSAMPLING):
            conv = ck.conv(f"model.{4 + 3 * i}", channels, 3)
            channels = conv.out_channels
            self._down.append((conv, ck.norm(f"model.{5 + 3 * i}", channels)))
        self.bottleneck_channels = channels

        # Residual blocks: model.10, model.11, ... while a block key exists.
        self._blocks: list[tuple[_Conv, _Norm, _Conv, _Norm]] = []
        index = _RESBLOCK_START
        while True:
            names = [b for b in _RESBLOCK_NAMES if ck.has(f"model.{index}.{b}.1.weight")]
            if not names:
                break
            pre = f"model.{index}.{names[0]}"
            # use_dropout=True puts Dropout at block.3, shifting the second conv to 6 and IN to 7
            dropout = (
                not ck.has(f"{pre}.5.weight")
                and ck.has(f"{pre}.6.weight")
                and len(ck.shape(f"{pre}.6.weight")) == 4
            )
            second = 6 if dropout else 5
            self._blocks.append(
                (
                    ck.conv(f"{pre}.1", channels, 3),
                    ck.norm(f"{pre}.2", channels),
                    ck.conv(f"{pre}.{second}", channels, 3),
                    ck.norm(f"{pre}.{second + 1}", channels),
                )
            )
            if self._blocks[-1][0].out_channels != channels:
                raise ValueError(
                    f"CycleGAN checkpoint '{pre}.1.weight' maps {channels} channels to"
                    f" {self._blocks[-1][0].out_channels}; a residual block keeps them"
                )
            index += 1
        if not self._blocks:
            raise ValueError(
                f"CycleGAN checkpoint has no residual block at 'model.{_RESBLOCK_START}.block.1.weight'"
            )
        self.n_blocks = len(self._blocks)

        self._up: list[tuple[_Conv, _Norm]] = []
        for i in range(N_DOWNSAMPLING):
            key = f"model.{index + 3 * i}"
            conv = ck.conv(key, channels, 3, transpose=True)
            channels = conv.out_channels
            self._up.append((conv, ck.norm(f"model.{index + 3 * i + 1}", channels)))
        head_key = f"model.{index + 3 * N_DOWNSAMPLING + 1}"
        head_shape = ck.shape(f"{head_key}.weight")
        if len(head_shape) != 4 or head_shape[0] != 3:
            raise ValueError(
                f"CycleGAN checkpoint '{head_key}.weight' has shape {head_shape}, expected"
                f" (3, {channels}, 7, 7): an RGB-output ResnetGenerator"
            )
        self._head = ck.conv(head_key, channels, 7)

        extra = sorted(set(arrays) - ck.used)
        if extra:
            raise ValueError(
                f"CycleGAN checkpoint has unexpected key '{extra[0]}' ({len(extra)} in all):"
                " not a ResnetGenerator of the supported layout"
            )

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        """``images`` float32 [N, H, W, 3] RGB in 0..1 (H, W multiples of 4) -> same shape, 0..1."""
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        for axis in (1, 2):
            size = images.shape[axis]
            if size is not None and size % STRIDE:
                raise ValueError(
                    f"ResnetGenerator needs H and W multiples of {STRIDE}, got shape {images.shape}"
                )
        x = images * 2.0 - 1.0  # [N, H, W, 3] in -1..1
        x = _conv(_reflect(x, 3), self._stem)  # [N, H, W, ngf]
        x = tf.nn.relu(_instance_norm(x, self._stem_norm))
        for conv, norm in self._down:
            x = _conv(x, conv, stride=2, zero_pad=1)  # [N, H/2, W/2, 2ngf], then H/4, W/4, 4ngf
            x = tf.nn.relu(_instance_norm(x, norm))
        for conv1, norm1, conv2, norm2 in self._blocks:
            y = tf.nn.relu(_instance_norm(_conv(_reflect(x, 1), conv1), norm1))  # [N, H/4, W/4, C]
            y = _instance_norm(_conv(_reflect(y, 1), conv2), norm2)  # [N, H/4, W/4, C]
            x = x + y
        for conv, norm in self._up:
            x = _conv_transpose_up2(x, conv)  # [N, H/2, W/2, 2ngf], then [N, H, W, ngf]
            x = tf.nn.relu(_instance_norm(x, norm))
        x = tf.tanh(_conv(_reflect(x, 3), self._head))  # [N, H, W, 3] in -1..1
        return (x + 1.0) * 0.5  # [N, H, W, 3] in 0..1
