"""Image resizing that XLA can compile.

`tf.image.resize(..., antialias=True)` lowers to ScaleAndTranslate, which has no XLA kernel on
the CPU or the GPU, so a graph built with `jit_compile=True` (the GPU default, `--jit on`)
that shrinks frames with it fails to compile. `shrink` gets most of the antialiasing from a
box average instead.
"""

from __future__ import annotations

import tensorflow as tf


def shrink(images: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """[N, H, W, C] float (static H, W) -> [N, *size, C], antialiased when shrinking.

    Averages k x k blocks, k the whole part of the smaller of the two ratios (edge blocks
    average only the pixels they have), then resizes the rest of the way bilinearly.
    """
    height, width = images.shape[1], images.shape[2]
    k = int(min(height / size[0], width / size[1]))
    if k >= 2:
        images = tf.nn.avg_pool2d(images, k, k, "SAME")
    return tf.image.resize(images, size, method="bilinear")
