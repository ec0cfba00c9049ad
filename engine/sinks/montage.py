"""A montage output: every processed frame (a folder of photos, a clip) as a tile of one
picture, the lesson's "convolve your images and show them side by side"."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.errors import MediaError

from .base import Sink
from .images import _save_image
from .safety import temp_name

TILE = 256  # the longest side of a tile, pixels
GAP = 2  # black pixels between tiles
MAX_TILES = 400  # a 20 x 20 sheet: about 5000 px a side, kept in memory until the end


def check_count(path: Path, frames: int | None) -> None:
    """A one-line refusal of a montage of more pictures than MAX_TILES."""
    if frames is not None and frames > MAX_TILES:
        raise MediaError(f"{path}: a montage takes at most {MAX_TILES} pictures, not {frames}; "
                         "pick fewer (--start/--duration, or fewer files)")


class _MontageSink(Sink):
    """Keeps a small copy of every frame; on close, lays them out row by row in a near-square
    grid and writes the one picture."""

    def __init__(self, path: Path, info: MediaInfo, overwrite: bool = False) -> None:
        super().__init__(path, temp_name(path), overwrite)
        self._rotation = info.rotation
        self._tiles: list[np.ndarray] = []

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        check_count(self.path, len(self._tiles) + 1)
        scale = min(1.0, TILE / max(image.shape[:2]))
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        self._tiles.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))

    def _finish(self, interrupted: bool) -> None:
        _save_image(self._temp, montage(self._tiles), self._rotation, self.path.suffix)


def montage(tiles: list[np.ndarray]) -> np.ndarray:
    """Same-sized uint8 images [h, w, 3] in a grid of ceil(sqrt(n)) columns, GAP apart."""
    h, w = tiles[0].shape[:2]
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = np.zeros((rows * (h + GAP) - GAP, columns * (w + GAP) - GAP, 3), np.uint8)
    for i, tile in enumerate(tiles):
        y, x = (i // columns) * (h + GAP), (i % columns) * (w + GAP)
        sheet[y:y + h, x:x + w] = tile
    return sheet
