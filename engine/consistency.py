"""Temporal-consistency metrics for stylized video.

``warping_error`` is the metric of Lai et al. 2018 ("Learning Blind Video Temporal
Consistency", Sec. 5.1), the standard way to score flicker: each output frame is compared with
the next output frame warped back onto it along the optical flow of the INPUT video, counting
only pixels that the occlusion test of Ruder et al. 2016 ("Artistic style transfer for videos")
marks visible in both frames. The flow and mask come from the inputs alone, so every method is
judged against the same correspondences; they are computed with DIS at its most accurate
settings (Lai et al. used FlowNet2, which needs a deep-learning runtime). Frames are streamed:
memory stays flat however long the video.

Frames are uint8 HxWx3 RGB.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dreamreel.engine.flow import (
    compute_flow,
    create_accurate_dis,
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
    excludes pixels that flow out of the frame). Returns (mean, per-pair errors), T-1 pairs;
    a pair with no visible pixel scores 0. Raises ValueError if the streams differ in length.
    """
    per_frame = warping_errors(inputs, [outputs])[0]
    return (float(np.mean(per_frame)) if per_frame else 0.0), per_frame


def warping_errors(
    inputs: Iterable[np.ndarray], output_streams: list[Iterable[np.ndarray]]
) -> list[list[float]]:
    """Per-pair warping errors of several outputs of the same input, sharing one flow per pair
    (so comparing a stabilised result with the per-frame one costs one flow computation)."""
    dis = create_accurate_dis()
    prev_gray: np.ndarray | None = None
    prev_outs: list[np.ndarray] = []
    errors: list[list[float]] = [[] for _ in output_streams]
    for frame_in, *frames_out in zip(inputs, *output_streams, strict=True):
        gray = to_gray(frame_in)  # HxW uint8
        outs = [f.astype(np.float32) / 255.0 for f in frames_out]  # HxWx3 in 0..1 each
        if prev_gray is not None:
            flow_fw = compute_flow(dis, prev_gray, gray)  # HxWx2, t -> t+1 on t's grid
            flow_bw = compute_flow(dis, gray, prev_gray)  # HxWx2, t+1 -> t on t+1's grid
            mask = reliability_mask(flow_fw, flow_bw, soften=False)  # HxW, M_t
            visible = max(float(mask.sum()), 1.0)
            for series, prev, out in zip(errors, prev_outs, outs, strict=True):
                diff = prev - warp(out, flow_fw)  # HxWx3
                series.append(float((mask * (diff * diff).sum(axis=2)).sum()) / visible)
        prev_gray, prev_outs = gray, outs
    return errors


def mean_abs_difference(
    a_frames: Iterable[np.ndarray], b_frames: Iterable[np.ndarray]
) -> float:
    """Mean absolute difference of two equally long frame streams, RGB in 0..1 (e.g. how far a
    stabiliser moved the per-frame result). Raises ValueError if the lengths differ."""
    total = 0.0
    count = 0
    for a, b in zip(a_frames, b_frames, strict=True):
        total += float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()) / 255.0
        count += 1
    return total / count if count else 0.0
