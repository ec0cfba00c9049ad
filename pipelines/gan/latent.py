"""Paths through the DCGAN latent space: beat-synced walks, morphs and manifold grids.

The DCGAN generator (Radford, Metz, Chintala 2016, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks") is trained on z ~ N(0, I) in 100
dimensions, and the paper's "walking in the latent space" experiments show that smooth paths
through z give smooth changes of the face, which is what a latent walk video is made of.

Where a path runs matters: in 100 dimensions almost all of the prior's mass lies on a thin shell
of radius about sqrt(100) = 10 (the norm follows a chi distribution with 100 degrees of
freedom: mean 9.975, standard deviation 0.706). The generator has only ever seen latents on that
shell. A straight line between two latents cuts through the inside of the sphere: halfway
between two (nearly orthogonal) samples its norm has sagged to about 10 / sqrt(2) = 7.1, some
four standard deviations below anything seen in training, and the faces there wash out to a
grey average. Spherical interpolation (slerp, as used for GANs by White 2016, "Sampling
Generative Networks") follows the great circle instead and keeps the norm on the shell.

Pure NumPy: no TensorFlow, no files. Latents are float32 [..., 100].
"""

from __future__ import annotations

import math

import numpy as np

LATENT_DIM = 100  # dcgan.LATENT_DIM, repeated so that this module does not import TensorFlow
PARALLEL_EPS = 1e-6  # below this sin(angle) slerp falls back to lerp (0 / 0 otherwise)


def chi_moments(dim: int = LATENT_DIM) -> tuple[float, float]:
    """Mean and standard deviation of the norm of a standard normal vector in `dim` dimensions."""
    mean = math.sqrt(2.0) * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))
    return mean, math.sqrt(dim - mean * mean)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation from `a` (t = 0) to `b` (t = 1) along the great circle.

    `a` and `b` are [..., D] (broadcast together); `t` is a scalar or an array whose shape
    broadcasts with their leading dimensions, e.g. a and b [D] with t [T] give [T, D]. Two
    latents of equal norm give points of that same norm for every t, so a path between two
    samples of the prior stays on the prior's shell (see the module docstring). When a and b are
    nearly parallel the angle's sine vanishes and plain linear interpolation is used (it is then
    the same curve; exactly opposite latents, which have no single great circle, get it too).
    t = 0 and t = 1 return `a` and `b` exactly.
    """
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    t64 = np.asarray(t, dtype=np.float64)[..., np.newaxis]
    norms = np.linalg.norm(a64, axis=-1, keepdims=True) * np.linalg.norm(b64, axis=-1, keepdims=True)
    cosine = np.sum(a64 * b64, axis=-1, keepdims=True) / np.maximum(norms, 1e-12)
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    sine = np.sin(angle)
    parallel = sine < PARALLEL_EPS
    safe_sine = np.where(parallel, 1.0, sine)
    weight_a = np.where(parallel, 1.0 - t64, np.sin((1.0 - t64) * angle) / safe_sine)
    weight_b = np.where(parallel, t64, np.sin(t64 * angle) / safe_sine)
    return (weight_a * a64 + weight_b * b64).astype(np.result_type(a, b, np.float32))


def keyframes(seed: int, count: int) -> np.ndarray:
    """`count` latents from the prior N(0, I): float32 [count, 100], from default_rng(seed).

    The sequence is prefix-stable: keyframes(s, n) are the first n rows of keyframes(s, n + m),
    so a longer walk with the same seed starts with the same faces.
    """
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, LATENT_DIM)).astype(np.float32)


def beat_ease(t: np.ndarray) -> np.ndarray:
    """The easing of each beat: cubic ease-out, 1 - (1 - t)^3.

    Chosen so the motion pulses on the beat: the face sets off at three times the average speed
    exactly on the beat, then decelerates and arrives at the next keyframe at rest, just as the
    next beat kicks it off again. (A symmetric ease-in-out would instead hold still on the beat
    and rush in between, so the visible accent would fall off the beat.)
    """
    return 1.0 - (1.0 - t) ** 3


def smooth_ease(t: np.ndarray) -> np.ndarray:
    """Smoothstep 3t^2 - 2t^3: starts and ends at rest (a single morph)."""
    return t * t * (3.0 - 2.0 * t)


def beat_frame(k: int, fps: float, bpm: float, beats_per_key: int = 1) -> int:
    """The frame index keyframe `k` lands on: beat k * beats_per_key, rounded half up."""
    return math.floor(k * beats_per_key * 60.0 / bpm * fps + 0.5)


def _on_the_beat(
    keys: np.ndarray, frames: int, fps: float, bpm: float, beats_per_key: int
) -> np.ndarray:
    """Latents for `frames` frames: keys[k] exactly on keyframe k's frame, eased slerp between.

    `keys` is [K, ..., 100] with K large enough to reach the last frame.
    """
    starts = np.array([beat_frame(k, fps, bpm, beats_per_key) for k in range(len(keys))])
    index = np.arange(frames)
    segment = np.searchsorted(starts, index, side="right") - 1  # key k with starts[k] <= i
    t = (index - starts[segment]) / (starts[segment + 1] - starts[segment])
    t = beat_ease(t).reshape((frames,) + (1,) * (keys.ndim - 2))
    return slerp(keys[segment], keys[segment + 1], t)


def _key_count(frames: int, fps: float, bpm: float, beats_per_key: int) -> int:
    """Keyframes a walk of `frames` frames needs: up to the first one after its last frame."""
    seconds_per_key = beats_per_key * 60.0 / bpm
    if seconds_per_key * fps < 1.0:
        raise ValueError(
            f"{bpm:g} bpm with {beats_per_key} beat(s) per keyframe is faster than {fps:g} fps "
            "can show: keyframes must be at least one frame apart"
        )
    count = 2
    while beat_frame(count - 1, fps, bpm, beats_per_key) < frames:
        count += 1
    return count


def walk_frames(seconds: float, fps: float) -> int:
    """Frames in a clip of `seconds` at `fps` (at least one)."""
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    return max(1, round(seconds * fps))


def beat_walk(
    seed: int, seconds: float, fps: float, bpm: float, beats_per_key: int = 1
) -> np.ndarray:
    """A latent walk in time with music: float32 [frames, 100], frames = round(seconds * fps).

    Keyframe k (keyframes(seed, ...)[k]) lands exactly on beat k * beats_per_key, at frame
    beat_frame(k, fps, bpm, beats_per_key); in between, the latent slerps to the next keyframe
    with beat_ease, so each beat starts a new move.
    """
    frames = walk_frames(seconds, fps)
    keys = keyframes(seed, _key_count(frames, fps, bpm, beats_per_key))
    return _on_the_beat(keys, frames, fps, bpm, beats_per_key)


def morph(seed_a: int, seed_b: int, frames: int) -> np.ndarray:
    """float32 [frames, 100]: from seed_a's face to seed_b's, slerped with smooth_ease.

    Each face is keyframe 0 of its seed, the same face a walk or a still with that seed starts on.
    """
    a, b = keyframes(seed_a, 1)[0], keyframes(seed_b, 1)[0]
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    return slerp(a, b, smooth_ease(t))


def grid_from_corners(corners: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A manifold montage from 4 corner latents [..., 4, 100]: [..., rows * cols, 100].

    Corners are top-left, top-right, bottom-left, bottom-right; the grid is their bilinear
    interpolation with slerp in place of lerp (down both edges, then across each row), the
    kind of latent-space map the DCGAN paper uses to show a smooth manifold. Tiles are in
    row-major order.
    """
    if rows < 1 or cols < 1:
        raise ValueError("a grid needs at least one row and one column")
    u = np.linspace(0.0, 1.0, rows) if rows > 1 else np.zeros(1)
    v = np.linspace(0.0, 1.0, cols) if cols > 1 else np.zeros(1)
    top_left, top_right = corners[..., 0:1, :], corners[..., 1:2, :]
    bottom_left, bottom_right = corners[..., 2:3, :], corners[..., 3:4, :]
    left = slerp(top_left, bottom_left, u)  # [..., rows, 100]
    right = slerp(top_right, bottom_right, u)  # [..., rows, 100]
    tiles = slerp(left[..., :, np.newaxis, :], right[..., :, np.newaxis, :], v)  # [..., rows, cols, 100]
    return tiles.reshape(corners.shape[:-2] + (rows * cols, LATENT_DIM))


def grid(seed: int, rows: int, cols: int) -> np.ndarray:
    """float32 [rows * cols, 100]: the manifold between keyframes(seed, 4) as the corners."""
    return grid_from_corners(keyframes(seed, 4), rows, cols)


def grid_walk(
    seed: int, seconds: float, fps: float, bpm: float, rows: int, cols: int, beats_per_key: int = 1
) -> np.ndarray:
    """An animated manifold montage: float32 [frames, rows * cols, 100].

    The four corners walk on the beat together (keyframe k's corners are keyframes(seed, ...)
    rows 4k..4k+3, so frame 0 is grid(seed, rows, cols)) and every frame is the slerped grid
    between the corners of that moment.
    """
    frames = walk_frames(seconds, fps)
    count = _key_count(frames, fps, bpm, beats_per_key)
    keys = keyframes(seed, 4 * count).reshape(count, 4, LATENT_DIM)
    corners = _on_the_beat(keys, frames, fps, bpm, beats_per_key)  # [frames, 4, 100]
    return grid_from_corners(corners, rows, cols)


def check_latents(z: np.ndarray, max_norm_sigma: float = 4.0) -> tuple[np.ndarray, int]:
    """Pull latents that lie far from the prior back onto its shell; return (z, how many).

    A latent whose norm differs from the chi mean (9.975 for 100 dimensions) by more than
    `max_norm_sigma` chi standard deviations (0.706) is something the generator never saw in
    training (a hand-made vector, a lerp midpoint, an overflowing sum): it is rescaled to the
    mean norm, keeping its direction, so it becomes a typical latent for the same face "type".
    With the default 4 sigma a genuine sample is clamped about once in 15,000 draws. A zero
    vector has no direction and is left as it is. z is [..., 100]; the result is float32.
    """
    z = np.asarray(z, dtype=np.float32)
    if z.shape[-1:] != (LATENT_DIM,):
        raise ValueError(f"latents must be [..., {LATENT_DIM}], got shape {z.shape}")
    mean, std = chi_moments(LATENT_DIM)
    norms = np.linalg.norm(z.astype(np.float64), axis=-1, keepdims=True)
    far = (np.abs(norms - mean) > max_norm_sigma * std) & (norms > 0)
    scaled = z * (mean / np.where(far, norms, 1.0))
    return np.where(far, scaled, z).astype(np.float32), int(far.sum())


class LiveWalk:
    """A beat walk whose tempo and seed may change at any moment (live mode).

    `beat_walk` lays a whole clip out in advance; live, the tempo comes from a fader or tap
    and the seed from a pad, so the walk keeps a beat phase in 0..1 between two keyframes and
    advances it by the time that passed. A new tempo changes the speed from the current phase
    (no jump); a new seed turns the next keyframe into that seed's first face (the face a still
    or walk with that seed starts on) and the walk goes on from there. At a constant tempo and
    seed it gives the same latents as `beat_walk`, which starts on the seed's first face.
    """

    def __init__(self, seed: int, beats_per_key: int = 1) -> None:
        self.beats_per_key = beats_per_key
        self._start(seed)
        self._from = self._next()
        self._to = self._next()
        self.phase = 0.0  # 0 on keyframe _from, 1 on keyframe _to

    def _start(self, seed: int) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def _next(self) -> np.ndarray:
        return self._rng.standard_normal(LATENT_DIM).astype(np.float32)  # as keyframes() draws

    def advance(self, seconds: float, bpm: float, seed: int | None = None) -> np.ndarray:
        """The latent `seconds` after the last call, at `bpm`: float32 [100]."""
        if seed is not None and seed != self.seed:
            self._from = self.latent
            self._start(seed)
            self._to = self._next()
            self.phase = 0.0
        self.phase += seconds * bpm / 60.0 / self.beats_per_key
        while self.phase >= 1.0:
            self.phase -= 1.0
            self._from, self._to = self._to, self._next()
        return self.latent

    @property
    def latent(self) -> np.ndarray:
        return slerp(self._from, self._to, float(beat_ease(np.float64(self.phase))))
