"""Temporal stabilisation of stylized video: flow-guided blending with the previous output.

A per-frame stylizer (style transfer, DeepDream, a GAN) answers tiny input changes with large
output changes, so its video flickers. Ruder et al. 2016 ("Artistic style transfer for
videos") fix this by pulling the previous OUTPUT onto the current frame along the optical flow
of the INPUT and asking the new frame to agree with it wherever the flow is reliable; Lai et
al. 2018 ("Learning Blind Video Temporal Consistency") do the same blindly, after the fact, and
measure the result with the warping error (``engine.consistency``). ``Stabiliser`` is the
training-free, causal version of both: it blends

    out_t = m * weight * warp(out_{t-1}) + (1 - m * weight) * stylized_t

followed by a local contrast restoration (``restore_texture``), where m is the softened
reliability mask of the flow (``engine.flow``): Ruder et al.'s disocclusion and
motion-boundary tests (the latter above DIS's noise), pixels flowing out of the frame, a
photometric test on the inputs that catches what DIS's blurred motion boundaries let through,
and the input's structure (flat regions, where any flow fits, would drag strokes into
streaks, so only the still ones are carried, and in place). Because m is 0 where the scene is
disoccluded, at motion boundaries, where the pulled input does not match and on scene cuts
(detected from the inputs), moving objects leave no ghosts, unlike ``ExponentialBlend``
(plain smoothing over time), kept for comparisons. Only past frames are used, so the same
code serves files and live video.

Frames are uint8 HxWx3 RGB throughout.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from dreamreel.engine import colour_transfer
from dreamreel.engine.flow import (
    DEFAULT_HIST_THRESHOLD,
    STABILISER_BOUNDARY_FLOOR,
    STABILISER_ROUND_TRIP_FLOOR,
    compute_flow,
    create_dis,
    fill_specks,
    hard_cut,
    photometric_mask,
    reliability_mask,
    resize_flow,
    soften_mask,
    stillness,
    structure_confidence,
    to_gray,
    warp,
)
from dreamreel.pipelines.base import Guide

DEFAULT_WEIGHT = 0.85  # chosen by measurement: benchmarks/RESULTS.md, "Temporal consistency"
# Scene-cut thresholds, from measurement: between consecutive frames of a grainy, flickering
# silent film the share of unreliable pixels stays <= 0.26 and the histogram distance <= 0.05;
# unrelated frames score 0.5-0.97 and 0.08-0.11, unrelated random textures 0.83 and 0.02.
# (The histogram test is ``flow.hard_cut``, at DEFAULT_HIST_THRESHOLD.)
DEFAULT_CUT_THRESHOLD = 0.5  # share of unreliable pixels that declares a scene cut
# Flow on the full frame by default: on 60 frames of the silent film with a colour map + noise
# as "style", flow_scale 0.5 saves ~25% of the time at 640x480 but leaves 5% more error against
# the noise-free result and a 10% higher warping error ("medium" at 0.5 matches "fast" at 1.0
# for ~15% more time).
DEFAULT_FLOW_SCALE = 1.0
# DIS "medium" against "fast", 60 frames at short side 360 (benchmarks/RESULTS.md): warping
# error 0.51x -> 0.42x of per-frame on the silent film, 0.27x -> 0.21x on the hand-held clip,
# for about 10 ms more a frame with the flow at the working resolution. "accurate" against
# "medium" (RESULTS.md, "Flow for the stabiliser"): 3-7% less warping error on every real
# clip, for about 7 ms more a frame at 320x569 and 11 ms at 640x480. Live uses "ultrafast".
DEFAULT_PRESET = "accurate"
# Texture restoration (``restore_texture``), from measurement (benchmarks/RESULTS.md, "Texture
# restoration" and "Which texture is lost"): on hand-held footage the strokes of consecutive
# stylized frames do not line up, so the blend averages them away, and strokes of different
# colours average to grey. The blend's detail (all but its finest octave) is coloured
# TEXTURE_COLOUR_STRENGTH of the way from unchanged toward the stylized frame's local colour
# covariance (Gaussian window of TEXTURE_SIGMA px, statistics at 1/TEXTURE_SUBSAMPLE of the
# size), stretching no colour by more than TEXTURE_MAX_GAIN. Against a per-channel gain on all
# detail (the ratio of local standard deviations^0.4, at most 1.75), with Magenta's network
# and Kandinsky's painting on seven clips, it lowers the warping error on all seven and keeps
# the style distance within 5% of the per-frame output's on six where the gain keeps five: it
# brings Big Buck Bunny 14-19 s from 1.10x to 0.97x, and takes the panning bikes, which lose
# their finest octave instead, from 1.20x to 1.37x. A gain over the whole finest octave raises
# the warping error. Through the CLI ("Restoring colour covariance, through the CLI"), with the
# finest octave's gain below, six of the seven clips keep the style distance (the bikes 1.24x)
# and all 21 clip and style rows are under 0.2x of per-frame warping error with --two-way.
# On frames no larger than standard definition (short side at most TEXTURE_FINEST_MAX_SIDE),
# the finest octave holds strokes a viewer sees, and a fast pan averages them away (the
# bikes at 640x272, the videophone at 176x144), so it gets a per-channel gain too: the ratio
# of its local variances^TEXTURE_FINEST_POWER. On 720p frames that gain raises the style
# distance (Big Buck Bunny 14-19 s 0.97x -> 1.06x in memory) and the warping error, and on
# four clips scaled to a short side of 540 px both as well (style distance +2-20%).
TEXTURE_SIGMA = 8.0
TEXTURE_SUBSAMPLE = 8
TEXTURE_COLOUR_STRENGTH = 0.3
TEXTURE_MAX_GAIN = 2.5
TEXTURE_FINEST_MAX_SIDE = 480
TEXTURE_FINEST_POWER = 0.2
# How the previous output (and source) are pulled onto the current frame
# (``carry_interpolation``). Bilinear interpolation at a sub-pixel offset is a low-pass
# filter, and the output is carried frame after frame, so its strokes would blur a little
# more each time; bicubic keeps them. Over 80 frames at 320 px (benchmarks/RESULTS.md,
# "Carrying the strokes sharp"), against bilinear with a power of 0.25: Kandinsky's painting
# on the hand-held cockatoo at 1.17x the per-frame output's style distance against 1.34x,
# texture drift 3-13% lower on every real clip, the warping error within 0.005 of bilinear's
# except on the shaking videophone clip (0.109x against 0.091x). That needs a flow refined to
# half resolution or finer ("medium", "accurate"): the coarser presets stop at a quarter,
# their error shows through sharp strokes as flicker (the silent film 0.24x -> 0.27x with
# "fast"), and bilinear hides it.
SHARP_CARRY_FINEST_SCALE = 1  # DIS's finest pyramid level: 0 is full resolution, 1 half


class FlowMemo:
    """Flows already solved, by the frames they join. Two-way `run` runs a second stabiliser
    backward over the frame pairs the forward one has just solved (both directions of each),
    and DIS is about 70% of a stabiliser's time at 720p. One memo serves stabilisers of one
    preset, on one thread or two; it keeps the last `size` flows."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._flows: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def flow(self, dis: cv2.DISOpticalFlow, gray_a: np.ndarray, gray_b: np.ndarray
             ) -> np.ndarray:
        """``compute_flow(dis, gray_a, gray_b)``, solved once for each pair of frames."""
        key = (gray_a.shape, hash(gray_a.tobytes()), hash(gray_b.tobytes()))
        flow = self._flows.get(key)  # one lookup: the other pass's thread may evict meanwhile
        if flow is None:
            flow = self._flows[key] = compute_flow(dis, gray_a, gray_b)
            while len(self._flows) > self.size:
                self._flows.popitem(last=False)
        return flow


@dataclass
class _Pending:
    """The analysis of the frame being processed, kept until ``commit`` so that the flow of a
    frame is computed once whether ``guide``, ``__call__`` or both are used."""

    gray: np.ndarray  # h x w uint8, the source at flow resolution
    guide: Guide | None


class Stabiliser:
    """Causal flow-guided temporal stabiliser (see the module docstring).

    weight: how much of the warped previous output to keep where the flow is reliable (0..1).
    preset: DIS preset, one of ``flow.PRESETS``; it also sets how the previous output is
        carried (``carry_interpolation``).
    cut_threshold: share of unreliable pixels (binary mask, before softening) above which the
        frame is a scene cut.
    hist_threshold: Bhattacharyya distance between consecutive gray histograms above which the
        frame is a scene cut (catches cuts that fool the flow, e.g. to a flat frame).
    flow_scale: the flow is computed on the input resized by this factor (and refined to
        its pixels, ``refine_for_scale``), then upsampled and rescaled; the mask, warp and
        blend stay at full resolution.
    texture: restore the stylized frame's local contrast after blending (``restore_texture``).
    memo: where flows solved by another stabiliser of the same preset are found (`FlowMemo`).

    Use either ``stabilised = stabiliser(source, stylized)`` per frame, or, for a pipeline that
    conditions on the previous output, ``g = stabiliser.guide(source)``, render, then
    ``stabiliser.commit(source, output)``.
    """

    def __init__(
        self,
        weight: float = DEFAULT_WEIGHT,
        preset: str = DEFAULT_PRESET,
        cut_threshold: float = DEFAULT_CUT_THRESHOLD,
        hist_threshold: float = DEFAULT_HIST_THRESHOLD,
        flow_scale: float = DEFAULT_FLOW_SCALE,
        texture: bool = True,
        memo: FlowMemo | None = None,
    ) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        if not 0.0 < flow_scale <= 1.0:
            raise ValueError(f"flow_scale must be in (0, 1], got {flow_scale}")
        self.weight = weight
        self.cut_threshold = cut_threshold
        self.hist_threshold = hist_threshold
        self.flow_scale = flow_scale
        self.texture = texture
        self._memo = memo
        self._dis = create_dis(preset)
        refine_for_scale(self._dis, flow_scale)
        self._carry = carry_interpolation(self._dis)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next frame is treated as the first."""
        self._prev_gray: np.ndarray | None = None  # h x w uint8, at flow resolution
        self._prev_source: np.ndarray | None = None  # H x W x 3 uint8
        self._prev_output: np.ndarray | None = None  # H x W x 3 float32, 0..255
        self._pending: _Pending | None = None

    def __call__(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """Stabilise one frame: uint8 HxWx3 source and stylized -> uint8 HxWx3.

        Returns ``stylized`` itself on the first frame, after a cut or a size change.
        """
        if stylized.shape != source.shape:
            raise ValueError(f"stylized {stylized.shape} and source {source.shape} differ")
        g = self.guide(source)
        out = self.blend(stylized, g)
        self.commit(source, out)
        return out

    def blend(self, stylized: np.ndarray, g: Guide | None) -> np.ndarray:
        """`stylized` (uint8 HxWx3) pulled toward the warped previous output where the guide
        trusts it, at `weight`, its local contrast restored; itself without a guide or on a cut."""
        if g is None or g.is_cut or self.weight == 0:
            return stylized
        alpha = (g.mask * self.weight)[..., None]  # HxWx1
        blended = stylized + alpha * (g.warped_prev - stylized)  # HxWx3 float32
        if self.texture:
            blended = restore_texture(blended, stylized.astype(np.float32))
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def guide(self, source: np.ndarray) -> Guide | None:
        """The previous output warped onto this uint8 HxWx3 source frame, with its mask.

        None when there is no previous frame (first frame, after ``reset``, or the frame size
        changed). On a scene cut: ``is_cut`` and all-zero ``warped_prev``, ``mask`` and
        ``flow``. Calling it again for the same frame returns the cached result.
        """
        gray = self._small_gray(source)
        if self._pending is not None and np.array_equal(self._pending.gray, gray):
            return self._pending.guide
        if self._prev_output is None or self._prev_output.shape != source.shape:
            self.reset()
            self._pending = _Pending(gray, None)
            return None
        g = self._analyse(source, gray)
        self._pending = _Pending(gray, g)
        return g

    def commit(self, source: np.ndarray, output: np.ndarray) -> None:
        """Record the output actually shown for ``source`` (HxWx3, uint8 or float32 0..255);
        the next frame is made consistent with it. Ends the frame begun by ``guide``."""
        gray = self._small_gray(source)
        pending = self._pending
        if pending is None or not np.array_equal(pending.gray, gray):
            pending = None  # committed without guide(): nothing known about this frame
        if pending is None or pending.guide is None or pending.guide.is_cut:
            self.reset()
        self._prev_gray = gray
        self._prev_source = source.copy()
        self._prev_output = output.astype(np.float32)  # HxWx3, always a copy
        self._pending = None

    def _analyse(self, source: np.ndarray, gray: np.ndarray) -> Guide:
        """Flow, cut test, mask and warp for the current frame against the committed one."""
        size = source.shape[:2]
        if hard_cut(self._prev_gray, gray, self.hist_threshold):
            return _cut_guide(size)
        flow_fw = self._flow(gray, self._prev_gray)  # h x w x 2, cur->prev
        flow_bw = self._flow(self._prev_gray, gray)  # h x w x 2, prev->cur
        full_fw = resize_flow(flow_fw, size)  # HxWx2
        binary = reliability_mask(full_fw, resize_flow(flow_bw, size), soften=False,
                                  boundary_floor=STABILISER_BOUNDARY_FLOOR,
                                  round_trip_floor=STABILISER_ROUND_TRIP_FLOOR)  # HxW
        # Flat regions, where any flow fits, would be dragged into streaks; those that are
        # still keep the previous output in place, the others take the current frame.
        structured = cv2.resize(structure_confidence(gray), size[::-1])  # HxW
        still = cv2.resize(stillness(flow_fw / self.flow_scale), size[::-1])  # HxW, working px
        still_flat = still * (1.0 - structured)
        full_fw = full_fw * (1.0 - still_flat)[..., None]
        binary *= photometric_mask(source, self._prev_source, full_fw)
        if 1.0 - float(binary.mean()) > self.cut_threshold:
            return _cut_guide(size)
        warped = warp(self._prev_output, full_fw, self._carry)  # HxWx3 float32
        warped_source = warp(self._prev_source.astype(np.float32), full_fw,
                             self._carry)  # HxWx3 float32
        mask = soften_mask(fill_specks(binary)) * (structured + still_flat)
        return Guide(warped, warped_source, mask, full_fw, is_cut=False)

    def _flow(self, gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
        if self._memo is None:
            return compute_flow(self._dis, gray_a, gray_b)
        return self._memo.flow(self._dis, gray_a, gray_b)

    def _small_gray(self, source: np.ndarray) -> np.ndarray:
        return flow_gray(source, self.flow_scale)


def refine_for_scale(dis: cv2.DISOpticalFlow, flow_scale: float) -> None:
    """Refine `dis` one pyramid level finer for each octave its input is reduced by
    `flow_scale`, down to the flow image's own pixels.

    A preset's finest level is counted in the pixels it is given: "accurate" stops at half of
    them, which at a working size of 720p, whose flow is computed at 360 (``flow_scale``
    0.5), is a quarter of the frame: strokes a pixel or two wide are then carried along a
    flow 4 px coarse. Refined one level finer it is half the frame's again, as at 360p
    (benchmarks/RESULTS.md, "The flow's resolution at 720p").
    """
    octaves = round(math.log2(1.0 / flow_scale))
    dis.setFinestScale(max(0, dis.getFinestScale() - octaves))


def carry_interpolation(dis: cv2.DISOpticalFlow) -> int:
    """The OpenCV interpolation flag for carrying an output along this DIS solver's flow:
    bicubic where the flow is refined to SHARP_CARRY_FINEST_SCALE or finer, else bilinear."""
    if dis.getFinestScale() <= SHARP_CARRY_FINEST_SCALE:
        return cv2.INTER_CUBIC
    return cv2.INTER_LINEAR


def stabilise_at_size(stabiliser: Stabiliser, source: np.ndarray, stylized: np.ndarray,
                      size: tuple[int, int]) -> np.ndarray:
    """Stabilise at (h, w) `size` and add the correction, upsampled, to the full-size frame.

    When the network works at a reduced size and its output is enlarged (live, `run --size`),
    what flickers is all at the working size: stabilising there costs a quarter of doing it
    on an output twice as large, and the frame's finer detail (the source's, where strength
    < 1) is kept as it is.
    uint8 HxWx3 in and out; the stabiliser sees only `size` frames.
    """
    height, width = source.shape[:2]
    if (height, width) == tuple(size):
        return stabiliser(source, stylized)
    small = (size[1], size[0])
    small_source = cv2.resize(source, small, interpolation=cv2.INTER_AREA)
    small_stylized = cv2.resize(stylized, small, interpolation=cv2.INTER_AREA)
    steady = stabiliser(small_source, small_stylized)
    correction = steady.astype(np.float32) - small_stylized  # h x w x 3
    correction = cv2.resize(correction, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(stylized + correction + 0.5, 0, 255).astype(np.uint8)


def restore_texture(blended: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """The blend's detail given back part of the stylized frame's local colour contrast
    (float32 HxWx3, 0..255).

    Blending aligned frames keeps their texture; blending strokes that land in different places
    in each frame (a hand-held camera) averages them into a wash, and strokes of different
    colours into grey. The transform (``colour_transfer.colouring``, partial, bounded) restores
    how the colours vary together, while the detail it transforms is the blend's own, which is
    consistent in time. The finest octave is where strokes misalign most, and raising it raises
    the flicker, so the transform works on the image at half size, and the statistics, which
    are smooth, at 1/TEXTURE_SUBSAMPLE. On frames of standard definition or smaller, where the
    finest strokes are a large part of what shows, that octave gets a per-channel gain.
    """
    h, w = blended.shape[:2]
    down, down_stylized = cv2.pyrDown(blended), cv2.pyrDown(stylized)  # all but the finest octave
    small = (max(w // TEXTURE_SUBSAMPLE, 1), max(h // TEXTURE_SUBSAMPLE, 1))  # of the full frame
    sigma = TEXTURE_SIGMA / TEXTURE_SUBSAMPLE
    mean, cov = colour_transfer.local_covariance(down, small, sigma)
    _, cov_stylized = colour_transfer.local_covariance(down_stylized, small, sigma)
    m = colour_transfer.partial(colour_transfer.colouring(cov_stylized, cov),
                                TEXTURE_COLOUR_STRENGTH, TEXTURE_MAX_GAIN)
    change = colour_transfer.transform_detail(down, mean, m) - down
    restored = blended + cv2.pyrUp(change, dstsize=(w, h))
    if min(h, w) > TEXTURE_FINEST_MAX_SIDE:
        return restored
    fine = blended - cv2.pyrUp(down, dstsize=(w, h))
    fine_stylized = stylized - cv2.pyrUp(down_stylized, dstsize=(w, h))
    return restored + (_finest_gain(fine, fine_stylized, small, sigma) - 1.0) * fine


def _finest_gain(fine: np.ndarray, fine_stylized: np.ndarray, small: tuple[int, int],
                 sigma: float) -> np.ndarray:
    """Per-channel gain (HxWx3, 1..TEXTURE_MAX_GAIN) of the blend's finest octave toward the
    stylized frame's: the ratio of their local mean squares to TEXTURE_FINEST_POWER."""
    ratio = ((colour_transfer.local_mean(fine_stylized ** 2, small, sigma) + 1.0)
             / (colour_transfer.local_mean(fine ** 2, small, sigma) + 1.0))
    gain = np.clip(ratio ** TEXTURE_FINEST_POWER, 1.0, TEXTURE_MAX_GAIN)
    return cv2.resize(gain, fine.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def _cut_guide(size: tuple[int, int]) -> Guide:
    """The guide of a scene cut: nothing from before it may be used."""
    return Guide(
        warped_prev=np.zeros((*size, 3), np.float32),
        warped_source=np.zeros((*size, 3), np.float32),
        mask=np.zeros(size, np.float32),
        flow=np.zeros((*size, 2), np.float32),
        is_cut=True,
    )


def flow_gray(source: np.ndarray, flow_scale: float) -> np.ndarray:
    """uint8 HxWx3 -> uint8 h x w gray at flow resolution: what the stabiliser compares."""
    gray = to_gray(source)
    if flow_scale == 1.0:
        return gray
    h, w = gray.shape
    size = (max(round(w * flow_scale), 16), max(round(h * flow_scale), 16))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


class ExponentialBlend:
    """Naive temporal smoothing, out_t = alpha * out_{t-1} + (1 - alpha) * stylized_t, with no
    motion compensation: what many tools ship as "smoothing". It reduces flicker but drags
    every moving object into a ghost trail; kept as the baseline ``Stabiliser`` is judged by."""

    def __init__(self, alpha: float = DEFAULT_WEIGHT) -> None:
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None  # HxWx3 float32, 0..255

    def __call__(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """Same signature as ``Stabiliser``; ``source`` is unused. uint8 HxWx3 -> uint8 HxWx3."""
        if self._prev is None or self._prev.shape != stylized.shape:
            self._prev = stylized.astype(np.float32)
            return stylized
        self._prev = self.alpha * self._prev + (1.0 - self.alpha) * stylized  # HxWx3
        return np.clip(self._prev + 0.5, 0, 255).astype(np.uint8)
