"""Texture restoration variants side by side: warping error, style distance and texture drift.

The stabiliser's blend averages strokes that do not line up, and `temporal.restore_texture`
gives back part of the stylized frame's local contrast. Where Magenta's network paints a clip
after Kandinsky's painting, the stabilised output still sits 10-40% further from the painting
than the per-frame output on two clips. This script asks which part of the texture is lost,
by replacing the restoration for the run only with:

- "shipped": `restore_texture` as it is (per-channel gain on all detail finer than its window);
- "colour": a partial match of the local 3x3 colour covariance of the stylized frame (the
  whitening-colouring transform of Li et al. 2017, at `--colour` of the way from identity),
  on all but the finest octave, which is left as blended;
- "finest": a per-channel gain (variance ratio to `--power`) on the finest octave alone;
- "both": the two together; "both, fast": the finest octave's gain only where the picture
  moves fast (from none at 2 px a frame to all of it at 8), where fine strokes fall out of line.

The per-frame output is rendered once as PNG frames (`run --temporal 0`) from a trimmed
H.264 copy of each clip (as benchmarks/temporal_eval.py makes it); every variant stabilises
those frames one way in memory, writes them as PNG, and `dreamreel metrics --reference`
scores them against the per-frame frames.

    python benchmarks/texture_restore_ab.py [--clips audio/bbb_14s-19s_h264_aac.mp4 PATH ...]
        [--duration 2] [--colour 0.3] [--power 0.6] [--style N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from temporal_eval import MEDIA, PAINTING, dreamreel  # this folder is first on sys.path

from dreamreel.engine import temporal
from dreamreel.engine.processing import flow_scale
from dreamreel.engine.sources import open_source
from dreamreel.pipelines.base import Guide

FAST = (2.0, 8.0)  # px a frame: "both, fast" gains the finest octave from none to all
Restore = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _down_blur(image: np.ndarray, small: tuple[int, int]) -> np.ndarray:
    """Local mean over the restoration's window, at the (w, h) size `small`."""
    sigma = temporal.TEXTURE_SIGMA / temporal.TEXTURE_SUBSAMPLE
    return cv2.GaussianBlur(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (0, 0), sigma)


def _split_finest(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(finest octave, the rest): a Laplacian pyramid's first level and what it leaves."""
    low = cv2.pyrUp(cv2.pyrDown(image), dstsize=image.shape[1::-1])
    return image - low, low


def _covariance(image: np.ndarray, small: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Local mean (h x w x 3) and colour covariance (h x w x 3 x 3) at the size `small`."""
    mean = _down_blur(image, small)
    cov = np.empty((*mean.shape[:2], 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            c = _down_blur(image[..., i] * image[..., j], small) - mean[..., i] * mean[..., j]
            cov[..., i, j] = cov[..., j, i] = c
    return mean, cov


def _matrix_power(cov: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 0.0) + 1.0
    return (vectors * values[..., None, :] ** power) @ np.swapaxes(vectors, -1, -2)


def colour_match(blended: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """`blended`'s detail coloured `strength` of the way toward the stylized frame's local
    colour covariance (float32 HxWx3 in and out)."""
    h, w = blended.shape[:2]
    small = (max(w // temporal.TEXTURE_SUBSAMPLE, 1), max(h // temporal.TEXTURE_SUBSAMPLE, 1))
    mean_b, cov_b = _covariance(blended, small)
    _, cov_s = _covariance(stylized, small)
    eye = np.eye(3, dtype=np.float32)
    transform = eye + strength * (_matrix_power(cov_s, 0.5) @ _matrix_power(cov_b, -0.5) - eye)
    largest = np.linalg.norm(transform, ord=2, axis=(-2, -1))
    transform /= np.maximum(largest / 2.5, 1.0)[..., None, None]
    transform = cv2.resize(transform.reshape(*transform.shape[:2], 9), (w, h)).reshape(h, w, 3, 3)
    mean = cv2.resize(mean_b, (w, h))
    return mean + np.einsum("hwij,hwj->hwi", transform, blended - mean)


def fine_gain(fine_b: np.ndarray, fine_s: np.ndarray, power: float) -> np.ndarray:
    """Per-channel gain (HxWx3, 1..2.5) of the finest octave toward the stylized frame's."""
    h, w = fine_b.shape[:2]
    small = (max(w // temporal.TEXTURE_SUBSAMPLE, 1), max(h // temporal.TEXTURE_SUBSAMPLE, 1))
    ratio = (_down_blur(fine_s * fine_s, small) + 1.0) / (_down_blur(fine_b * fine_b, small) + 1.0)
    return cv2.resize(np.clip(ratio ** power, 1.0, 2.5), (w, h))


def variants(colour: float, power: float) -> dict[str, Restore]:
    def shipped(b: np.ndarray, s: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return temporal.restore_texture(b, s)

    def split(b: np.ndarray, s: np.ndarray, flow: np.ndarray, strength: float, p: float | None,
              where_fast: bool) -> np.ndarray:
        (fine_b, low_b), (fine_s, low_s) = _split_finest(b), _split_finest(s)
        low = colour_match(low_b, low_s, strength) if strength else low_b
        if p is None:
            return low + fine_b
        gain = fine_gain(fine_b, fine_s, p)
        if where_fast:
            speed = cv2.GaussianBlur(np.sqrt((flow ** 2).sum(axis=-1)), (0, 0), 4.0)  # HxW, px
            fast = np.clip((speed - FAST[0]) / (FAST[1] - FAST[0]), 0.0, 1.0)
            gain = 1.0 + (gain - 1.0) * fast[..., None]
        return low + gain * fine_b

    return {
        "shipped": shipped,
        "colour": lambda b, s, m: split(b, s, m, colour, None, False),
        "finest": lambda b, s, m: split(b, s, m, 0.0, power, False),
        "both": lambda b, s, m: split(b, s, m, colour, power, False),
        "both, fast": lambda b, s, m: split(b, s, m, colour, power, True),
    }


class Variant(temporal.Stabiliser):
    """The shipped stabiliser with its texture restoration replaced."""

    def __init__(self, restore: Restore, scale: float) -> None:
        super().__init__(flow_scale=scale)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", nargs="+", default=["audio/bbb_14s-19s_h264_aac.mp4"])
    parser.add_argument("--duration", default="2")
    parser.add_argument("--colour", type=float, default=0.3)
    parser.add_argument("--power", type=float, default=0.6)
    parser.add_argument("--style", help="a built-in style to paint with instead of Magenta's "
                        "network and the painting (the style distance is still to the painting)")
    args = parser.parse_args()
    painter = ["--style", args.style] if args.style else ["--style-image", str(PAINTING)]
    print("| clip | restoration | E_warp, share of per-frame | style distance, share of "
          "per-frame | texture drift |")
    print("|---|---|---|---|---|")
    for clip in args.clips:
        with tempfile.TemporaryDirectory() as tmp:
            trimmed, per_frame = f"{tmp}/input.mp4", f"{tmp}/per_frame/"
            dreamreel("run", str(MEDIA / clip), "-o", trimmed, "--duration", args.duration,
                      "--strength", "0", "--temporal", "0", "--crf", "12", "-y", "--quiet")
            dreamreel("run", trimmed, *painter, "--temporal", "0", "-o", per_frame, "-y",
                      "--quiet")
            with open_source(trimmed) as source:
                inputs = [frame.image for frame in source]
            with open_source(per_frame) as source:
                styled = [frame.image for frame in source]
            inputs = inputs[:len(styled)]
            scale = flow_scale(inputs[0].shape[:2])
            for k, (name, restore) in enumerate(variants(args.colour, args.power).items()):
                stabiliser = Variant(restore, scale)
                out = Path(tmp) / f"variant{k}"
                write_frames(out, [stabiliser(i, s) for i, s in zip(inputs, styled, strict=True)])
                figures = json.loads(dreamreel("metrics", trimmed, str(out), "--reference",
                                               per_frame, "--style-image", str(PAINTING), "--json"))
                mine, theirs = figures["output"], figures["reference"]
                print(f"| {Path(clip).name} | {name} | "
                      f"{mine['warping_error'] / theirs['warping_error']:.3f}x | "
                      f"{mine['style_distance'] / theirs['style_distance']:.3f}x | "
                      f"{mine['texture_drift']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
