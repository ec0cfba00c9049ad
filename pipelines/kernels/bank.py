"""The lesson's convolution kernels as tensors, and the convolution that applies them.

The Gaussian and the Gabor filters are made inside the graph from control tensors (sigma,
wavelength, orientation), so a live change of any of them is a new input value, never a new
graph. A convolution here is a sum of shifted copies of the frame, which XLA fuses into one
pass (TensorFlow's depthwise convolution is over ten times slower on a CPU). The frame is held
as planes [C, H, W], rows innermost (channels innermost was 4-7x slower for the Gabor bank),
and every kernel wider than 3 is applied as 1-D passes: the Gaussian is separable, and so is
a Gabor filter with a round envelope once its sine is split (sin(a x + b y) = sin(a x)
cos(b y) + cos(a x) sin(b y)). `correlate` is what cv2.filter2D computes (correlation,
edges mirrored as OpenCV's default border), so results can be checked against OpenCV.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
SMOOTH = np.array([1, 2, 1], np.float32)  # Sobel's smoothing across its derivative
DERIVATIVE = np.array([-1, 0, 1], np.float32)
SECOND = np.array([1, -2, 1], np.float32)  # d2/dx2; along x plus along y: the Laplacian


def _offsets(size: int) -> tf.Tensor:
    """-(size//2) .. size//2 as float32."""
    half = size // 2
    return tf.range(-half, half + 1, dtype=tf.float32)


def gaussian_1d(size: int, sigma: tf.Tensor) -> tf.Tensor:
    """A normalised Gaussian of `size` taps ([size]); the 2-D blur is its outer product."""
    x = _offsets(size)
    g = tf.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / tf.reduce_sum(g)


def gabor_parts(size: int, sigma: tf.Tensor, wavelength: tf.Tensor, theta: tf.Tensor
                ) -> tuple[tf.Tensor, tf.Tensor]:
    """Gabor kernels for the orientations `theta` [K] (radians) as 1-D passes: (columns,
    rows), each [size, 2K], where kernel k is columns[:, k] x rows[:, k] plus columns[:, K+k]
    x rows[:, K+k]. A kernel is a Gaussian envelope times a sine wave running across its
    orientation, scaled to an L1 norm of 1; a sine is odd, so it also sums to 0: an edge
    detector, silent on flat areas."""
    x = _offsets(size)[:, None]  # [size, 1]
    envelope = tf.exp(-(x * x) / (2.0 * sigma * sigma))
    along_x = 2.0 * math.pi * tf.cos(theta)[None] / wavelength * x  # [size, K]
    along_y = 2.0 * math.pi * tf.sin(theta)[None] / wavelength * x
    rows = envelope * tf.concat([tf.sin(along_x), tf.cos(along_x)], -1)
    columns = envelope * tf.concat([tf.cos(along_y), tf.sin(along_y)], -1)
    count = theta.shape[0]
    norm = tf.reduce_sum(tf.abs(gabor_from_parts(columns, rows, count)), axis=[0, 1])
    return columns, rows / tf.tile(norm, [2])


def gabor_from_parts(columns: tf.Tensor, rows: tf.Tensor, count: int) -> tf.Tensor:
    """The full [size, size, K] kernels that `gabor_parts` describe."""
    full = columns[:, None, :] * rows[None, :, :]
    return full[..., :count] + full[..., count:]


def orientations(theta: tf.Tensor, count: int) -> tf.Tensor:
    """`count` orientations evenly over half a turn, starting at `theta` ([count])."""
    return theta + tf.range(count, dtype=tf.float32) * (math.pi / count)


def mirrored(size: int, pad: int) -> np.ndarray:
    """Indices of 0..size-1 extended by `pad` on each side, mirrored about the edge pixels
    (OpenCV's BORDER_REFLECT_101) as often as it takes: a frame narrower than the kernel is
    still filtered as OpenCV would."""
    period = max(1, 2 * (size - 1))
    index = np.arange(-pad, size + pad) % period
    return np.where(index >= size, period - index, index)


def mirror(planes: tf.Tensor, rows: int, columns: int) -> tf.Tensor:
    """planes [..., H, W] extended by `rows` above and below and `columns` left and right,
    mirrored about the edge pixels (OpenCV's BORDER_REFLECT_101)."""
    height, width = planes.shape[-2], planes.shape[-1]
    rank = len(planes.shape)
    if rows < height and columns < width:  # mirrored once: the fast pad
        return tf.pad(planes, [[0, 0]] * (rank - 2) + [[rows] * 2, [columns] * 2], "REFLECT")
    return tf.gather(tf.gather(planes, mirrored(height, rows), axis=rank - 2),
                     mirrored(width, columns), axis=rank - 1)


def valid(padded: tf.Tensor, kernels: tf.Tensor | np.ndarray) -> tf.Tensor:
    """padded [M, ..., H + kh - 1, W + kw - 1] correlated with kernels [kh, kw, K], M being 1
    (each kernel on the one stack of planes) or K (kernel k on planes k) -> [K, ..., H, W]:
    a sum of shifted copies. Rows stay innermost, so every copy is a contiguous run that XLA
    vectorises; taps that are zero in every constant kernel are skipped."""
    taps = np.any(kernels != 0, axis=2) if isinstance(kernels, np.ndarray) else None
    kernels = tf.convert_to_tensor(kernels, tf.float32)
    kh, kw, count = kernels.shape
    height, width = padded.shape[-2] - kh + 1, padded.shape[-1] - kw + 1
    weights = tf.reshape(kernels, [kh, kw, count] + [1] * (len(padded.shape) - 1))
    return tf.add_n([weights[i, j] * padded[..., i:i + height, j:j + width]
                     for i in range(kh) for j in range(kw) if taps is None or taps[i, j]])


def correlate(planes: tf.Tensor, kernels: tf.Tensor | np.ndarray) -> tf.Tensor:
    """planes [M, ..., H, W] correlated with kernels [kh, kw, K] (odd sides), edges mirrored
    -> [K, ..., H, W] (M as in `valid`)."""
    return valid(mirror(planes, kernels.shape[0] // 2, kernels.shape[1] // 2), kernels)


def separable(planes: tf.Tensor, columns: tf.Tensor | np.ndarray,
              rows: tf.Tensor | np.ndarray) -> tf.Tensor:
    """planes [..., H, W] correlated with the K kernels columns[:, k] x rows[:, k] (each
    [size, K]) as a pass along the rows then one along the columns -> [K, ..., H, W]. The
    frame is mirrored once, before both passes, so the pass between is never copied."""
    padded = mirror(planes[None], columns.shape[0] // 2, rows.shape[0] // 2)
    return valid(valid(padded, rows[None]), columns[:, None])
