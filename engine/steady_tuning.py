"""`dreamreel styles steady`: the steady network made on this machine and stored.

The fine-tune itself is `pipelines.style.steady.SteadyTuner`; this module feeds it frame pairs
from the user's clips (or the drawn demo clip): consecutive frames with the optical flow between
them and where it holds (not across a cut), and a frame against itself shifted by 1 to
MAX_SHIFT whole pixels with a little noise, whose flow is exact. The first time, the network so
far is stored every `every` steps, so Ctrl-C keeps it; a network being replaced stays in use
until the new one is finished.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamreel import weights
from dreamreel.engine import flow
from dreamreel.engine.progress import clock
from dreamreel.engine.style_learning import sample_frames
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines.style.layout import NUM_STYLES
from dreamreel.pipelines.style.steady import SteadySettings, SteadyTuner
from dreamreel.pipelines.vgg16 import VGG16Features
from dreamreel.weights import steady

CONSECUTIVE, SHIFTED = 2, 2  # crops a step: consecutive frames, a frame against itself shifted
MAX_SHIFT = 3  # px
NOISE = 1.5  # grey levels of Gaussian noise on the shifted copy
FRAME_SCALE = 5 / 3  # frames are sampled at this times the crop's side (320 px for 192)

Pair = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # frame, other, flow, mask


@dataclass(frozen=True)
class SteadyJob:
    content: tuple[Path, ...]  # clips, pictures or folders; empty: the drawn demo clip
    settings: SteadySettings
    every: int = 50  # steps between a progress line and storing the network so far
    replace: bool = False
    offline: bool = False
    seed: int = 0


def frame_pairs(sources: tuple[Path, ...], side: int) -> list[Pair]:
    """(frame, frame before, flow frame -> before, where it holds) for the sampled pairs that
    are not across a cut; a picture is its own 'before' (a still pair)."""
    dis = flow.create_dis("accurate")
    pairs = []
    for frame, before in sample_frames(sources, side):
        gray, gray_before = flow.to_gray(frame), flow.to_gray(before)
        if flow.hard_cut(gray_before, gray):
            continue
        forward = flow.compute_flow(dis, gray, gray_before)
        backward = flow.compute_flow(dis, gray_before, gray)
        pairs.append((frame, before, forward,
                      flow.reliability_mask(forward, backward, soften=False)))
    return pairs


def shifted(frame: np.ndarray, y: int, x: int, size: int, rng: np.random.Generator) -> Pair:
    """The `size` square of `frame` at (y, x) and the square up to MAX_SHIFT px away, noisy,
    with the exact flow from the first onto the second and where both see the same pixels."""
    dx, dy = (int(v) for v in rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2))
    crop = frame[y:y + size, x:x + size]
    other = frame[y + dy:y + dy + size, x + dx:x + dx + size].astype(np.float32)
    other = np.clip(other + rng.normal(0.0, NOISE, other.shape), 0, 255)
    offset = np.empty((size, size, 2), np.float32)
    offset[..., 0], offset[..., 1] = -dx, -dy
    mask = np.zeros((size, size), np.float32)
    mask[max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] = 1.0
    return crop, other, offset, mask


def batch(pairs: list[Pair], size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CONSECUTIVE + SHIFTED random crops, each mirrored at random, float32 0..1."""
    samples = []
    for index in range(CONSECUTIVE + SHIFTED):
        frame, before, forward, mask = pairs[rng.integers(len(pairs))]
        h, w = frame.shape[:2]
        y = int(rng.integers(MAX_SHIFT, h - size - MAX_SHIFT + 1))
        x = int(rng.integers(MAX_SHIFT, w - size - MAX_SHIFT + 1))
        if index < CONSECUTIVE:
            cut = np.s_[y:y + size, x:x + size]
            sample = (frame[cut], before[cut], forward[cut], mask[cut])
        else:
            sample = shifted(frame, y, x, size, rng)
        if rng.random() < 0.5:  # mirrored: the flow's x component changes sign
            crop, other, offset, where = (a[:, ::-1] for a in sample)
            sample = (crop, other, offset * np.float32([-1, 1]), where)
        samples.append(sample)
    crops, others, flows, masks = (np.stack(a) for a in zip(*samples, strict=True))
    return {"content": crops.astype(np.float32) / 255, "pair": others.astype(np.float32) / 255,
            "flow": flows.astype(np.float32), "mask": masks[..., None].astype(np.float32)}


def tune(job: SteadyJob, say=print) -> Path:
    """Fine-tune and store the steady network; returns its file. Ctrl-C keeps the network so
    far when there was none, and the one made before when replacing it."""
    target = steady.path()
    if target.exists() and not job.replace:
        raise UsageError(f"there is already a steady network ({target}); -y replaces it")
    s = job.settings
    side = max(s.size + 2 * MAX_SHIFT, round(s.size * FRAME_SCALE))
    pairs = frame_pairs(job.content, side)
    if not pairs:
        raise UsageError("every sampled frame pair is across a cut; give clips with motion")
    offline = job.offline or None
    tuner = SteadyTuner(weights.load("multistyle26", offline=offline),
                        VGG16Features(weights.load("vgg16", offline=offline)), s)
    meta = {"settings": dataclasses.asdict(s), "content": [str(p) for p in job.content],
            "seed": job.seed, "pairs": len(pairs)}
    rng = np.random.default_rng(job.seed)
    say(f"fine-tuning the steady network: {s.steps} steps of {CONSECUTIVE + SHIFTED} crops "
        f"of {s.size} px from {len(pairs)} frame pairs")
    started, done, first = time.perf_counter(), 0, not target.exists()

    def keep(final: bool) -> None:
        steady.write(tuner.arrays(), meta | {
            "steps": done, "finished": final, "seconds": round(time.perf_counter() - started, 1)})

    try:
        for step in range(s.steps):
            styles = rng.integers(NUM_STYLES, size=CONSECUTIVE + SHIFTED)
            terms = tuner.step(batch(pairs, s.size, rng), styles, tuner.part(step))
            if not np.all(np.isfinite(terms)):
                raise SettingsError("the loss became NaN: lower --learning-rate")
            done = step + 1
            if done % job.every == 0 or done == s.steps:
                pace = (time.perf_counter() - started) / done
                say(f"step {done}/{s.steps}  texture {terms[0]:.3g}  colour {terms[1]:.3g}  "
                    f"temporal {terms[2]:.3g}  ETA {clock(pace * (s.steps - done))}")
                if first or done == s.steps:
                    keep(final=done == s.steps)
    except KeyboardInterrupt:
        if first and done:
            keep(final=False)
            say(f"interrupted at step {done}: kept the network so far ({target}); -y makes it "
                "again from the start")
        elif not first:
            say(f"interrupted at step {done}: the steady network made before is kept")
        raise
    return target
