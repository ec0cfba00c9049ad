"""The compiled frame graph: uint8 frames in, uint8 frames out, one compile per run.

Everything between the decoder and the encoder happens inside one `tf.function`: uint8 to
float, resizing to the working resolution, reflect-padding to the effect's stride, the
effect, cropping, the strength blend, colour preservation, resizing back and rounding to
uint8. Shapes are fixed per run (a partial last batch is padded by the caller), and styles
and strengths are graph inputs, so the graph compiles exactly once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.base import Effect
from dreamreel.pipelines.resize import shrink


def _luma_chroma(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    yuv = tf.image.rgb_to_yuv(rgb)
    return yuv[..., :1], yuv[..., 1:]


@dataclass
class FrameGraph:
    """One effect compiled for one frame shape: call it with a uint8 batch and controls."""

    effect: Effect
    batch: int
    height: int
    width: int
    work_height: int
    work_width: int
    jit: bool
    device: str
    preserve_color: bool = False

    def __post_init__(self) -> None:
        stride = self.effect.stride
        self._pad_h = math.ceil(self.work_height / stride) * stride - self.work_height
        self._pad_w = math.ceil(self.work_width / stride) * stride - self.work_width
        names = sorted(self.effect.controls())
        signature = [tf.TensorSpec([self.batch, self.height, self.width, 3], tf.uint8)] + [
            tf.TensorSpec(np.shape(self.effect.controls()[n]), tf.float32) for n in names
        ]
        self._names = names
        self._fn = tf.function(self._graph, input_signature=signature, jit_compile=self.jit)

    def _graph(self, frames: tf.Tensor, *control_values: tf.Tensor) -> tf.Tensor:
        controls = dict(zip(self._names, control_values, strict=True))
        source = tf.cast(frames, tf.float32) / 255.0  # [N, H, W, 3]
        resized = (self.work_height, self.work_width) != (self.height, self.width)
        x = shrink(source, (self.work_height, self.work_width)) if resized else source
        if self._pad_h or self._pad_w:
            # Reflect, never stretch: the network sees real image content at the borders.
            x = tf.pad(x, [[0, 0], [0, self._pad_h], [0, self._pad_w], [0, 0]], mode="REFLECT")
        y = self.effect(x, controls)
        y = y[:, : self.work_height, : self.work_width, :]
        if resized:
            # XLA has no bicubic kernel (CPU or GPU): bilinear when the graph is compiled.
            method = "bilinear" if self.jit else "bicubic"
            y = tf.image.resize(y, (self.height, self.width), method=method)
        if not self.effect.handles_strength and "strength" in controls:
            y = source + controls["strength"] * (y - source)
        if self.preserve_color:
            luma, _ = _luma_chroma(y)
            _, chroma = _luma_chroma(source)
            y = tf.image.yuv_to_rgb(tf.concat([luma, chroma], axis=-1))
        return tf.cast(tf.round(tf.clip_by_value(y, 0.0, 1.0) * 255.0), tf.uint8)

    def __call__(self, frames: np.ndarray, controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """frames: [batch, H, W, 3] uint8 -> the same shape, stylized."""
        values = {**self.effect.controls(), **(controls or {})}
        with tf.device(self.device):
            out = self._fn(frames, *(np.asarray(values[n], np.float32) for n in self._names))
        return out.numpy()
