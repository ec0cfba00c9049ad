"""The `painting` pipeline: every frame is what a small coordinate network has learnt of it.

A network f(x, y) -> RGB (network.py) is fitted to each frame by a few Adam steps and its
picture is the output: the look of a network learning a picture (lesson 2, image painting).
On video each frame starts from the previous frame's network and Adam state, so the picture
carries over and only what moved is relearnt: steadier than fitting every frame afresh
(`--per-frame`, for comparison), and with far fewer steps a frame (--steps against the
--fresh-steps of a fresh fit).

A scene cut restarts from the seed's initial weights, as does a frame that is not the next one
of the last call (a resumed or split render): the frames of a shot then depend on that shot
alone, so a render split at its cuts is the same as one made whole, and the old shot never
lingers as a ghost in the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.pipelines.base import Guide
from dreamreel.pipelines.painting.network import CoordinateNet, grid
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting

# A warm-started frame takes steps this much smaller than a fresh fit's: the network is close
# already, and full-size Adam steps only shake it. On 6 frames of the silent film (69x50), 12
# steps at 0.1x gave E_warp 0.0040 at 27.9 dB PSNR; fresh fits of 60 steps, as close to the
# film (27.8 dB), 0.0082; 12 steps at 0.3x 0.0069 (the film itself: 0.0063).
WARM_RATE = 0.1


@dataclass(frozen=True)
class PaintingOptions:
    steps: int = setting(20, "Adam steps per video frame, warm-started from the last", low=1,
                         high=100_000)
    # Not --first-steps: that flag is gatys's `steps`, and the command line's settings reach
    # every pipeline by name (engine.commands.options.setting_values).
    fresh_steps: int = setting(300, "Adam steps of a frame fitted from fresh weights: a still, "
                               "a video's first frame, one after a cut, every one with "
                               "--per-frame", low=1, high=100_000)
    detail: float = setting(8.0, "spread of the Fourier-feature frequencies, cycles across the "
                            "picture: 0 paints soft blobs, higher learns finer detail", low=0.0,
                            high=64.0)
    width: int = setting(64, "hidden units in each of the network's 3 layers (its capacity)",
                         low=4, high=1024)
    learning_rate: float = setting(0.01, f"Adam's step size ({WARM_RATE:g}x on warm-started "
                                   "frames)", low=1e-6, high=1.0)
    seed: int = setting(0, "random seed of the network's weights and frequencies", low=0,
                        high=2**31 - 1)
    per_frame: bool = setting(False, "fit every frame from fresh weights (no warm start): for "
                              "comparison")


class PaintingSequence:
    """The fitting as a sequential effect (see the module docstring)."""

    name = "painting"
    residual = False  # the network's picture replaces the frame
    temporal = 0.0  # the warm start keeps it steady; no blend afterwards

    def __init__(self, net: CoordinateNet, options: PaintingOptions) -> None:
        self.net, self.options = net, options
        self.next_index: int | None = None  # the frame that may start from the current weights
        self.grids: dict[tuple[int, int], tf.Tensor] = {}
        self.note: str | None = None  # the last frame's loss, for the progress report

    def controls(self, settings: PaintingOptions | None = None) -> dict[str, np.ndarray]:
        return {"learning_rate": np.float32((settings or self.options).learning_rate)}

    def __call__(self, frame: np.ndarray, guide: Guide | None, index: int,
                 controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        warm = (not self.options.per_frame and guide is not None and not guide.is_cut
                and index == self.next_index)
        if not warm:
            self.net.restart()
        height, width = frame.shape[:2]
        coords = self.coords(height, width)
        target = tf.constant(frame.reshape(-1, 3).astype(np.float32) / 255.0)
        rate = float((controls or self.controls())["learning_rate"]) * (WARM_RATE if warm else 1)
        steps = self.options.steps if warm else self.options.fresh_steps
        loss = self.net.fit(coords, target, steps, rate, key=(self.options.seed << 32) + index)
        self.next_index = index + 1
        self.note = f"loss {loss:.4f} ({'warm' if warm else 'fresh'} start)"
        return self.net.picture(coords, height, width)

    def coords(self, height: int, width: int) -> tf.Tensor:
        """The pixel grid of a frame size, made once."""
        if (height, width) not in self.grids:
            self.grids[(height, width)] = grid(height, width)
        return self.grids[(height, width)]

    def reset(self) -> None:
        """The next frame starts from the seed's initial weights."""
        self.next_index = None


def build(options: PaintingOptions, context: Context) -> PaintingSequence:
    net = CoordinateNet(options.detail, options.width, options.seed, jit=context.jit)
    return PaintingSequence(net, options)


PIPELINE = Pipeline(
    name="painting",
    summary="image painting: a coordinate network f(x, y) -> RGB fitted to each frame, warm "
    "started from the last (lesson 2)",
    kind="sequential",
    settings=PaintingOptions,
    build=build,
    place="last",
    live=False,
    precisions=("float32",),
    keeps_steady=True,
)
