"""The `layers` pipeline: what a VGG16 layer sees in each frame, as the picture.

`mosaic` tiles a grid of the layer's channels over the whole frame; `overlay` false-colours
three channels (red, green, blue) over the frame. The layer is a branch of a switch on a
control, each branch stopping the network at its own layer, so a live show moves between its
compiled layers (the last of each block, and the one asked for) without recompiling; channel
and view are control values too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import compute_dtype
from dreamreel.pipelines.layers import picture
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.vgg16 import LAYERS, VGG16Features

VIEWS = ("mosaic", "overlay")
# The layers a live show can move between (with the one given): the last of each block.
LIVE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")


@dataclass(frozen=True)
class LayerOptions:
    vgg_layer: str = setting("block3_conv3", "the VGG16 layer shown", choices=LAYERS, live=True,
                             keys=("v", "c"), steps=LIVE_LAYERS)
    channel: int = setting(-1, "the first channel shown (wrapping round the layer's), or -1 "
                           "for each frame's strongest", low=-1, high=511, live=True,
                           keys=("a", "z"), nudge=1, span=(-1, 63))
    view: str = setting("mosaic", "mosaic: a grid of channels; overlay: three channels in "
                        "red, green and blue over the frame", choices=VIEWS, live=True,
                        steps=VIEWS)
    tiles: int = setting(4, "mosaic: a grid of tiles x tiles channels (block1 has 64)", low=1,
                       high=8)


class LayerEffect:
    """One VGG16 layer's activations as the frame; strength is mixed in by the engine."""

    name = "layers"
    stride = 1  # the picture is stretched back to the frame's size whatever the pooling
    handles_strength = False

    def __init__(self, features: VGG16Features, options: LayerOptions,
                 layers: tuple[str, ...]) -> None:
        self.features, self.options, self.layers = features, options, layers

    def live_steps(self) -> dict[str, list[str]]:
        """The layers keys and faders step through: those compiled for this show."""
        return {"vgg_layer": list(self.layers)}

    def controls(self, settings: LayerOptions | None = None) -> dict[str, np.ndarray]:
        o = settings or self.options
        if o.vgg_layer not in self.layers:
            raise SettingsError(f"layer {o.vgg_layer} was not compiled for this show; live "
                                f"layers: {', '.join(self.layers)} (add one with --vgg-layer)")
        return {"layer": np.float32(self.layers.index(o.vgg_layer)),
                "channel": np.float32(o.channel), "view": np.float32(VIEWS.index(o.view)),
                "strength": np.float32(1.0)}

    def __call__(self, images: tf.Tensor, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        def shown(layer: str):
            def branch() -> tf.Tensor:
                acts = self.features(images, [layer])[layer]
                return tf.cond(
                    controls["view"] < 0.5,
                    lambda: picture.mosaic(acts, controls["channel"], self.options.tiles,
                                           tf.shape(images)[1:3]),
                    lambda: picture.overlay(images, acts, controls["channel"]))
            return branch

        out = tf.switch_case(tf.cast(controls["layer"], tf.int32),
                             [shown(layer) for layer in self.layers])
        return tf.ensure_shape(out, images.shape)


def build(options: LayerOptions, context: Context) -> LayerEffect:
    wanted = {options.vgg_layer, *(LIVE_LAYERS if context.live else ())}
    layers = tuple(layer for layer in LAYERS if layer in wanted)  # shallow to deep
    features = VGG16Features(context.load("vgg16"), dtype=compute_dtype(context.precision))
    return LayerEffect(features, options, layers)


PIPELINE = Pipeline(
    name="layers",
    summary="a VGG16 layer's activations as the picture: a mosaic of channels, or the "
    "strongest ones false-coloured over the frame",
    kind="frame",
    settings=LayerOptions,
    build=build,
    networks=("vgg16",),
)
