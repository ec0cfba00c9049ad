"""Texture restoration variants side by side: warping error, style distance and texture drift.

The stabiliser's blend averages strokes that do not line up, and `temporal.restore_texture`
gives back part of the stylized frame's local colour contrast. This script asks which part of
the texture is lost, and what gives it back, by replacing the restoration for the run only with:

- "shipped": `restore_texture` as it is (a partial match of the stylized frame's local 3x3
  colour covariance on all but the finest octave, which is left as blended on frames larger
  than standard definition and gets a gain of its own on smaller ones);
- "channel gain": a gain per channel on all detail instead, the ratio of local standard
  deviations^0.4, at most 1.75 (the same Gaussian window, statistics at a quarter of the size);
- "finest only": a per-channel gain (variance ratio to `--power`, at most 2.5) on the finest
  octave alone, and nothing else;
- "shipped + finest": the two together (on frames of standard definition or smaller, a second
  gain on top of the shipped one); "shipped + finest, fast": the finest octave's gain
  only where the picture moves fast (from none at 2 px a frame to all of it at 8), where fine
  strokes fall out of line.

The per-frame output is rendered once as PNG frames (`run --temporal 0`) from a trimmed
H.264 copy of each clip (as benchmarks/temporal_eval.py makes it); every variant stabilises
those frames one way in memory (with `--two-way`, then backward as well: one pass over the
whole clip, where `run` smooths in blocks of 16 frames from 8 beyond them, engine.two_way,
so that a frame that far ahead weighs at most 0.4%), writes them as PNG (with `--encode`,
those and the per-frame frames are then encoded as `run` writes a video; a folder is read
at 25 fps, so that is `run`'s encode for clips at 25 fps), and `dreamreel metrics
--reference` scores them against the per-frame frames. With both, on the bikes with
Kandinsky's painting, the shipped variant gives the figures of `temporal_eval.py --weights
0.85 --duration 2 --size full --two-way` within 0.001x.

    python benchmarks/texture_restore_ab.py [--clips audio/bbb_14s-19s_h264_aac.mp4 PATH ...]
        [--duration 2] [--power 0.6] [--style N] [--variants shipped "channel gain" ...]
        [--short-side 540]   # each trimmed clip scaled first (PNG frames), as a clip that size
        [--two-way]   # each variant smoothed backward as well (run's default two-way)
        [--encode]    # scored as `run` writes its output (H.264, CRF 14), not as PNG frames
    python benchmarks/texture_restore_ab.py --timing   # milliseconds a call of each variant
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from temporal_eval import MEDIA, PAINTING, dreamreel  # this folder is first on sys.path

from dreamreel.engine import temporal
from dreamreel.engine.colour_transfer import local_mean
from dreamreel.engine.processing import flow_scale
from dreamreel.engine.sources import open_source
from dreamreel.engine.two_way import BACKWARD_WEIGHT
from dreamreel.pipelines.base import Guide

FAST = (2.0, 8.0)  # px a frame: "shipped + finest, fast" gains the finest octave from none to all
CHANNEL_GAIN = (0.2, 1.75)  # "channel gain": power of the variance ratio, largest gain
SUBSAMPLE = 4  # the gains' statistics are taken at a quarter of the size
Restore = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _gain(detail_b: np.ndarray, detail_s: np.ndarray, power: float, largest: float) -> np.ndarray:
    """Per-channel gain (HxWx3, 1..largest) of the blend's detail toward the stylized frame's:
    the ratio of their local mean squares (the restoration's window) to `power`."""
    h, w = detail_b.shape[:2]
    small = (max(w // SUBSAMPLE, 1), max(h // SUBSAMPLE, 1))
    sigma = temporal.TEXTURE_SIGMA / SUBSAMPLE
    ratio = ((local_mean(detail_s ** 2, small, sigma) + 1.0)
             / (local_mean(detail_b ** 2, small, sigma) + 1.0))
    return cv2.resize(np.clip(ratio ** power, 1.0, largest), (w, h))


def _local_moments(image: np.ndarray, small: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted local mean and variance per channel, at the (w, h) size `small`."""
    sigma = temporal.TEXTURE_SIGMA / SUBSAMPLE
    mean = local_mean(image, small, sigma)
    return mean, np.maximum(local_mean(image * image, small, sigma) - mean * mean, 0.0)


def _finest(image: np.ndarray) -> np.ndarray:
    """The finest octave: a Laplacian pyramid's first level."""
    return image - cv2.pyrUp(cv2.pyrDown(image), dstsize=image.shape[1::-1])


def variants(power: float) -> dict[str, Restore]:
    def channel_gain(b: np.ndarray, s: np.ndarray, flow: np.ndarray) -> np.ndarray:
        h, w = b.shape[:2]
        small = (max(w // SUBSAMPLE, 1), max(h // SUBSAMPLE, 1))
        mean_b, var_b = _local_moments(b, small)
        _, var_s = _local_moments(s, small)
        ratio = (var_s + 1.0) / (var_b + 1.0)
        gain = cv2.resize(np.clip(ratio ** CHANNEL_GAIN[0], 1.0, CHANNEL_GAIN[1]), (w, h))
        mean_b = cv2.resize(mean_b, (w, h))
        return mean_b + (b - mean_b) * gain

    def finest(b: np.ndarray, s: np.ndarray, flow: np.ndarray, base: np.ndarray,
               where_fast: bool) -> np.ndarray:
        fine = _finest(b)
        gain = _gain(fine, _finest(s), power, 2.5)
        if where_fast:
            speed = cv2.GaussianBlur(np.sqrt((flow ** 2).sum(axis=-1)), (0, 0), 4.0)  # HxW, px
            fast = np.clip((speed - FAST[0]) / (FAST[1] - FAST[0]), 0.0, 1.0)
            gain = 1.0 + (gain - 1.0) * fast[..., None]
        return base + (gain - 1.0) * fine

    return {
        "shipped": lambda b, s, m: temporal.restore_texture(b, s),
        "channel gain": channel_gain,
        "finest only": lambda b, s, m: finest(b, s, m, b, False),
        "shipped + finest": lambda b, s, m: finest(b, s, m, temporal.restore_texture(b, s), False),
        "shipped + finest, fast": lambda b, s, m: finest(b, s, m, temporal.restore_texture(b, s),
                                                         True),
    }


class Variant(temporal.Stabiliser):
    """The shipped stabiliser with its texture restoration replaced."""

    def __init__(self, restore: Restore, scale: float,
                 weight: float = temporal.DEFAULT_WEIGHT) -> None:
        super().__init__(weight, flow_scale=scale)
        self.restore = restore

    def blend(self, stylized: np.ndarray, g: Guide | None) -> np.ndarray:
        if g is None or g.is_cut:
            return stylized
        alpha = (g.mask * self.weight)[..., None]  # HxWx1
        blended = stylized + alpha * (g.warped_prev - stylized)
        out = self.restore(blended, stylized.astype(np.float32), g.flow)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_frames(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i:06d}.png"), frame[..., ::-1])


def encoded(frames: str) -> str:
    """A folder of PNG frames (ending in /) encoded as `run` writes its output, H.264 at CRF
    14 (4:2:0 at even sizes), as in benchmarks/temporal_eval.py."""
    video = frames.rstrip("/") + ".mp4"
    dreamreel("run", frames, "-o", video, "--strength", "0", "--temporal", "0", "--crf", "14",
              "-y", "--quiet")
    return video


def scaled(clip: str, folder: Path, short_side: int) -> str:
    """`clip`'s frames scaled to `short_side` (even sides, area filter), as PNG frames."""
    with open_source(clip) as source:
        frames = [frame.image for frame in source]
    h, w = frames[0].shape[:2]
    scale = short_side / min(h, w)
    size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)
    write_frames(folder, [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    return f"{folder}/"


def timing(power: float) -> None:
    """Median milliseconds of 9 calls of each variant on random frames, at 1280x720 and 640x272."""
    rng = np.random.default_rng(0)
    print("| restoration | 1280x720, ms | 640x272, ms |")
    print("|---|---|---|")
    frames = [[rng.uniform(0, 255, (h, w, 3)).astype(np.float32) for _ in range(2)]
              for h, w in ((720, 1280), (272, 640))]
    for name, restore in variants(power).items():
        ms = []
        for blended, stylized in frames:
            flow = np.zeros((*blended.shape[:2], 2), np.float32)
            calls = []
            for _ in range(9):
                start = time.perf_counter()
                restore(blended, stylized, flow)
                calls.append(time.perf_counter() - start)
            ms.append(f"{np.median(calls) * 1000:.1f}")
        print(f"| {name} | {' | '.join(ms)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", nargs="+", default=["audio/bbb_14s-19s_h264_aac.mp4"])
    parser.add_argument("--duration", default="2")
    parser.add_argument("--power", type=float, default=0.6)
    parser.add_argument("--style", help="a built-in style to paint with instead of Magenta's "
                        "network and the painting (the style distance is still to the painting)")
    parser.add_argument("--timing", action="store_true", help="time each variant instead")
    parser.add_argument("--variants", nargs="+", choices=list(variants(0.0)),
                        help="only these (default: all)")
    parser.add_argument("--short-side", type=int, help="scale each trimmed clip to this short "
                        "side (area filter) first, as if it had been shot that size")
    parser.add_argument("--two-way", action="store_true", help="each variant also smoothed "
                        "backward over the whole clip (engine.two_way's weight), scored too")
    parser.add_argument("--encode", action="store_true", help="score each output, and the "
                        "per-frame frames, encoded as `run` writes them (H.264, CRF 14, 4:2:0)")
    args = parser.parse_args()
    if args.short_side is not None and args.short_side < 2:
        parser.error("--short-side must be at least 2 (pixels)")
    if args.timing:
        timing(args.power)
        return
    painter = ["--style", args.style] if args.style else ["--style-image", str(PAINTING)]
    print("| clip | restoration | E_warp, share of per-frame | style distance, share of "
          "per-frame | texture drift |")
    print("|---|---|---|---|---|")
    for clip in args.clips:
        with tempfile.TemporaryDirectory() as tmp:
            trimmed, per_frame = f"{tmp}/input.mp4", f"{tmp}/per_frame/"
            dreamreel("run", str(MEDIA / clip), "-o", trimmed, "--duration", args.duration,
                      "--strength", "0", "--temporal", "0", "--crf", "12", "-y", "--quiet")
            if args.short_side:
                trimmed = scaled(trimmed, Path(tmp) / "scaled", args.short_side)
            dreamreel("run", trimmed, *painter, "--temporal", "0", "-o", per_frame, "-y",
                      "--quiet")
            with open_source(trimmed) as source:
                inputs = [frame.image for frame in source]
            with open_source(per_frame) as source:
                styled = [frame.image for frame in source]
            inputs = inputs[:len(styled)]
            scale = flow_scale(inputs[0].shape[:2])
            reference = encoded(per_frame) if args.encode else per_frame
            for k, (name, restore) in enumerate(variants(args.power).items()):
                if args.variants and name not in args.variants:
                    continue
                forward = Variant(restore, scale)
                outputs = {name: [forward(i, s) for i, s in zip(inputs, styled, strict=True)]}
                if args.two_way:  # the finished frames pulled toward their successors
                    backward = Variant(restore, scale, BACKWARD_WEIGHT)
                    outputs[f"{name}, two-way"] = [backward(i, f) for i, f in zip(
                        inputs[::-1], outputs[name][::-1], strict=True)][::-1]
                for j, (label, frames) in enumerate(outputs.items()):
                    out = Path(tmp) / f"variant{k}_{j}"
                    write_frames(out, frames)
                    scored = encoded(f"{out}/") if args.encode else str(out)
                    figures = json.loads(dreamreel("metrics", trimmed, scored, "--reference",
                                                   reference, "--style-image", str(PAINTING),
                                                   "--json"))
                    mine, theirs = figures["output"], figures["reference"]
                    print(f"| {Path(clip).name} | {label} | "
                          f"{mine['warping_error'] / theirs['warping_error']:.3f}x | "
                          f"{mine['style_distance'] / theirs['style_distance']:.3f}x | "
                          f"{mine['texture_drift']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
