"""DeepDream on VGG16 (Mordvintsev et al. 2015): see dream.py for the design."""

from dreamreel.pipelines.dream.dream import (
    DreamEffect,
    Dreamer,
    DreamSettings,
    dream,
    octave_sizes,
    parse_layer_key,
    parse_layers,
    tile_spans,
    zoom_frame,
)

__all__ = [
    "DreamEffect",
    "DreamSettings",
    "Dreamer",
    "dream",
    "octave_sizes",
    "parse_layer_key",
    "parse_layers",
    "tile_spans",
    "zoom_frame",
]
