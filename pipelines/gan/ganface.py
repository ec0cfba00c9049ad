"""The `ganface` pipeline: the face in the film, redrawn by the DCGAN face generator.

Lesson 5's VAEGAN encodes a real face into the generator's space; here each frame's face is
found with OpenCV's Haar cascade (face_detect.py), the latent whose DCGAN face matches it is
found by a few optimisation steps warm-started from the previous frame's (face_match.py), and
the GAN's face is pasted back over it through a feathered ellipse (or shown alone, `--face-only`).
`--strength` blends it with the real face. A frame without a face passes through unchanged;
a cut starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dreamreel.pipelines.base import Guide
from dreamreel.pipelines.gan.dcgan import IMAGE_SIZE, DCGANGenerator
from dreamreel.pipelines.gan.face_detect import Face, FaceTracker, HaarCascade
from dreamreel.pipelines.gan.face_match import LatentMatcher, ellipse
from dreamreel.pipelines.gan.latent import keyframes
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting


@dataclass(frozen=True)
class GanFaceOptions:
    face_steps: int = setting(3, "optimisation steps per frame (more: a closer face, "
                              "slower)", low=1, high=50)
    face_rate: float = setting(0.08, "the optimiser's step on the latent", low=0.001,
                               high=1.0, live=True, keys=(".", ","), nudge=0.01)
    face_prior: float = setting(0.01, "how strongly the latent is kept where the GAN's "
                                "faces are", low=0.0, high=10.0, live=True)
    face_grow: float = setting(1.3, "the face crop's size over the detector's box",
                               low=1.0, high=3.0)
    smallest_face: float = setting(16.0, "the smallest face looked for, px across at the "
                                   "working size", low=8.0, high=512.0)
    face_seed: int = setting(0, "the GAN face each shot starts from", low=0, high=2**31 - 1)
    face_only: bool = setting(False, "output only the GAN's face, not pasted into the frame")


def crop(frame: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """The side x side square at (x, y) of uint8 HxWx3 `frame`, edges repeated beyond it,
    shrunk to the generator's 64x64 as float32 0..1."""
    h, w = frame.shape[:2]
    pad = max(0, -x, -y, x + side - w, y + side - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x, y = x + pad, y + pad
    square = frame[y:y + side, x:x + side]
    small = cv2.resize(square, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def paste(frame: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """uint8 `frame` with float 0..1 64x64 `face` laid over the square at (x, y) through the
    feathered ellipse; the rest of the frame untouched."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if x1 <= x0 or y1 <= y0:
        return frame
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR) * 255.0
    mask = cv2.resize(ellipse(), (side, side), interpolation=cv2.INTER_LINEAR)[..., None]
    part = np.s_[y0 - y:y1 - y, x0 - x:x1 - x]
    region = frame[y0:y1, x0:x1].astype(np.float32)
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(region + mask[part] * (big[part] - region) + 0.5, 0, 255)
    return out


def alone(face: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The 64x64 face as large as fits, centred on black, in a frame of `shape`."""
    h, w = shape[:2]
    side = min(h, w)
    out = np.zeros((h, w, 3), np.uint8)
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    y, x = (h - side) // 2, (w - side) // 2
    out[y:y + side, x:x + side] = np.clip(big * 255.0 + 0.5, 0, 255)
    return out


class GanFace:
    """The sequential effect: track the face, step its latent, draw the GAN's face."""

    name = "ganface"
    temporal = 0.0  # the warm-started latent and the smoothed box keep it steady

    def __init__(self, generator: DCGANGenerator, cascade: HaarCascade, options: GanFaceOptions,
                 jit: bool = False, live: bool = False) -> None:
        self.options = options
        self.residual = not options.face_only  # pasted: only the face changes, at any size
        # a show searches a lost face in the background; a file run finds it in its own frame
        self.tracker = FaceTracker(cascade, options.smallest_face, background=live)
        self.matcher = LatentMatcher(generator, options.face_steps, jit)
        self.face: np.ndarray | None = None  # the last GAN face, 64x64x3 0..1
        self.reset()

    def controls(self, settings: GanFaceOptions | None = None) -> dict[str, np.ndarray]:
        options = settings or self.options
        return {"rate": np.float32(options.face_rate), "prior": np.float32(options.face_prior)}

    def reset(self) -> None:
        """A new shot: the seed's face again, and the face searched for anew."""
        self.z = keyframes(self.options.face_seed, 1)[0]
        self.face = None
        self.tracker.reset()

    def box(self, face: Face) -> tuple[int, int, int]:
        """The crop's square (x, y, side) in pixels: the detector's box grown about its centre."""
        side = max(2, round(face.side * self.options.face_grow))
        cx, cy = face.centre
        return round(cx - side / 2), round(cy - side / 2), side

    def __call__(self, frame: np.ndarray, guide: Guide | None, index: int,
                 controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        if guide is None or guide.is_cut:
            self.reset()
        found = self.tracker(frame)
        if found is not None:
            x, y, side = self.box(found)
            values = controls or self.controls()
            self.z, self.face = self.matcher(self.z, crop(frame, x, y, side),
                                             float(values["rate"]), float(values["prior"]))
            if not self.options.face_only:
                return paste(frame, self.face, x, y, side)
        if self.options.face_only:
            return alone(self.face if self.face is not None else self._seed_face(), frame.shape)
        return frame

    def _seed_face(self) -> np.ndarray:
        return self.matcher.generator(self.z[None]).numpy()[0]

    def probe(self, frame: np.ndarray):
        """One frame's optimisation on its centre: what the tuner times."""
        side = min(frame.shape[:2])
        target = crop(frame, (frame.shape[1] - side) // 2, (frame.shape[0] - side) // 2, side)
        return lambda: self.matcher(self.z, target, 0.0, 0.0)[1][None] * 255.0

    def warm_up(self, frame: np.ndarray) -> None:
        """Trace the optimisation (a live show's first face must not wait for it)."""
        self.probe(frame)()
        self.reset()


def build(options: GanFaceOptions, context: Context) -> GanFace:
    generator = DCGANGenerator(context.load("dcgan_faces"))
    return GanFace(generator, HaarCascade(context.load("haar_frontalface")), options,
                   context.jit, context.live)


PIPELINE = Pipeline(
    name="ganface",
    summary="the face in the frame redrawn by the DCGAN face generator (found with a Haar "
    "cascade, matched by latent optimisation)",
    kind="sequential",
    settings=GanFaceOptions,
    build=build,
    networks=("dcgan_faces", "haar_frontalface"),
    place="last",
    precisions=("float32",),
    keeps_steady=True,
)
