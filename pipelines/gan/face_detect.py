"""Faces found with OpenCV's frontal-face Haar cascade, evaluated here in NumPy.

OpenCV 5 dropped `cv2.CascadeClassifier` (and its bundled XML files), so the cascade comes
through the weights manifest (`haar_frontalface`, converted to arrays by
weights/convert.py) and this module runs it the way OpenCV 4's detector does (Viola & Jones
2001): the grey picture is shrunk by steps of `scale`, a 24x24 window slides over each size
(2 px apart while the shrink is under 2x), and each window passes the 25 boosted stages or is
dropped at the first it fails. A stump compares a sum of weighted rectangles (read off the
integral image) with its threshold times the window's standard deviation, so lighting does
not matter. Windows that pass are grouped as OpenCV's `groupRectangles` does; a face is a
group of more than `neighbours` windows.

`FaceTracker` follows one face through a clip: the group nearest the last box, smoothed,
held through a few frames where the detector blinks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

GROUP_EPS = 0.2  # how far (a share of the size) two windows of one face may lie apart
DENSE_STAGES = 3  # stages read as slices of the integral image (HaarCascade._dense)
_CORNER_SIGN = np.array([1.0, -1.0, -1.0, 1.0])  # rectangle sum from 4 integral corners


@dataclass(frozen=True)
class Face:
    """A face's square box in pixels (left, top, side) and how many windows found it."""

    x: float
    y: float
    side: float
    hits: int = 0

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.side / 2, self.y + self.side / 2


class HaarCascade:
    """A stump cascade (the arrays of weights/convert.py `haar_cascade_arrays`)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.window = int(arrays["window"][0]), int(arrays["window"][1])  # height, width
        self.stage_threshold = np.asarray(arrays["stage_threshold"], np.float64)
        ends = np.asarray(arrays["stage_end"]).astype(int)
        self.stages = list(zip(np.concatenate([[0], ends[:-1]]), ends, strict=True))
        self.threshold = np.asarray(arrays["stump_threshold"], np.float64)  # [W]
        self.leaves = np.asarray(arrays["stump_leaves"], np.float64)  # [W, 2]
        rects = np.asarray(arrays["feature_rects"], np.float64)
        self.rects = rects[np.asarray(arrays["stump_feature"]).astype(int)]  # [W, 3, 5]
        # each rectangle's weight at its 4 integral-image corners: [W, 12]
        self.weights = (self.rects[:, :, 4:5] * _CORNER_SIGN).reshape(len(self.rects), -1)

    @functools.lru_cache(maxsize=64)  # noqa: B019 (one cascade per pipeline, kept for its life)
    def _corners(self, stride: int) -> np.ndarray:
        """Flat offsets into an integral image `stride` wide of every rectangle's corners
        (top-left, top-right, bottom-left, bottom-right), relative to the window: [W, 12]."""
        x, y, w, h = (self.rects[:, :, i].astype(int) for i in range(4))
        top_left = y * stride + x
        corners = [top_left, top_left + w, top_left + h * stride, top_left + h * stride + w]
        return np.stack(corners, axis=-1).reshape(len(self.rects), -1).astype(np.int32)

    def _dense(self, table: np.ndarray, start: int, end: int, grid: tuple[int, int],
               step: int) -> np.ndarray:
        """Features start..end of every window of the grid (`grid` rows and columns, `step`
        px apart), read off the 2-D integral image `table` as strided slices: [n, end-start].
        The first stages see nearly every window, and slices are several times cheaper than
        gathering each window's corners."""
        rows, cols = grid
        out = np.zeros((end - start, rows, cols))

        def corner(x: int, y: int) -> np.ndarray:
            return table[y:y + step * (rows - 1) + 1:step, x:x + step * (cols - 1) + 1:step]

        for feature, rects in zip(out, self.rects[start:end], strict=True):
            for x, y, w, h, weight in rects.tolist():
                x, y, w, h = int(x), int(y), int(w), int(h)
                if weight:
                    feature += weight * (corner(x, y) - corner(x + w, y) - corner(x, y + h)
                                         + corner(x + w, y + h))
        return out.reshape(end - start, -1).T

    def windows(self, gray: np.ndarray, step: int) -> np.ndarray:
        """(x, y) of every window of uint8 `gray` that passes all stages: int [n, 2]."""
        height, width = self.window
        rows, cols = gray.shape
        if rows < height or cols < width:
            return np.zeros((0, 2), int)
        table, squares = cv2.integral2(gray, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        stride = cols + 1
        total, squares = table.ravel(), squares.ravel()
        ys, xs = np.mgrid[0:rows - height + 1:step, 0:cols - width + 1:step]
        base = (ys * stride + xs).ravel().astype(np.int32)
        # the window's spread over its inner (h-2) x (w-2) pixels, as OpenCV normalises
        inner = np.array([stride + 1, stride + width - 1, (height - 1) * stride + 1,
                          (height - 1) * stride + width - 1], np.int32)
        area = (height - 2) * (width - 2)
        mass = total[base[:, None] + inner] @ _CORNER_SIGN
        energy = squares[base[:, None] + inner] @ _CORNER_SIGN
        spread = area * energy - mass * mass
        spread = np.where(spread > 0, np.sqrt(np.maximum(spread, 0)), 1.0)
        corners = self._corners(stride)
        alive = np.arange(len(base))  # which windows of the grid are still in
        for stage, ((start, end), needed) in enumerate(zip(self.stages, self.stage_threshold,
                                                           strict=True)):
            if stage < DENSE_STAGES:
                values = self._dense(table, start, end, ys.shape, step)[alive]
            else:
                sums = total.take(base[alive, None, None] + corners[start:end])  # [n, k, 12]
                values = np.einsum("nkc,kc->nk", sums, self.weights[start:end])
            below = values < self.threshold[start:end] * spread[alive, None]
            votes = np.where(below, self.leaves[start:end, 0], self.leaves[start:end, 1])
            alive = alive[votes.sum(axis=1) >= needed]
            if not len(alive):
                break
        base = base[alive]
        return np.stack([base % stride, base // stride], axis=1)

    def detect(self, gray: np.ndarray, smallest: float = 0, largest: float = np.inf,
               scale: float = 1.2, neighbours: int = 3) -> list[Face]:
        """Faces in uint8 grey `gray` from `smallest` to `largest` px, most windows first."""
        rows, cols = gray.shape
        found = []
        factor = max(1.0, smallest / self.window[1])
        while (round(rows / factor) >= self.window[0] and round(cols / factor) >= self.window[1]
               and self.window[1] * factor <= largest):
            size = (round(cols / factor), round(rows / factor))
            shrunk = gray if factor == 1.0 else cv2.resize(gray, size,
                                                           interpolation=cv2.INTER_LINEAR)
            hits = self.windows(shrunk, 1 if factor > 2 else 2)
            side = round(self.window[1] * factor)
            found += [(round(x * factor), round(y * factor), side) for x, y in hits]
            factor *= scale
        return group(found, neighbours)


def group(boxes: list[tuple[int, int, int]], neighbours: int) -> list[Face]:
    """Windows that overlap within GROUP_EPS joined (transitively) into one averaged face;
    groups of `neighbours` windows or fewer dropped (OpenCV's groupRectangles)."""
    labels = list(range(len(boxes)))

    def root(i: int) -> int:
        while labels[i] != i:
            i = labels[i]
        return i

    for i, (x1, y1, s1) in enumerate(boxes):
        for j in range(i):
            x2, y2, s2 = boxes[j]
            delta = GROUP_EPS * min(s1, s2)
            if (abs(x1 - x2) <= delta and abs(y1 - y2) <= delta
                    and abs(x1 + s1 - x2 - s2) <= delta and abs(y1 + s1 - y2 - s2) <= delta):
                labels[root(i)] = root(j)
    clusters: dict[int, list[tuple[int, int, int]]] = {}
    for i, box in enumerate(boxes):
        clusters.setdefault(root(i), []).append(box)
    faces = [Face(*np.mean(members, axis=0), hits=len(members))
             for members in clusters.values() if len(members) > neighbours]
    return sorted(faces, key=lambda f: -f.hits)


class FaceTracker:
    """One face followed through a clip.

    The frame's grey is scaled so a face `smallest` px across fills the cascade's 24 px
    window. While no face is held the whole frame is searched, every `search_every` frames
    (a full search costs far more than a frame's budget); once one is, only a square twice its
    size around it, for faces of 0.7 to 1.4 times its size. The box moves `follow` of the way
    to the face found there, so it does not jitter; when the detector misses for up to `hold`
    frames the last box stays.

    With `background` (a live show) the full search runs on its own thread and frames pass
    meanwhile, so a lost face never stalls the show; the face it finds, in a frame a few
    frames old, is followed into the current one by the near search. A search that finds
    nothing is followed by the next `search_every` frames later, so the show keeps most of a
    core; a reset (a cut) cancels a search not yet begun.
    """

    def __init__(self, cascade: HaarCascade, smallest: float = 16, follow: float = 0.5,
                 hold: int = 12, search_every: int = 4, background: bool = False) -> None:
        self.cascade, self.follow, self.hold = cascade, follow, hold
        self.zoom = cascade.window[1] / smallest
        self.search_every = search_every
        self._searcher = ThreadPoolExecutor(1, "face-search") if background else None
        self._pending: Future | None = None  # a background full search under way
        self.reset()

    def reset(self) -> None:
        self.face: Face | None = None
        self.missed = 0
        if self._pending is not None:
            self._pending.cancel()  # one that has begun runs out, unheard
            self._pending = None

    def __call__(self, frame: np.ndarray) -> Face | None:
        """The face's box in uint8 RGB `frame` (HxWx3), or None."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self.face is None:
            faces = self._lost(gray)
            if not faces:
                return None
            self.face, self.missed = faces[0], 0
            if self._searcher is None:  # found in this very frame
                return self.face
        last = self.face
        faces = self._near(gray, last)
        if not faces:
            self.missed += 1
            if self.missed > self.hold:
                self.face, self.missed = None, 0
            return self.face
        self.missed = 0
        new = min(faces, key=lambda f: np.hypot(*np.subtract(f.centre, last.centre)))
        a = self.follow
        self.face = Face(last.x + a * (new.x - last.x), last.y + a * (new.y - last.y),
                         last.side + a * (new.side - last.side), new.hits)
        return self.face

    def _lost(self, gray: np.ndarray) -> list[Face]:
        """Faces anywhere in the frame, when this frame's turn to search has come; with a
        background searcher, those of the last search once it is done."""
        if self._pending is not None:
            if not self._pending.done():
                return []
            faces, self._pending = self._pending.result(), None
            return faces
        self.missed += 1
        if (self.missed - 1) % self.search_every:
            return []
        if self._searcher is None:
            return self._anywhere(gray)
        self._pending = self._searcher.submit(self._anywhere, gray)
        return []

    def _anywhere(self, gray: np.ndarray) -> list[Face]:
        return self._search(gray, 0, 0, 0, np.inf)

    def _near(self, gray: np.ndarray, face: Face) -> list[Face]:
        """Faces of about `face`'s size within a square twice its size around it."""
        cx, cy = face.centre
        x0, y0 = max(0, round(cx - face.side)), max(0, round(cy - face.side))
        x1 = min(gray.shape[1], round(cx + face.side))
        y1 = min(gray.shape[0], round(cy + face.side))
        return self._search(gray[y0:y1, x0:x1], x0, y0, 0.7 * face.side, 1.4 * face.side)

    def _search(self, gray: np.ndarray, x0: int, y0: int, smallest: float,
                largest: float) -> list[Face]:
        """The cascade on `gray` (a part of the frame from x0, y0) scaled by the zoom; boxes
        in frame pixels."""
        z = self.zoom
        if min(gray.shape) * z < self.cascade.window[0]:
            return []
        size = (round(gray.shape[1] * z), round(gray.shape[0] * z))
        zoomed = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR if z > 1 else cv2.INTER_AREA)
        faces = self.cascade.detect(zoomed, smallest * z, largest * z)
        return [Face(x0 + f.x / z, y0 + f.y / z, f.side / z, f.hits) for f in faces]
