"""The 26-style network's layout and what one style is, without TensorFlow.

The layers of :mod:`multistyle` (their ONNX names, kernels, strides and widths), the number of
built-in styles, the size multiple and the upsampling methods: the command line, the learned
styles' store and the effect's controls need these, and none of them needs the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

NUM_STYLES = 26
"""Number of built-in styles: ``style_weights`` has this many entries."""

STRIDE = 4
"""Two stride-2 convs down, two 2x upsamplings up: H and W must be multiples of 4."""

UPSAMPLING = ("nearest", "bilinear")
"""How the networks go back up: ``nearest`` as they were trained; ``bilinear`` moves the strokes
with the picture instead of the network's 4-pixel grid (half the flicker on pans, bolder strokes:
benchmarks/RESULTS.md, "The network's grid")."""


@dataclass(frozen=True)
class Layer:
    """One conv + conditional-instance-norm layer: ONNX prefix and its expected shapes."""

    name: str  # ONNX prefix: weights at f"{name}.w", norm at f"{name}.norm.gamma/beta"
    kernel: int
    stride: int
    cin: int
    cout: int
    upsample: bool = False  # 2x upsampling (the network's `upsampling`) before the pad + conv


# Explicit map from ONNX initializer prefixes to layers, in execution order.
CONTRACT = (
    Layer("contract.0", 9, 1, 3, 32),
    Layer("contract.1", 3, 2, 32, 32),
    Layer("contract.2", 3, 2, 32, 32),
)
RESIDUAL = tuple(
    (Layer(f"res.{i}.0", 3, 1, 32, 32), Layer(f"res.{i}.1", 3, 1, 32, 32)) for i in range(6)
)
EXPAND = (
    Layer("expand.0", 3, 1, 32, 8, upsample=True),
    Layer("expand.1", 3, 1, 8, 4, upsample=True),
    Layer("expand.2", 9, 1, 4, 3),
)
LAYERS = CONTRACT + tuple(layer for block in RESIDUAL for layer in block) + EXPAND

NORM_SHAPES = {f"{layer.name}.{kind}": (layer.cout,) for layer in LAYERS
               for kind in ("gamma", "beta")}
"""One style's parameters: a scale and a shift per channel of every layer (990 numbers)."""


STEADY = "steady"
"""The style setting's third way up: bilinear, with the network fine-tuned on this machine to keep
its look (`dreamreel styles steady`, pipelines/style/steady.py)."""


def check_upsampling(method: str) -> None:
    """Raise ValueError unless `method` is one of :data:`UPSAMPLING` (before any tracing)."""
    if method not in UPSAMPLING:
        raise ValueError(f"upsampling {method!r} is not one of {', '.join(UPSAMPLING)}")


def check_norm_params(style: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError unless `style` has exactly the scales and shifts of one style."""
    for key, shape in NORM_SHAPES.items():
        if key not in style or np.shape(style[key]) != shape:
            raise ValueError(f"{key}: expected shape {shape}, got "
                             f"{np.shape(style[key]) if key in style else 'nothing'}")
        if not np.all(np.isfinite(style[key])):
            raise ValueError(f"{key} holds a NaN or an infinity")
