"""A whole dreamreel effect in one file: the negative of each frame, `amount` of the way."""

from dataclasses import dataclass

import numpy as np

from dreamreel.pipelines.registry import Pipeline
from dreamreel.pipelines.settings import setting


@dataclass(frozen=True)
class InvertOptions:
    amount: float = setting(1.0, "how far toward the negative, 0..1", low=0.0, high=1.0,
                            live=True, keys=("i", "u"), nudge=0.1)


class Invert:
    name = "invert"
    stride = 1  # any frame size will do
    handles_strength = False  # the engine blends the result with the frame by --strength

    def __init__(self, options: InvertOptions) -> None:
        self.options = options

    def controls(self, settings: InvertOptions | None = None) -> dict[str, np.ndarray]:
        """Graph inputs: a live change of `amount` never recompiles."""
        return {"amount": np.float32((settings or self.options).amount),
                "strength": np.float32(1.0)}

    def __call__(self, images, controls):  # [N, H, W, 3] float32 RGB 0..1, traced by TensorFlow
        return images + controls["amount"] * (1.0 - 2.0 * images)


PIPELINE = Pipeline(name="invert", summary="the negative of each frame", kind="frame",
                    settings=InvertOptions, build=lambda options, context: Invert(options))
