"""The `kernels` pipeline: the convolution lesson on every frame (blur, sharpen, emboss, Sobel
and Laplacian edges, Gabor filters and a bank of Gabor orientations).

Every kernel of the bank sits in one compiled graph as a branch of a switch on the `kernel`
control, so changing the kernel, its sigma, wavelength, orientation or gain, or luminance versus
per-channel, is a new input value: only the chosen branch runs and nothing recompiles. Blur,
sharpen and emboss give a picture; the edge and Gabor kernels give a response map, shown as
its magnitude times `gain`. The run's strength mixes the result with the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.kernels import bank
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting

KERNELS = ("blur", "sharpen", "emboss", "sobel", "laplacian", "gabor", "gabor_bank")
PICTURES = ("blur", "sharpen", "emboss")  # the others' output is a response map
LUMA = (0.299, 0.587, 0.114)  # BT.601, as OpenCV's RGB2GRAY
# Scales that bring each detector's strongest response on a black/white edge near 1.
SOBEL_SCALE, GABOR_SCALE = 0.25, 4.0


def _odd(size: int) -> int:
    if size % 2 == 0:
        raise SettingsError(f"kernel_size {size} must be odd (the kernel needs a centre)")
    return size


@dataclass(frozen=True)
class KernelOptions:
    kernel: str = setting("gabor_bank", "the kernel: " + ", ".join(KERNELS), choices=KERNELS,
                          live=True, keys=("j", "h"), steps=KERNELS)
    sigma: float = setting(3.0, "blur and Gabor envelope width, pixels", low=0.5, high=16.0,
                           live=True, nudge=0.5)
    wavelength: float = setting(8.0, "Gabor sine wavelength, pixels", low=2.0, high=64.0,
                                live=True, keys=("w", "x"), nudge=1.0)
    orientation: float = setting(0.0, "Gabor orientation, degrees (the bank's first one)",
                                 low=0.0, high=180.0, live=True, keys=("r", "e"), nudge=15.0)
    gain: float = setting(1.0, "how bright edge and Gabor responses are shown", low=0.1,
                          high=20.0, live=True, keys=("g", "f"), nudge=0.5, span=(0.1, 5.0))
    luminance: bool = setting(False, "convolve the luminance only (edges in grey, blur and "
                              "sharpen keeping the colours) instead of each channel", live=True)
    kernel_size: int = setting(15, "side of the blur and Gabor kernels, pixels (odd)", low=3,
                               high=31, parse=_odd)
    orientations: int = setting(4, "Gabor bank: how many orientations are combined", low=2,
                                high=16)


class KernelEffect:
    """The lesson's kernels on each frame; strength is mixed in by the engine."""

    name = "kernels"
    stride = 1
    handles_strength = False

    def __init__(self, options: KernelOptions) -> None:
        self.options = options

    def controls(self, settings: KernelOptions | None = None) -> dict[str, np.ndarray]:
        o = settings or self.options
        return {"kernel": np.float32(KERNELS.index(o.kernel)), "sigma": np.float32(o.sigma),
                "wavelength": np.float32(o.wavelength),
                "theta": np.float32(math.radians(o.orientation)),
                "gain": np.float32(o.gain), "luminance": np.float32(o.luminance),
                "strength": np.float32(1.0)}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        luma = tf.reduce_sum(images * tf.constant(LUMA), axis=-1, keepdims=True)  # [N, H, W, 1]
        return tf.cond(controls["luminance"] > 0.5,
                       lambda: self._on_luma(images, luma, controls),
                       lambda: self._filter(images, controls))

    def _on_luma(self, images: tf.Tensor, luma: tf.Tensor, controls: dict[str, tf.Tensor]
                 ) -> tf.Tensor:
        """A picture kernel changes the luminance and keeps the colours; a detector's map is
        grey."""
        response = self._filter(luma, controls)
        picture = tf.reduce_any(tf.equal(controls["kernel"],
                                         [float(KERNELS.index(k)) for k in PICTURES]))
        coloured = tf.clip_by_value(images + response - luma, 0.0, 1.0)
        return tf.where(picture, coloured, tf.tile(response, [1, 1, 1, 3]))

    def _filter(self, x: tf.Tensor, c: dict[str, tf.Tensor]) -> tf.Tensor:
        """x [N, H, W, C] -> the chosen kernel's picture or response map [N, H, W, C], worked
        out on planes [N, C, H, W] (bank.correlate's layout)."""
        size, count = self.options.kernel_size, self.options.orientations
        planes = tf.transpose(x, [0, 3, 1, 2])

        def blur() -> tf.Tensor:
            g = bank.gaussian_1d(size, c["sigma"])[:, None]
            return bank.separable(planes, g, g)[0]

        def emboss() -> tf.Tensor:
            return bank.correlate(planes[None], bank.EMBOSS[..., None])[0]

        def laplacian() -> tf.Tensor:
            unit = np.eye(3, 1, -1, np.float32)  # [0, 1, 0]: no change along that axis
            both = bank.separable(planes, np.hstack([unit, bank.SECOND[:, None]]),
                                  np.hstack([bank.SECOND[:, None], unit]))
            return both[0] + both[1]

        def sobel() -> tf.Tensor:
            d, s = bank.DERIVATIVE[:, None], bank.SMOOTH[:, None]
            both = bank.separable(planes, np.hstack([s, d]), np.hstack([d, s]))
            return SOBEL_SCALE * tf.sqrt(both[0] * both[0] + both[1] * both[1])

        def gabor(angles: tf.Tensor) -> tf.Tensor:
            columns, rows = bank.gabor_parts(size, c["sigma"], c["wavelength"], angles)
            halves = bank.separable(planes, columns, rows)
            both = halves[:angles.shape[0]] + halves[angles.shape[0]:]
            return GABOR_SCALE * tf.reduce_max(tf.abs(both), 0)

        branches = [
            blur,
            lambda: planes - laplacian(),  # sharpen: the frame minus its Laplacian
            emboss,
            lambda: c["gain"] * sobel(),
            lambda: c["gain"] * tf.abs(laplacian()),
            lambda: c["gain"] * gabor(c["theta"][None]),
            lambda: c["gain"] * gabor(bank.orientations(c["theta"], count)),
        ]
        out = tf.switch_case(tf.cast(c["kernel"], tf.int32), branches)
        out = tf.transpose(tf.ensure_shape(out, planes.shape), [0, 2, 3, 1])
        return tf.clip_by_value(out, 0.0, 1.0)


def build(options: KernelOptions, context: Context) -> KernelEffect:
    return KernelEffect(options)


PIPELINE = Pipeline(
    name="kernels",
    summary="convolution kernels on every frame: blur, sharpen, emboss, Sobel, Laplacian, "
    "Gabor filters and banks",
    kind="frame",
    settings=KernelOptions,
    build=build,
    precisions=("float32",),
)
