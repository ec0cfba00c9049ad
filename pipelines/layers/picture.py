"""Activations made into a picture the frame's size: a mosaic of channels, or a few channels
false-coloured over the frame. Every function is a graph op on tensors, so which channels are
shown is a control value, not a new graph."""

from __future__ import annotations

import cv2
import numpy as np
import tensorflow as tf

# Viridis from OpenCV as an RGB lookup table of 256 colours, 0..1 (dark blue .. yellow).
VIRIDIS = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None],
                            cv2.COLORMAP_VIRIDIS)[:, 0, ::-1].astype(np.float32) / 255.0
LUMA = (0.299, 0.587, 0.114)


def pick(acts: tf.Tensor, channel: tf.Tensor, count: int) -> tf.Tensor:
    """Which channels to show, [N, count]: `channel` and the ones after it (wrapping round
    the layer's channels), or with a negative `channel` each frame's strongest (by mean)."""
    channels = acts.shape[-1]
    strongest = tf.math.top_k(tf.reduce_mean(acts, axis=[1, 2]), count).indices
    following = (tf.cast(channel, tf.int32) + tf.range(count)) % channels
    return tf.where(channel < 0, strongest, tf.broadcast_to(following, tf.shape(strongest)))


def _normalised(acts: tf.Tensor, chosen: tf.Tensor) -> tf.Tensor:
    """The chosen channels [N, h, w, K], each scaled by its own largest value to 0..1."""
    maps = tf.gather(acts, chosen, axis=3, batch_dims=1)
    return maps / (tf.reduce_max(maps, axis=[1, 2], keepdims=True) + 1e-6)


def colour(values: tf.Tensor) -> tf.Tensor:
    """[..., 1] in 0..1 -> [..., 3] viridis colours."""
    index = tf.cast(tf.round(tf.clip_by_value(values[..., 0], 0.0, 1.0) * 255.0), tf.int32)
    return tf.gather(tf.constant(VIRIDIS), index)


def mosaic(acts: tf.Tensor, channel: tf.Tensor, grid: int, size: tf.Tensor) -> tf.Tensor:
    """grid x grid channels of acts [N, h, w, C] side by side, each with a dark line below and
    to its right, in viridis, stretched to `size` (the frame's height, width) -> [N, H, W, 3]."""
    tiles = _normalised(acts, pick(acts, channel, grid * grid))
    tiles = tf.pad(tiles, [[0, 0], [0, 1], [0, 1], [0, 0]])  # [N, h+1, w+1, G*G]
    n, h, w = tf.shape(tiles)[0], tf.shape(tiles)[1], tf.shape(tiles)[2]
    rows = tf.reshape(tiles, [n, h, w, grid, grid])
    rows = tf.transpose(rows, [0, 3, 1, 4, 2])  # [N, row, h, col, w]
    sheet = tf.reshape(rows, [n, grid * h, grid * w, 1])
    return colour(tf.image.resize(sheet, size, "nearest"))


def overlay(images: tf.Tensor, acts: tf.Tensor, channel: tf.Tensor) -> tf.Tensor:
    """Three channels of acts in red, green and blue over the frame's dimmed luminance."""
    maps = tf.image.resize(_normalised(acts, pick(acts, channel, 3)), tf.shape(images)[1:3])
    grey = 0.5 * tf.reduce_sum(images * tf.constant(LUMA), axis=-1, keepdims=True)
    cover = tf.reduce_max(maps, axis=-1, keepdims=True)
    return tf.clip_by_value(grey * (1.0 - cover) + maps, 0.0, 1.0)  # the maps as R, G, B
