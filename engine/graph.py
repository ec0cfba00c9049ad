"""The compiled frame graph: uint8 frames in, uint8 frames out, one compile per run.

Everything between the decoder and the encoder happens inside one `tf.function`: uint8 to
float, resizing to the working resolution, reflect-padding to the effect's stride, the
effect, cropping, the strength blend, colour preservation, resizing back and rounding to
uint8. Shapes are fixed per run (a partial last batch is padded by the caller), and styles
and strengths are graph inputs, so the graph compiles exactly once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.base import Effect
from dreamreel.pipelines.resize import shrink

JIT_CHOICES = ("auto", "on", "off")
PRECISIONS = ("float32", "bfloat16", "float16")


def working_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """The size the network sees: the input's, or scaled so its short side is `short_side`."""
    if not short_side or short_side >= min(height, width):
        return height, width
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def default_device() -> str:
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX), where oneDNN runs the
    style network about 20% faster in it (benchmarks/RESULTS.md, `dreamreel bench`)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_jit(jit: str, device: str) -> bool:
    """`auto`: XLA on a GPU, where it fuses norms and elementwise work; TF's oneDNN kernels on
    the CPU, where XLA measured slower (benchmarks/RESULTS.md)."""
    if jit not in JIT_CHOICES:
        raise ValueError(f"--jit must be one of {JIT_CHOICES}, not '{jit}'")
    return jit == "on" or (jit == "auto" and "GPU" in device.upper())


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
