"""Gram matrices of VGG16 features: the style representation of Gatys et al. 2016
("Image Style Transfer Using Convolutional Neural Networks"), shared by film mode's loss and
the metrics command's style distance."""

from __future__ import annotations

import tensorflow as tf

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


def gram(features: tf.Tensor) -> tf.Tensor:
    """[N, H, W, C] activations -> [N, C, C] Gram matrices, normalised by H*W*C so that
    layers and picture sizes are comparable."""
    shape = tf.shape(features)
    n, c = shape[0], shape[3]
    flat = tf.reshape(tf.cast(features, tf.float32), [n, -1, c])  # [N, H*W, C]
    size = tf.cast(shape[1] * shape[2] * c, tf.float32)
    return tf.matmul(flat, flat, transpose_a=True) / size  # [N, C, C]


def style_distance(grams_a: dict[str, tf.Tensor], grams_b: dict[str, tf.Tensor]) -> tf.Tensor:
    """Sum over layers of the mean squared difference of Gram matrices -> [N]."""
    return tf.add_n([
        tf.reduce_mean(tf.square(grams_a[k] - grams_b[k]), axis=[1, 2]) for k in grams_a
    ])
