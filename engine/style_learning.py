"""`dreamreel styles learn`: a painting's style fitted into the 26-style network and stored.

The fit itself is `pipelines.style.learn.StyleLearner`; this module feeds it: frames sampled
from the user's clips, pictures or folders (random square crops, flipped at random; with the
temporal term, each crop paired with the same crop of the frame before and the DIS flow
between them), a fixed preview batch on which the loss is tracked and a contact sheet drawn,
checkpoints, resume, and Ctrl-C keeping the best parameters so far.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dreamreel import weights
from dreamreel.engine import demo_clip, flow
from dreamreel.engine.progress import clock
from dreamreel.engine.sources import IMAGE_EXTENSIONS, open_source, read_image
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines.style.learn import LearnSettings, StyleLearner
from dreamreel.pipelines.style.multistyle import MultiStyleNet
from dreamreel.pipelines.vgg16 import VGG16Features
from dreamreel.weights import learned

FRAMES_PER_CLIP = 24  # frames sampled evenly from each clip
MAX_FRAMES = 96  # frames kept in memory in all (at 1.3x the crop size)
PREVIEWS = 3  # frames in the preview batch (loss tracking, contact sheet)
NEAREST_FRAMES = 2  # frames on which the built-in styles are compared
MIN_PAINTING_SIDE = 64
MAX_PAINTING_PIXELS = 64_000_000


@dataclass(frozen=True)
class LearnJob:
    painting: Path
    name: str
    content: tuple[Path, ...]  # clips, pictures or folders; empty: the drawn demo clip
    settings: LearnSettings
    every: int = 25  # steps between a loss check, a checkpoint and a preview sheet
    resume: bool = False  # -y: continue an interrupted fit, or replace an existing style
    offline: bool = False
    seed: int = 0


def painting_pixels(path: Path) -> np.ndarray:
    """The painting, uint8 RGB; a one-line error if it is too small or too big to be one."""
    image = read_image(path)
    h, w = image.shape[:2]
    if min(h, w) < MIN_PAINTING_SIDE:
        raise UsageError(f"{path}: {w}x{h} is too small to learn a style from (at least "
                         f"{MIN_PAINTING_SIDE} pixels a side)")
    if h * w > MAX_PAINTING_PIXELS:
        raise UsageError(f"{path}: {w}x{h} is too big (at most {MAX_PAINTING_PIXELS // 10**6} "
                         "megapixels); scale it down first")
    return image


def sample_frames(sources: tuple[Path, ...], side: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame, the frame before it) pairs, resized so the short side is `side`: spread evenly
    over each clip (FRAMES_PER_CLIP of them), one per picture (its own 'before')."""
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    if not sources:
        times = np.linspace(0.04, 3.9, FRAMES_PER_CLIP)
        pairs = [(demo_clip.draw_frame(t), demo_clip.draw_frame(t - 0.04)) for t in times]
    for path in sources:
        pictures = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS
                          ) if path.is_dir() else []
        for picture in pictures:
            image = read_image(picture)
            pairs.append((image, image))
        if not path.is_dir():
            pairs += _clip_pairs(path)
    if not pairs:
        raise UsageError("no frames to learn from in " + ", ".join(map(str, sources)))
    keep = np.linspace(0, len(pairs) - 1, min(len(pairs), MAX_FRAMES)).round().astype(int)
    return [tuple(_short_side(image, side) for image in pairs[i]) for i in sorted(set(keep))]


def _clip_pairs(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """FRAMES_PER_CLIP (frame, frame before) pairs spread over a clip (or a still as its own
    pair); frames between them are decoded and dropped, so memory stays flat."""
    pairs = []
    with open_source(path) as source:
        info = source.info
        total = info.frame_count or round((info.duration or 0) * float(info.fps or 0))
        step = max(1, (total or FRAMES_PER_CLIP) // FRAMES_PER_CLIP)
        before = None
        for frame in source:
            if frame.index % step == 0:
                pairs.append((frame.image, frame.image if before is None else before))
                if len(pairs) == FRAMES_PER_CLIP:
                    break
            before = frame.image
    return pairs


def _short_side(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = side / min(h, w)
    return cv2.resize(image, (max(side, round(w * scale)), max(side, round(h * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


class Batches:
    """Random square crops of the sampled frames (and their pairs, flows and masks)."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], size: int, temporal: bool,
                 seed: int | tuple[int, ...]) -> None:
        self.pairs, self.size, self.temporal = pairs, size, temporal
        self.rng = np.random.default_rng(seed)
        self.dis = flow.create_dis("medium") if temporal else None

    def preview(self) -> dict[str, np.ndarray]:
        """The fixed batch: centre crops of frames spread over the material."""
        picks = np.linspace(0, len(self.pairs) - 1, PREVIEWS).round().astype(int)
        return self._batch([self._crop(self.pairs[i], None) for i in picks])

    def __call__(self) -> dict[str, np.ndarray]:
        return self._batch([self._crop(self.pairs[self.rng.integers(len(self.pairs))],
                                       self.rng)])

    def _crop(self, pair: tuple[np.ndarray, np.ndarray], rng: np.random.Generator | None
              ) -> tuple[np.ndarray, np.ndarray]:
        frame, before = pair
        h, w = frame.shape[:2]
        s = self.size
        if rng is None:
            y, x, flip = (h - s) // 2, (w - s) // 2, False
        else:
            y, x, flip = rng.integers(h - s + 1), rng.integers(w - s + 1), rng.random() < 0.5
        crops = [image[y : y + s, x : x + s] for image in (frame, before)]
        return tuple(np.ascontiguousarray(c[:, ::-1] if flip else c) for c in crops)

    def _batch(self, crops: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        batch = {"content": np.stack([c for c, _ in crops]).astype(np.float32) / 255.0}
        if self.temporal:
            flows, masks = [], []
            for content, before in crops:
                gray, gray_before = flow.to_gray(content), flow.to_gray(before)
                forward = flow.compute_flow(self.dis, gray, gray_before)
                backward = flow.compute_flow(self.dis, gray_before, gray)
                flows.append(forward)
                masks.append(flow.reliability_mask(forward, backward)[..., None])
            batch |= {"pair": np.stack([b for _, b in crops]).astype(np.float32) / 255.0,
                      "flow": np.stack(flows), "mask": np.stack(masks)}
        return batch


def fingerprint(job: LearnJob, painting: bytes) -> str:
    """What a checkpoint must match to be resumed: the painting, the material, the settings
    (all but the step count, so a fit can be resumed with more steps)."""
    settings = dataclasses.asdict(job.settings) | {"steps": None}
    text = repr((hashlib.sha256(painting).hexdigest(), [str(p) for p in job.content], settings,
                 job.seed))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def learn(job: LearnJob, say=print) -> Path:
    """Fit, checkpoint and store the style; returns its file. Ctrl-C stores the best so far."""
    learned.check_name(job.name)
    target = learned.path_of(job.name)
    partial = learned.partial_path(job.name)
    if (target.exists() or partial.exists()) and not job.resume:
        what = "an unfinished fit of" if partial.exists() else "a learned style called"
        raise UsageError(f"there is already {what} '{job.name}'; -y continues or replaces it")
    raw = job.painting.read_bytes() if job.painting.is_file() else b""
    painting = painting_pixels(job.painting)
    s = job.settings
    pairs = sample_frames(job.content, round(s.size * 1.3))
    preview = Batches(pairs, s.size, s.temporal_weight > 0, job.seed).preview()

    net = MultiStyleNet(weights.load("multistyle26", offline=job.offline or None))
    vgg = VGG16Features(weights.load("vgg16", offline=job.offline or None))
    learner = StyleLearner(net, vgg, painting.astype(np.float32) / 255.0, s)
    key = fingerprint(job, raw)
    meta = {"name": job.name, "painting": job.painting.name,
            "painting_sha256": hashlib.sha256(raw).hexdigest(), "fingerprint": key,
            "settings": dataclasses.asdict(s), "content": [str(p) for p in job.content]}

    best, best_loss, started, spent = None, float("inf"), time.perf_counter(), 0.0
    state = _resumable(partial, key)
    if state is not None:
        learner.restore(state)
        best = {k[len("best/"):]: v for k, v in state.items() if k.startswith("best/")}
        best_loss, meta["start"] = float(state["best_loss"]), int(state["start"])
        spent = float(state.get("seconds", 0.0))
        say(f"resuming '{job.name}' at step {learner.steps_done.numpy()}/{s.steps}")
    else:
        say(f"choosing the built-in style nearest {job.painting.name} ...")
        index, _ = learner.nearest(preview["content"][:NEAREST_FRAMES])
        learner.start(net.norm_params(index))
        meta["start"] = index
        say(f"starting from built-in style {index}; {s.steps} steps of {s.size}x{s.size}, "
            f"a loss check every {job.every}")

    def keep(final: bool) -> None:
        """The checkpoint (to resume), and the best parameters as the style itself."""
        done = int(learner.steps_done.numpy())
        extra = {f"best/{k}": v for k, v in (best or learner.learned()).items()}
        seconds = spent + time.perf_counter() - started
        learned.write(partial, learner.state() | extra | {
            "best_loss": np.float64(best_loss), "start": np.int64(meta["start"]),
            "seconds": np.float64(seconds)}, meta)
        learned.write(target, best or learner.learned(), meta | {
            "steps": done, "loss": best_loss, "finished": final, "seconds": round(seconds, 1)})
        _sheet(learner, best or learner.learned(), painting, preview, target)

    first = int(learner.steps_done.numpy())
    batches = Batches(pairs, s.size, s.temporal_weight > 0, (job.seed, first))
    looped = time.perf_counter()
    try:
        for step in range(first, s.steps):
            terms = learner.step(batches())
            if not np.all(np.isfinite(terms)):
                raise SettingsError("the loss became NaN: lower --learning-rate")
            done = step + 1
            if done % job.every == 0 or done == s.steps:
                loss = learner.loss(preview)
                if loss < best_loss:
                    best, best_loss = learner.learned(), loss
                pace = (time.perf_counter() - looped) / (done - first)
                say(f"step {done}/{s.steps}  loss {loss:.1f} (content {terms[0]:.1f}, style "
                    f"{terms[1]:.1f}, tv {terms[2]:.2f}, temporal {terms[3]:.2f})  best "
                    f"{best_loss:.1f}  {pace:.2f} s/step  ETA "
                    f"{clock(pace * (s.steps - done))}")
                keep(final=done == s.steps)
    except KeyboardInterrupt:
        keep(final=False)
        say(f"interrupted at step {int(learner.steps_done.numpy())}: kept the best so far as "
            f"'{job.name}'; `-y` continues the fit")
        raise
    if first >= s.steps:  # resumed with no steps left: the style as it stands is the result
        keep(final=True)
    partial.unlink(missing_ok=True)
    return target


def _resumable(partial: Path, key: str) -> dict[str, np.ndarray] | None:
    if not partial.exists():
        return None
    arrays, meta = learned.read(partial)
    return arrays if meta.get("fingerprint") == key else None


def _sheet(learner: StyleLearner, params: dict[str, np.ndarray], painting: np.ndarray,
           preview: dict[str, np.ndarray], target: Path) -> None:
    """`<style>.png` beside the style: the painting over the preview frames and their results."""
    content = preview["content"]
    s = content.shape[1]
    out = learner.render(content, params)
    thumb = _short_side(painting, s)[:s, :s].astype(np.float32) / 255.0
    top = np.concatenate([thumb, *content], axis=1)
    bottom = np.concatenate([np.ones_like(thumb), *out], axis=1)
    sheet = (np.concatenate([top, bottom], axis=0) * 255).round().astype(np.uint8)
    temp = target.with_name(f".{target.stem}.tmp.png")
    cv2.imwrite(str(temp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    temp.replace(target.with_suffix(".png"))
