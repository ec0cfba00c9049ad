"""Performer and stage: a soft mask a frame that says where the effect shows.

`--mask person` keeps the effect on the people and the camera's picture around them;
`--mask background` the other way round. The person comes from MediaPipe's selfie
segmentation (pipelines/segment), made for people within a few metres of the camera who fill
much of the frame; `--mask-model still` instead learns a fixed camera's empty stage (OpenCV's
MOG2 background subtractor) and takes whatever moves in front of it.

The mask is steadied over time where the network is unsure (its binary entropy, as MediaPipe's
own smoothing does), so a confident edge follows the performer at once while a hesitant one
does not shimmer, and its edge is feathered at the frame's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dreamreel.errors import UsageError

WHO = ("person", "background")
MODELS = ("selfie", "still")
STILL_SIDE = 240  # px: the short side the background subtractor works at
DEFAULT_FEATHER = 0.01  # of the frame's short side: the edge's Gaussian sigma
DEFAULT_STEADY = 0.9  # how much of the last mask an unsure pixel keeps


@dataclass(frozen=True)
class MaskSpec:
    """What the user asked for: where the effect shows, and how the person is found."""

    who: str = "person"
    model: str = "selfie"
    feather: float | None = None  # px at the frame's size; None: DEFAULT_FEATHER of its short side
    steady: float = DEFAULT_STEADY
    alpha: bool = False  # the effect alone with the mask as alpha (RGBA), not composited

    def check(self) -> None:
        if self.who not in WHO:
            raise UsageError(f"--mask {self.who}: choose one of {', '.join(WHO)}")
        if self.model not in MODELS:
            raise UsageError(f"--mask-model {self.model}: choose one of {', '.join(MODELS)}")
        if self.feather is not None and not 0 <= self.feather <= 200:
            raise UsageError(f"--feather {self.feather:g}: give 0 to 200 pixels")
        if not 0 <= self.steady < 1:
            raise UsageError(f"--mask-steady {self.steady:g}: give a number from 0 up to 1")


class Selfie:
    """The person probability from the selfie network, at the frame's shape within its square
    input: the frame is letterboxed (kept whole, black bars), which finds a person across a
    16:9 frame far better than stretching it square."""

    def __init__(self, gpu: bool = False) -> None:
        from dreamreel import weights
        from dreamreel.engine.graph import quiet_stderr
        from dreamreel.pipelines.segment.selfie import SIDE
        from dreamreel.pipelines.segment.selfie import Selfie as Network

        self.side = SIDE
        arrays = weights.load("selfie_segmentation")
        with quiet_stderr():  # TF Lite's start-up line; the first call builds the kernels
            self.network = Network(arrays, "tf", jit=True) if gpu else Network(arrays, "lite")
            self.network(np.zeros((1, SIDE, SIDE, 3), np.float32))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 RGB -> float32 probability, the frame's shape at most SIDE a side."""
        height, width = image.shape[:2]
        scale = self.side / max(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        top, left = (self.side - h) // 2, (self.side - w) // 2
        square = np.zeros((self.side, self.side, 3), np.float32)
        square[top:top + h, left:left + w] = cv2.resize(image, (w, h),
                                                        interpolation=cv2.INTER_AREA)
        return self.network(square[None] * (1 / 255.0))[0, top:top + h, left:left + w]


class Still:
    """What moves in front of a fixed camera: MOG2's foreground, opened and closed so specks
    and holes go, as a probability at STILL_SIDE."""

    def __init__(self) -> None:
        self.subtractor = cv2.createBackgroundSubtractorMOG2(history=300, detectShadows=False)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        scale = STILL_SIDE / min(height, width)
        small = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA)
        moving = self.subtractor.apply(small)
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, self.kernel)
        moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, self.kernel)
        return moving.astype(np.float32) * (1 / 255.0)


def uncertainty(p: np.ndarray) -> np.ndarray:
    """Binary entropy in bits: 1 where p is 0.5, 0 where it is 0 or 1."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return -(q * np.log(q) + (1 - q) * np.log(1 - q)) * (1 / math.log(2))


class Mask:
    """Per frame, in order: where the effect shows (the alpha) and the composite."""

    def __init__(self, spec: MaskSpec, gpu: bool = False) -> None:
        """gpu: the selfie network runs on TensorFlow's GPU under XLA (else TF Lite)."""
        spec.check()
        self.spec = spec
        self.find = Selfie(gpu) if spec.model == "selfie" else Still()
        self.last: np.ndarray | None = None  # the steadied person probability, model's size
        self.coverage: list[float] = [0.0, 0]  # the sum of each frame's mean alpha, frames

    def reset(self) -> None:
        """Forget the last mask (a cut, a new camera)."""
        self.last = None

    def person(self, image: np.ndarray) -> np.ndarray:
        """The steadied person probability for the next frame, at the model's size."""
        current = self.find(image)
        if self.last is not None and self.last.shape == current.shape and self.spec.steady > 0:
            mix = self.spec.steady * uncertainty(current)
            current = current + (self.last - current) * mix
        self.last = current
        return current

    def alpha(self, image: np.ndarray, who: str | None = None) -> np.ndarray:
        """float32 HxW in [0, 1]: how much of the effect each pixel of `image` shows, on the
        person or the background (`who`, by default the spec's)."""
        height, width = image.shape[:2]
        person = self.person(image)
        feather = (DEFAULT_FEATHER * min(height, width) if self.spec.feather is None
                   else self.spec.feather)
        if feather > 0:  # sigma in the model's pixels, which are stretched differently each way
            sy, sx = feather * person.shape[0] / height, feather * person.shape[1] / width
            person = cv2.GaussianBlur(person, (0, 0), sigmaX=max(sx, 0.1), sigmaY=max(sy, 0.1))
        alpha = cv2.resize(person, (width, height), interpolation=cv2.INTER_LINEAR)
        alpha = alpha if (who or self.spec.who) == "person" else 1.0 - alpha
        self.coverage[0] += float(alpha.mean())
        self.coverage[1] += 1
        return alpha

    def summary(self) -> dict:
        """For the run's JSON: the mask asked for and the mean share of the frame it covered."""
        total, frames = self.coverage
        return {"who": self.spec.who, "model": self.spec.model,
                "coverage": round(total / frames, 4) if frames else None}

    def apply(self, image: np.ndarray, out: np.ndarray,
              around: np.ndarray | None = None) -> np.ndarray:
        """The effect's `out` where the mask of the camera's `image` says, `around` (by default
        `image`) elsewhere (uint8 HxWx3); with `spec.alpha`, `out` with the mask as its alpha
        instead (HxWx4 RGBA)."""
        alpha = self.alpha(image)
        if self.spec.alpha:
            return with_alpha(out, alpha)
        return composite(image if around is None else around, out, alpha)


def with_alpha(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 and an HxW float32 alpha in [0, 1] -> HxWx4 RGBA."""
    return np.dstack([image, np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)])


def composite(image: np.ndarray, out: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`out` over `image` at `alpha` (HxW float32), rounded to uint8 (OpenCV's blend: 2 ms at
    640x480 against 28 ms for the same arithmetic in NumPy)."""
    alpha = np.ascontiguousarray(alpha, np.float32)
    return cv2.blendLinear(out, image, alpha, np.float32(1.0) - alpha)
