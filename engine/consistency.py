"""Temporal-consistency metrics for stylized video.

``warping_error`` is the metric of Lai et al. 2018 ("Learning Blind Video Temporal
Consistency", Sec. 5.1), the standard way to score flicker: each output frame is compared with
the next output frame warped back onto it along the optical flow of the INPUT video, counting
only pixels that the occlusion test of Ruder et al. 2016 ("Artistic style transfer for videos")
marks visible in both frames. The flow and mask come from the inputs alone, so every method is
judged against the same correspondences; they are computed with DIS at its most accurate
settings (Lai et al. used FlowNet2, which needs a deep-learning runtime). Frames are streamed:
memory stays flat however long the video.

A lower warping error is not always a better picture: an output smeared along a wrong flow
is perfectly consistent along it. ``drift`` measures the other side, how far a stabilised
output wanders from the per-frame one, in colour and in its texture (the orientations of its
strokes), frame by frame, so that a growing drift or a change of texture (streaks) shows.
``carried`` gives the warping error's floor: what a video with no flicker at all scores.

Frames are uint8 HxWx3 RGB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from dreamreel.engine.flow import (
    compute_flow,
    create_dis,
    hard_cut,
    reliability_mask,
    to_gray,
    warp,
)


def warping_error(
    inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray]
) -> tuple[float, list[float]]:
    """E_warp = 1/(T-1) sum_t [ sum_i M_t(i) ||O_t(i) - warp(O_{t+1})(i)||^2 / sum_i M_t(i) ].

    O are the outputs as RGB in 0..1, ||.||^2 sums the three channels, warp(O_{t+1}) pulls
    O_{t+1} onto frame t with the flow I_t -> I_{t+1} of the inputs, and M_t is the binary
    non-occlusion mask of that flow (``flow.reliability_mask`` with ``soften=False``; it also
    excludes pixels that flow out of the frame). Returns (mean, per-pair errors), T-1 pairs.
    A pair across a scene cut is not scored (NaN, left out of the mean; see
    ``warping_errors``). Raises ValueError if the streams differ in length.
    """
    per_frame = warping_errors(inputs, [outputs])[0]
    return mean_error(per_frame), per_frame


def mean_error(per_pair: list[float]) -> float:
    """The mean of the scored pairs (0 when none is)."""
    scored = [e for e in per_pair if not np.isnan(e)]
    return float(np.mean(scored)) if scored else 0.0


def warping_errors(
    inputs: Iterable[np.ndarray], output_streams: list[Iterable[np.ndarray]],
    floor_of: int | None = None,
) -> list[list[float]]:
    """Per-pair warping errors of several outputs of the same input, sharing one flow per pair
    (so comparing a stabilised result with the per-frame one costs one flow computation).

    A pair across a scene cut scores NaN: no pixel of one shot corresponds to the other, yet
    the occlusion test passes a share of chance matches whose errors, the same for every
    method, would outweigh the rest of a clip (Lai et al. score shots, not films). A cut is
    told from the inputs alone, by their gray histograms (``flow.hard_cut``); fast motion,
    where most pixels lose their correspondence, is still scored.

    `floor_of`: the index of a stream whose floor (``carried``) is scored too, as one more
    series at the end; it is carried along the backward flow each pair computes anyway."""
    dis = create_dis("accurate")
    prev_gray: np.ndarray | None = None
    prev_outs: list[np.ndarray] = []
    held: np.ndarray | None = None  # the floor's frame, HxWx3 float32 0..255
    errors: list[list[float]] = [[] for _ in range(len(output_streams) + (floor_of is not None))]
    for frame_in, *frames_out in zip(inputs, *output_streams, strict=True):
        gray = to_gray(frame_in)  # HxW uint8
        flows = None if prev_gray is None else pair_flows(dis, prev_gray, gray)
        if floor_of is not None:
            held = carry(held, frames_out[floor_of], None if flows is None else flows[1])
            frames_out.append(quantised(held))
        outs = [f.astype(np.float32) / 255.0 for f in frames_out]  # HxWx3 in 0..1 each
        if prev_gray is not None:
            for series, error in zip(errors, _pair_errors(flows, prev_outs, outs), strict=True):
                series.append(error)
        prev_gray, prev_outs = gray, outs
    return errors


def _pair_errors(flows: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                 prev_outs: list[np.ndarray], outs: list[np.ndarray]) -> list[float]:
    """The warping error of each output between frames t (prev) and t+1; NaN across a cut."""
    if flows is None:
        return [float("nan")] * len(outs)
    flow_fw, _, mask = flows
    visible = max(float(mask.sum()), 1.0)
    return [float((mask * error).sum()) / visible
            for error in error_maps(flow_fw, prev_outs, outs)]


def pair_flows(dis: cv2.DISOpticalFlow, prev_gray: np.ndarray, gray: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The metric's correspondences between uint8 HxW gray frames t (prev) and t+1: the flow
    t -> t+1 on t's grid, the flow t+1 -> t on t+1's (HxWx2 each) and the mask M_t (HxW);
    None across a scene cut."""
    if hard_cut(prev_gray, gray):
        return None
    flow_fw = compute_flow(dis, prev_gray, gray)  # HxWx2, t -> t+1 on t's grid
    flow_bw = compute_flow(dis, gray, prev_gray)  # HxWx2, t+1 -> t on t+1's grid
    return flow_fw, flow_bw, reliability_mask(flow_fw, flow_bw, soften=False)


def error_maps(flow_fw: np.ndarray, prev_outs: list[np.ndarray], outs: list[np.ndarray]
               ) -> list[np.ndarray]:
    """Per output, ||O_t - warp(O_{t+1})||^2 per pixel (HxW; outputs float32 HxWx3 in 0..1)."""
    maps = []
    for prev, out in zip(prev_outs, outs, strict=True):
        diff = prev - warp(out, flow_fw)  # HxWx3
        maps.append((diff * diff).sum(axis=2))
    return maps


def pair_error_maps(dis: cv2.DISOpticalFlow, prev_gray: np.ndarray, gray: np.ndarray,
                    prev_outs: list[np.ndarray], outs: list[np.ndarray]
                    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray] | None:
    """Where the warping error of a pair lies: the error maps (``error_maps``), with the mask
    M_t (HxW) and the flow t -> t+1 (HxWx2); None across a scene cut."""
    flows = pair_flows(dis, prev_gray, gray)
    if flows is None:
        return None
    flow_fw, _, mask = flows
    return error_maps(flow_fw, prev_outs, outs), mask, flow_fw


def carried(inputs: Iterable[np.ndarray], frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The first of `frames` in each shot of `inputs`, carried along the inputs' flow frame
    after frame (bicubic, as the stabiliser carries): a video with no flicker at all.

    Its warping error is the metric's floor. The metric's bilinear warp blurs strokes a pixel
    wide at every sub-pixel shift, so even this video scores above zero, and a stabilised
    output is better judged by how near it comes to this than to zero. (``warping_errors``
    scores it with `floor_of` without computing this flow again.)"""
    dis = create_dis("accurate")
    prev_gray: np.ndarray | None = None
    held: np.ndarray | None = None
    for frame_in, frame in zip(inputs, frames, strict=True):
        gray = to_gray(frame_in)  # HxW uint8
        flow_bw = None
        if prev_gray is not None and not hard_cut(prev_gray, gray):
            flow_bw = compute_flow(dis, gray, prev_gray)  # HxWx2, this frame -> the previous
        held = carry(held, frame, flow_bw)
        prev_gray = gray
        yield quantised(held)


def carry(held: np.ndarray | None, frame: np.ndarray, flow_back: np.ndarray | None
          ) -> np.ndarray:
    """The floor's next frame (HxWx3 float32, 0..255): `held` pulled onto this frame along
    `flow_back` (this frame -> the previous one), or `frame` itself where there is no flow
    (a shot's first frame)."""
    if held is None or flow_back is None:
        return frame.astype(np.float32)
    return warp(held, flow_back, cv2.INTER_CUBIC)


def quantised(image: np.ndarray) -> np.ndarray:
    """A float32 0..255 frame rounded to uint8, as a video holds it."""
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


ORIENTATION_BINS = 8
ORIENTATION_CELL = 32  # px: texture is compared cell by cell


def orientation_histograms(image: np.ndarray) -> np.ndarray:
    """The texture of a uint8 HxWx3 RGB frame: for each ORIENTATION_CELL square cell, the
    histogram of its luma gradient orientations (0..180 degrees, ORIENTATION_BINS bins),
    weighted by gradient magnitude and normalised (cells x bins, float32; a flat cell is
    uniform)."""
    gray = to_gray(image).astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)  # HxW
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    rows, cols = gray.shape[0] // ORIENTATION_CELL, gray.shape[1] // ORIENTATION_CELL
    h, w = rows * ORIENTATION_CELL, cols * ORIENTATION_CELL
    magnitude = np.hypot(gx[:h, :w], gy[:h, :w])
    angle = np.mod(np.arctan2(gy[:h, :w], gx[:h, :w]), np.pi)
    bins = np.minimum((angle * (ORIENTATION_BINS / np.pi)).astype(np.int64), ORIENTATION_BINS - 1)
    cell = (np.arange(h)[:, None] // ORIENTATION_CELL) * cols + np.arange(w)[None, :] // ORIENTATION_CELL
    hist = np.bincount((cell * ORIENTATION_BINS + bins).ravel(), magnitude.ravel(),
                       rows * cols * ORIENTATION_BINS).reshape(rows * cols, ORIENTATION_BINS)
    hist += 1.0  # a flat cell reads as no orientation in particular
    return (hist / hist.sum(axis=1, keepdims=True)).astype(np.float32)


def drift(outputs: Iterable[np.ndarray], references: Iterable[np.ndarray]
          ) -> dict[str, list[float]]:
    """Per frame, how far `outputs` (a stabilised result) are from `references` (the per-frame
    result): "difference", the mean absolute difference (RGB, 0..1), and "texture", the mean
    total-variation distance (0..1) of their cells' orientation histograms. Streaks show in
    the second, a slow wander in the first. Raises ValueError if the lengths differ."""
    series: dict[str, list[float]] = {"difference": [], "texture": []}
    for out, ref in zip(outputs, references, strict=True):
        series["difference"].append(
            float(np.abs(out.astype(np.float32) - ref.astype(np.float32)).mean()) / 255.0)
        apart = np.abs(orientation_histograms(out) - orientation_histograms(ref)).sum(axis=1)
        series["texture"].append(float(apart.mean()) / 2.0)
    return series
