"""The `autoencoder` pipeline: every frame redrawn from what a small network remembers of it.

Before the first frame the engine hands the effect a sample of the clip's frames (the `learn`
hook, see pipelines/base.py); a convolutional autoencoder (network.py) is trained on them and
kept in the user's cache, keyed by those frames and the settings, so the same clip with the
same settings trains once. Each frame is then encoded to `--latent` numbers and decoded again:
a small latent gives the dreamy gist of the scene, a large one most of it back.

`--morph K` takes a keyframe every K frames (and at every scene cut) and draws each frame from
a code that moves from the last keyframe's toward its own, so the picture holds and then melts
into the next moment instead of following it frame by frame.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import cv2
import numpy as np
import tensorflow as tf

from dreamreel.engine.progress import clock
from dreamreel.errors import SettingsError
from dreamreel.pipelines.autoencoder.network import CHANNELS, DOWN, KERNEL, AutoEncoder, Trainer
from dreamreel.pipelines.base import Guide
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting

CACHE = "autoencoders"  # the cache folder of trained networks
BATCH = 16  # frames a training step
REPORTS = 10  # progress lines a training says


def _multiple(resolution: int) -> int:
    if resolution % DOWN:
        raise SettingsError(f"resolution {resolution} is not a multiple of {DOWN}")
    return resolution


@dataclass(frozen=True)
class AutoencoderOptions:
    latent: int = setting(32, "numbers the network keeps of a frame: its memory (small: the "
                          "dreamy gist of the scene)", low=1, high=4096)
    resolution: int = setting(64, f"the short side the network sees and draws (a multiple of "
                              f"{DOWN})", low=DOWN, high=256, parse=_multiple)
    train_steps: int = setting(300, f"Adam steps of {BATCH} of the clip's frames (trained "
                               "once per clip and settings, then cached)", low=1, high=100_000)
    learning_rate: float = setting(0.005, "Adam's step size", low=1e-6, high=0.1)
    morph: int = setting(0, "a keyframe every K frames (and at cuts); each frame's code moves "
                         "from the keyframe's toward its own (0: off)", low=0)
    seed: int = setting(0, "the initial weights and the order of training", low=0)


def network_shape(frame: tuple[int, int], resolution: int) -> tuple[int, int]:
    """(height, width) the network works at: short side `resolution`, the frame's shape kept
    as near as multiples of DOWN allow."""
    h, w = frame
    scale = resolution / min(h, w)
    return tuple(max(DOWN, round(side * scale / DOWN) * DOWN) for side in (h, w))


def shrink(frames: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 [N, h, w, 3] -> float32 [N, *shape, 3] in 0..1 (area average)."""
    return np.stack([cv2.resize(f, shape[::-1], interpolation=cv2.INTER_AREA)
                     for f in frames]).astype(np.float32) / 255.0


def decibels(mse: float) -> float:
    """A mean squared error of pictures in 0..1 as peak signal-to-noise ratio, in dB."""
    return float(10 * np.log10(1.0 / max(mse, 1e-10)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two pictures in 0..1."""
    return decibels(np.mean((np.asarray(a, np.float64) - b) ** 2))


class AutoencoderSequence:
    """Each frame through the bottleneck, in order (the morph needs the keyframe before)."""

    name = "autoencoder"
    residual = False  # the network's drawing replaces the frame
    temporal = 0.0  # the bottleneck is steady by itself; --temporal adds the blend

    def __init__(self, options: AutoencoderOptions, context: Context) -> None:
        self.options, self.context = options, context
        self.net: AutoEncoder | None = None
        self._key: tuple[np.ndarray, int] | None = None  # the keyframe's code and index

    def controls(self, settings: AutoencoderOptions | None = None) -> dict[str, np.ndarray]:
        return {}

    def _network(self, frame: tuple[int, int]) -> AutoEncoder:
        shape = network_shape(frame, self.options.resolution)
        if self.net is None or self.net.shape != shape:
            self.net = AutoEncoder(shape, self.options.latent, self.options.seed)
            compiled = partial(tf.function, jit_compile=self.context.jit, autograph=False)
            self._encode, self._decode = compiled(self.net.encode), compiled(self.net.decode)
        return self.net

    def learn(self, frames: np.ndarray, say: Callable[[str], None]) -> None:
        """Train on the clip's frames (uint8 [N, h, w, 3]), or take the network trained
        before on the same frames with the same settings from the cache."""
        net = self._network(frames.shape[1:3])
        pictures = shrink(frames, net.shape)
        settings = asdict(self.options) | {"morph": None}  # the morph is not the network's
        key = hashlib.sha256(pictures.tobytes()).hexdigest() + repr(
            (pictures.shape, CHANNELS, KERNEL, sorted(settings.items())))
        trained = False

        def train() -> np.ndarray:
            nonlocal trained
            trained = True
            return self.train(pictures, say)

        cached = self.context.cached
        before = time.perf_counter()
        net.load(train() if cached is None else cached(CACHE, key.encode(), train))
        if not trained:
            say(f"autoencoder: the network learned before on these frames, loaded in "
                f"{time.perf_counter() - before:.1f} s")

    def train(self, pictures: np.ndarray, say: Callable[[str], None]) -> np.ndarray:
        """Fit the network to float32 [N, H, W, 3] pictures; its weights as one vector."""
        o, net = self.options, self.net
        trainer = Trainer(net, o.learning_rate, jit=self.context.jit)
        rng = np.random.default_rng(o.seed)
        h, w = net.shape
        say(f"autoencoder: learning {len(pictures)} frames at {w}x{h} through {o.latent} "
            f"numbers: {o.train_steps} steps of {BATCH}")
        every = max(1, o.train_steps // REPORTS)
        traced = time.perf_counter()  # the pace is timed from the second step (the first traces)
        for step in range(o.train_steps):
            batch = pictures[rng.integers(len(pictures), size=min(BATCH, len(pictures)))]
            loss = trainer.step(batch, (o.seed, step))
            if not np.isfinite(loss):
                raise SettingsError("the training loss became NaN: lower --learning-rate")
            done = step + 1
            if done == 1:
                traced = time.perf_counter()
            elif done % every == 0 or done == o.train_steps:
                pace = (time.perf_counter() - traced) / (done - 1)
                say(f"autoencoder: step {done}/{o.train_steps}  loss {loss:.4f} "
                    f"({decibels(loss):.1f} dB)  {pace:.2f} s/step  ETA "
                    f"{clock(pace * (o.train_steps - done))}")
        return net.flat()

    def reconstruct(self, pictures: np.ndarray) -> np.ndarray:
        """float32 [N, H, W, 3] 0..1 at the network's shape, through the bottleneck."""
        return self._decode(self._encode(tf.constant(pictures))).numpy()

    def __call__(self, frame: np.ndarray, guide: Guide | None, index: int,
                 controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        net = self._network(frame.shape[:2])  # untrained only where nothing was learned: timing
        code = self._encode(tf.constant(shrink(frame[None], net.shape))).numpy()
        if self.options.morph:
            code = self._morph(code, guide, index)
        out = self._decode(tf.constant(code))[0].numpy()
        out = cv2.resize(out, frame.shape[1::-1], interpolation=cv2.INTER_CUBIC)
        return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def _morph(self, code: np.ndarray, guide: Guide | None, index: int) -> np.ndarray:
        """The code drawn: a keyframe's own, or the way from the last keyframe's to this
        frame's, as far as this frame is from the keyframe (K frames: all the way)."""
        k = self.options.morph
        if self._key is None or guide is None or guide.is_cut or index - self._key[1] >= k:
            self._key = (code, index)
            return code
        key, at = self._key
        return key + (index - at) / k * (code - key)

    def reset(self) -> None:
        """Forget the keyframe: the next frame is one."""
        self._key = None


def build(options: AutoencoderOptions, context: Context) -> AutoencoderSequence:
    return AutoencoderSequence(options, context)


PIPELINE = Pipeline(
    name="autoencoder",
    summary="each frame redrawn through a small autoencoder trained on the clip itself "
    "(--latent: its memory; --morph K: melt between keyframes)",
    kind="sequential",
    settings=AutoencoderOptions,
    build=build,
    place="last",
    learns=True,
    precisions=("float32",),
    keeps_steady=True,
)
