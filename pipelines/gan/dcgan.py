"""DCGAN face generator (Radford, Metz, Chintala 2016, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks") rebuilt in TensorFlow, NHWC.

The weights are the ``netG_state_dict`` of gan-face-generate 1.1.1 (64x64 faces trained on
DigiFace1M), loaded by ``dreamreel.weights.load("dcgan_faces")`` as PyTorch arrays:

    main.0   ConvTranspose2d(100, 512, 4, stride 1, padding 0, bias=False)   1x1 -> 4x4
    main.1   BatchNorm2d(512) + ReLU
    main.3   ConvTranspose2d(512, 256, 4, stride 2, padding 1, bias=False)   4x4 -> 8x8
    main.4   BatchNorm2d(256) + ReLU
    main.6   ConvTranspose2d(256, 128, 4, 2, 1)                              8 -> 16
    main.7   BatchNorm2d(128) + ReLU
    main.9   ConvTranspose2d(128, 64, 4, 2, 1)                               16 -> 32
    main.10  BatchNorm2d(64) + ReLU
    main.12  ConvTranspose2d(64, 3, 4, 2, 1)                                 32 -> 64
    main.13  tanh

Batch norm runs in inference mode with the stored running statistics (eps 1e-5), folded once
into a per-channel scale and shift. The generator maps a latent z ~ N(0, I) of shape [N, 100]
to RGB images [N, 64, 64, 3] in 0..1 (``(tanh + 1) / 2``). ``__call__`` uses plain TF ops only,
so it can be traced inside an outer ``tf.function`` (with or without ``jit_compile``).
Parity with a literal NumPy rendering of PyTorch's definitions: tests/test_gan_parity.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

LATENT_DIM = 100
IMAGE_SIZE = 64
BN_EPS = 1e-5

# (ConvTranspose key, BatchNorm key or None, in channels, out channels, stride, padding)
_LAYERS: tuple[tuple[str, str | None, int, int, int, int], ...] = (
    ("main.0", "main.1", LATENT_DIM, 512, 1, 0),
    ("main.3", "main.4", 512, 256, 2, 1),
    ("main.6", "main.7", 256, 128, 2, 1),
    ("main.9", "main.10", 128, 64, 2, 1),
    ("main.12", None, 64, 3, 2, 1),
)
_KERNEL = 4


def _dim(x: tf.Tensor, axis: int) -> int | tf.Tensor:
    """Static size of ``x`` along ``axis`` when known (keeps shapes static), else dynamic."""
    size = x.shape[axis]
    return int(size) if size is not None else tf.shape(x)[axis]


def _take(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    """Fetch ``key`` as float32 and check its shape; ValueError naming the key otherwise."""
    if key not in arrays:
        raise ValueError(f"DCGAN checkpoint has no '{key}' (expected shape {shape})")
    value = np.asarray(arrays[key], dtype=np.float32)
    if value.shape != shape:
        raise ValueError(f"DCGAN checkpoint '{key}' has shape {value.shape}, expected {shape}")
    return value


class DCGANGenerator:
    """DCGAN generator: ``z [N, 100] -> images [N, 64, 64, 3]`` in 0..1.

    ``arrays`` is the PyTorch state dict as NumPy (ConvTranspose weights IOHW, BatchNorm
    weight/bias/running_mean/running_var). Unknown keys raise ValueError.
    """

    latent_dim: int = LATENT_DIM
    image_size: int = IMAGE_SIZE

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        expected: set[str] = set()
        self._kernels: list[tf.Tensor] = []
        self._scales: list[tf.Tensor | None] = []
        self._shifts: list[tf.Tensor | None] = []
        self._strides: list[int] = []
        self._paddings: list[int] = []
        for conv, bn, cin, cout, stride, padding in _LAYERS:
            w = _take(arrays, f"{conv}.weight", (cin, cout, _KERNEL, _KERNEL))  # IOHW
            expected.add(f"{conv}.weight")
            if conv == "main.0":
                # 1x1 input, stride 1, padding 0: out[n, y, x, o] = sum_i z[n, i] w[i, o, y, x]
                # -> one matmul with the kernel as [100, 4*4*512] in (y, x, o) order.
                kernel = w.transpose(0, 2, 3, 1).reshape(cin, _KERNEL * _KERNEL * cout)
            else:
                # tf.nn.conv2d_transpose wants [KH, KW, out, in] (HWOI); no kernel flip:
                # both frameworks scatter x[i] * w[k] to output i*stride + k - padding.
                kernel = w.transpose(2, 3, 1, 0)
            self._kernels.append(tf.constant(kernel))
            self._strides.append(stride)
            self._paddings.append(padding)
            if bn is None:
                self._scales.append(None)
                self._shifts.append(None)
                continue
            gamma = _take(arrays, f"{bn}.weight", (cout,))
            beta = _take(arrays, f"{bn}.bias", (cout,))
            mean = _take(arrays, f"{bn}.running_mean", (cout,))
            var = _take(arrays, f"{bn}.running_var", (cout,))
            expected.update(f"{bn}.{p}" for p in ("weight", "bias", "running_mean", "running_var"))
            scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
            shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
            self._scales.append(tf.constant(scale.astype(np.float32)))
            self._shifts.append(tf.constant(shift.astype(np.float32)))
        extra = sorted(
            k for k in arrays if k not in expected and not k.endswith("num_batches_tracked")
        )
        if extra:
            raise ValueError(
                f"DCGAN checkpoint has unexpected key '{extra[0]}' ({len(extra)} in all)"
            )

    def __call__(self, z: tf.Tensor) -> tf.Tensor:
        """``z`` float32 [N, 100] (standard normal) -> float32 [N, 64, 64, 3] in 0..1."""
        z = tf.convert_to_tensor(z, dtype=tf.float32)
        z = tf.reshape(z, [-1, LATENT_DIM])  # [N, 100] (also accepts [N, 100, 1, 1])
        n = _dim(z, 0)
        x = tf.matmul(z, self._kernels[0])  # [N, 4*4*512]
        x = tf.reshape(x, [n, _KERNEL, _KERNEL, _LAYERS[0][3]])  # [N, 4, 4, 512]
        x = tf.nn.relu(x * self._scales[0] + self._shifts[0])  # [N, 4, 4, 512]
        for i in range(1, len(_LAYERS)):
            kernel = self._kernels[i]  # [4, 4, out, in]
            stride, pad = self._strides[i], self._paddings[i]
            h, w = _dim(x, 1), _dim(x, 2)
            # PyTorch: out = (in - 1) * stride - 2 * padding + kernel = 2 * in here.
            out_h = (h - 1) * stride - 2 * pad + _KERNEL
            out_w = (w - 1) * stride - 2 * pad + _KERNEL
            x = tf.nn.conv2d_transpose(
                x,
                kernel,
                output_shape=tf.stack([n, out_h, out_w, int(kernel.shape[2])]),
                strides=stride,
                padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]],
            )  # [N, 2h, 2w, out]: 8, 16, 32, 64
            if self._scales[i] is not None:
                x = tf.nn.relu(x * self._scales[i] + self._shifts[i])
        x = tf.tanh(x)  # [N, 64, 64, 3] in -1..1
        return (x + 1.0) * 0.5  # [N, 64, 64, 3] in 0..1
