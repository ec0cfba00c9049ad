"""Dense optical flow, warping and flow-reliability masks for temporal consistency.

Temporal consistency for stylized video (Ruder, Dosovitskiy and Brox 2016, "Artistic style
transfer for videos"; Lai et al. 2018, "Learning Blind Video Temporal Consistency") rests on
three pieces: the optical flow between consecutive INPUT frames, a warp that carries an image
from one frame onto the other along that flow, and a mask of where the flow can be trusted.
Without the mask the previous output is pulled into disoccluded regions and onto motion
boundaries, which is exactly where ghosts come from. The flow here is OpenCV's DIS (Kroeger et
al. 2016), which runs at video rate on a CPU, so no TensorFlow or FlowNet is needed; because
DIS blurs motion boundaries more than the flows those papers used, ``photometric_mask`` adds
a brightness-constancy test on the inputs to Ruder et al.'s two tests.

Conventions (used by every function in this module):

* A flow is float32 HxWx2, channel 0 = dx (columns), channel 1 = dy (rows), in pixels.
* ``flow_a_to_b`` lives on frame A's grid and points into frame B: A(x) ~ B(x + flow(x)).
  DIS ``calc(I0, I1)`` returns exactly this for A = I0, B = I1.
* ``warp(image_b, flow_a_to_b)`` pulls frame B onto frame A's grid (backward warping), so
  ``warp(prev_output, flow(cur -> prev))`` aligns the previous output with the current frame.
* Masks are float32 HxW on frame A's grid, 1 = reliable (the pixel has a trustworthy
  correspondence in B), 0 = unreliable (disoccluded, on a motion boundary, or flows out of B).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# DIS presets by name: OpenCV's three, and "accurate", "medium" with twice the variational
# refinement (ACCURATE_REFINEMENT iterations). On a real 640x360 frame under a known similarity
# transform "accurate" reaches an end-point error of 0.20 px mean / 0.96 px p95 in 30 ms,
# against medium's 0.22 / 1.05 in 22 ms; refining down to full resolution costs 2-6x more for
# no better p95.
PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    "accurate": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
ACCURATE_REFINEMENT = 10

# Brightness-constancy tolerance (0..255, per channel) of ``photometric_mask``. 20 flagged
# 2.6% of a grainy, flickering silent film and left its warping error at 0.57x per-frame;
# 40 still catches the uncovered background behind moving objects (tests/test_temporal.py)
# and reaches 0.48x (benchmarks/RESULTS.md).
PHOTO_THRESHOLD = 40

# Softening of the binary reliability mask: the unreliable region is grown by SOFT_RADIUS
# pixels (erosion of the reliable region), then blurred with a kernel of the same radius, so
# every pixel that failed a test stays exactly 0 and the seam ramps up over 2*SOFT_RADIUS px.
SOFT_RADIUS = 1

# The disocclusion test's floor, in squared px of round-trip error: Ruder et al.'s 0.5 (0.7 px)
# for the metric. The stabiliser's flow is noisier than the metric's (these floors were set
# with DIS "medium" started from the previous pair's flow): at 0.5 its round trip failed
# where the metric's passed, and those pixels held 7-36% of the stabilised warping error left
# on real clips. 4.0 (2 px) takes the silent film from 0.22x to 0.20x and the hand-held
# cockatoo from 0.28x to 0.24x of per-frame (benchmarks/RESULTS.md, "What the mask trusts"),
# while an uncovered strip, whose round trip misses by the motion, still fails: the ghost
# tests (tests/test_temporal.py) pass unchanged.
RUDER_ROUND_TRIP_FLOOR = 0.5
STABILISER_ROUND_TRIP_FLOOR = 4.0

# The motion-boundary test's floor, in squared px per px of flow gradient: Ruder et al.'s
# 0.002 (a gradient of 0.045 px per px) for the metric. DIS's own noise fails that wherever
# the motion is small, so the stabiliser's is 0.05 (0.22 px per px), while two motions 3 px
# apart, which DIS blurs over about 6 px (0.5 px per px, 0.25), still fail it. On 80 frames
# at 320 px (benchmarks/RESULTS.md, "What the mask trusts") it takes the silent film from
# 0.29x to 0.22x of per-frame warping error; leaving the test out reaches 0.20x but lets a
# dark actor on a dark lawn pick up the lawn's paint at small working sizes.
RUDER_BOUNDARY_FLOOR = 0.002
STABILISER_BOUNDARY_FLOOR = 0.05

# Bhattacharyya distance of gray histograms that declares a scene cut (``hard_cut``): between
# consecutive frames of a grainy, flickering silent film it stays <= 0.05; unrelated frames
# score 0.08-0.11 and unrelated random textures 0.02, so it catches the cuts whose histograms
# differ plainly (to a flat frame, a dark scene) and the stabiliser's mask test the rest.
DEFAULT_HIST_THRESHOLD = 0.3

# ``structure_confidence``: the structure tensor's window, in pixels, and the gradients, in
# grey levels per pixel, at which the flow is half trusted. A gradient in one direction (an
# edge, a sky's brightness ramp) pins the flow only across itself, so it needs STRUCTURE_LEVEL
# on the larger eigenvalue: the demo's gradient sky has about 0.4 level/px, and 0.75 keeps its
# strokes in place (vertical/horizontal gradient ratio 1.04x per-frame against 1.32x
# untrusted). Texture with gradients in every direction pins it both ways, as Shi and Tomasi's
# "good features to track" do, so the smaller eigenvalue needs only CORNER_LEVEL: the hand-held
# cockatoo's faint wall and feathers are carried, and its warping error falls from 0.19x to
# 0.16x of per-frame, while the demo's sky, whose smaller eigenvalue is 0, keeps its strokes.
# Measured with benchmarks/smear_eval.py (benchmarks/RESULTS.md, "Smearing" and "Faint
# texture").
STRUCTURE_SIGMA = 3.0
STRUCTURE_LEVEL = 0.75
CORNER_LEVEL = 0.3
# ``stillness``: the flow, in pixels a frame, at and above which a pixel is not still. Flat
# regions whose flow is below it keep the previous output where it was (the motion model of a
# still camera) instead of taking the current frame. On 80 frames at 320 px
# (benchmarks/RESULTS.md, "Still flat regions") 0.25, 0.5 and 1 px take Big Buck Bunny
# 14-19 s from 0.26x of per-frame warping error to 0.19x, 0.17x and 0.16x, while the drawn
# demo's sky, a still smooth gradient, keeps its strokes (texture drift 0.055 -> 0.058, 0.063
# and 0.071).
STILL_FLOW = 0.5


def create_dis(preset: str = "fast") -> cv2.DISOpticalFlow:
    """A DIS optical flow estimator for one of PRESETS."""
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; expected one of {sorted(PRESETS)}")
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    if preset == "accurate":
        dis.setVariationalRefinementIterations(ACCURATE_REFINEMENT)
    return dis


def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB (or HxW gray) -> uint8 HxW gray, the input DIS expects."""
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def compute_flow(dis: cv2.DISOpticalFlow, gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
    """Flow from A to B on A's grid (A(x) ~ B(x + flow(x))), float32 HxWx2.

    Each pair is solved from scratch: started from the previous pair's flow, DIS followed
    motion that had changed (a swinging rope, a hand-held camera) and left up to 10% more
    warping error on real clips, never less (benchmarks/RESULTS.md, "Flow for the stabiliser").
    """
    return dis.calc(gray_a, gray_b, None)  # HxWx2 float32


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample a flow to ``size`` = (height, width), rescaling the vectors to the new pixels."""
    h, w = flow.shape[:2]
    new_h, new_w = size
    if (h, w) == (new_h, new_w):
        return flow
    resized = cv2.resize(flow, (new_w, new_h), interpolation=cv2.INTER_LINEAR)  # new_h x new_w x 2
    resized[..., 0] *= new_w / w
    resized[..., 1] *= new_h / h
    return resized


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (xs, ys), each float32 HxW. Cached: every frame of a video shares it."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs.flags.writeable = False
    ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Backward-warp ``image`` (frame B) onto frame A's grid: out(x) = image(x + flow(x)).

    ``flow`` is flow_a_to_b (HxWx2). ``image`` is HxW, HxWxC (C <= 4), uint8 or float32; the
    result has the same dtype. Bilinear unless ``interpolation`` (an OpenCV flag) says
    otherwise, with the border replicated for points outside B (``reliability_mask`` marks
    those pixels unreliable).
    """
    xs, ys = _grid(*flow.shape[:2])
    map_x = xs + flow[..., 0]  # HxW
    map_y = ys + flow[..., 1]  # HxW
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


_FORWARD_DX = np.array([[-1.0, 1.0]], np.float32)  # out(x) = f(x + 1) - f(x)


def _gradient_energy(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """|grad u|^2 + |grad v|^2 of a flow (u, v) with forward differences (0 on the last
    row/column, by replication), as in Ruder et al.'s and Lai et al.'s code. Two HxW -> HxW."""
    energy = np.zeros_like(u)  # HxW
    for c in (u, v):
        for kernel in (_FORWARD_DX, _FORWARD_DX.T):
            d = cv2.filter2D(c, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
            energy += d * d
    return energy


def reliability_mask(
    flow_fw: np.ndarray, flow_bw: np.ndarray, soften: bool = True,
    boundary_floor: float = RUDER_BOUNDARY_FLOOR, round_trip_floor: float = RUDER_ROUND_TRIP_FLOOR,
) -> np.ndarray:
    """Where flow_fw (A -> B, on A's grid) can be trusted: float32 HxW on A's grid, 1 = reliable.

    ``flow_bw`` is the flow B -> A on B's grid. Following Ruder et al. 2016 (Sec. 3.2), a pixel
    x of A is unreliable when

    * disoccluded: the round trip does not return,
      |w(x) + w~(x)|^2 > 0.01 (|w(x)|^2 + |w~(x)|^2) + round_trip_floor (0.5 in the
      paper) with w = flow_fw and
      w~(x) = flow_bw(x + w(x)) the backward flow warped onto A's grid;
    * on a motion boundary: |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + boundary_floor (0.002 in
      the paper), (u, v) = flow_fw;
    * flowing out of frame B: x + w(x) lies outside the image.

    With ``soften`` the binary mask is eroded and blurred so that a blend through it has no
    hard seams, while every failing pixel stays exactly 0. ``soften=False`` gives the binary
    mask of the papers (what the warping-error metric uses).
    """
    h, w = flow_fw.shape[:2]
    xs, ys = _grid(h, w)
    u, v = np.moveaxis(flow_fw, 2, 0).copy()  # HxW each (cv2.split is slower)
    map_x = xs + u  # HxW, where each pixel of A lands in B
    map_y = ys + v
    bw_on_a = cv2.remap(flow_bw, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bu, bv = np.moveaxis(bw_on_a, 2, 0).copy()  # HxW each, w~
    fw_sq = u * u + v * v  # HxW
    ru, rv = u + bu, v + bv  # round trip
    disoccluded = ru * ru + rv * rv > 0.01 * (fw_sq + bu * bu + bv * bv) + round_trip_floor
    boundary = _gradient_energy(u, v) > 0.01 * fw_sq + boundary_floor
    outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    mask = (~(disoccluded | boundary | outside)).astype(np.float32)  # HxW
    return soften_mask(mask) if soften else mask


def photometric_mask(
    image_a: np.ndarray, image_b: np.ndarray, flow_fw: np.ndarray, threshold: int = PHOTO_THRESHOLD
) -> np.ndarray:
    """1 where frame A matches frame B pulled along flow_fw (A -> B) within ``threshold`` on
    every channel, else 0: float32 HxW on A's grid. Images uint8 HxW or HxWxC.

    Not in Ruder et al.: DIS smears motion across object boundaries by a few pixels, so a
    strip of background just uncovered by a moving object can carry the object's flow and
    pass both of their tests. Where the pulled INPUT does not match, the pulled output would
    be a ghost; this test catches exactly those pixels.
    """
    diff = cv2.absdiff(image_a, warp(image_b, flow_fw))  # HxW or HxWxC uint8
    if diff.ndim == 3:
        diff = np.maximum.reduce([diff[..., c] for c in range(diff.shape[2])])  # HxW, fast
    return (diff <= threshold).astype(np.float32)


def structure_tensor(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The local structure tensor (Jxx, Jxy, Jyy), each float32 HxW, of a uint8 HxW image:
    Gaussian-weighted (STRUCTURE_SIGMA) products of its gradients in grey levels per pixel."""
    image = gray.astype(np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)  # HxW, levels/px
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return tuple(cv2.GaussianBlur(p, (0, 0), STRUCTURE_SIGMA) for p in (gx * gx, gx * gy, gy * gy))


def structure_confidence(gray: np.ndarray) -> np.ndarray:
    """How far the flow of a uint8 HxW image can carry a stylized output: float32 HxW, 0..1.

    Optical flow is only determined where the image has structure: in a flat region (a clear
    sky, a wall) any vector fits, yet every reliability test passes, since the pixels it
    compares all look alike, and an output carried along whatever DIS returned there is
    dragged into streaks that grow frame after frame. Along a lone gradient the flow is free
    in the other direction, and the streaks run that way. The confidence is the larger of
    lambda_1 / (lambda_1 + STRUCTURE_LEVEL^2) and lambda_2 / (lambda_2 + CORNER_LEVEL^2),
    lambda_1 >= lambda_2 the eigenvalues of the structure tensor (squared grey levels per
    pixel): near 0 on flat regions, which then take the current frame's stylisation (steady
    there, since the input is), near 1 on edges and texture, and on faint texture that has
    gradients in every direction.
    """
    largest, smallest = structure_eigenvalues(gray)
    return np.maximum(largest / (largest + STRUCTURE_LEVEL ** 2),
                      smallest / (smallest + CORNER_LEVEL ** 2))


def structure_eigenvalues(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The structure tensor's eigenvalues (larger, smaller), each float32 HxW, of a uint8 HxW
    image: the squared gradient, in grey levels per pixel, in the steepest direction and
    across it."""
    jxx, jxy, jyy = structure_tensor(gray)
    mean = (jxx + jyy) / 2  # HxW
    spread = np.sqrt(((jxx - jyy) / 2) ** 2 + jxy * jxy)
    return mean + spread, np.maximum(mean - spread, 0.0)


def stillness(flow: np.ndarray) -> np.ndarray:
    """How still each pixel of a float32 HxWx2 flow is: float32 HxW, 1 where it does not move,
    falling linearly to 0 at STILL_FLOW pixels and beyond, smoothed over the structure
    tensor's window. In a flat region DIS's flow is arbitrary but, under a still camera,
    small: the region is then better carried by no motion at all than by DIS's."""
    speed = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)  # HxW, px
    still = np.clip(1.0 - speed / STILL_FLOW, 0.0, 1.0)
    return cv2.GaussianBlur(still, (0, 0), STRUCTURE_SIGMA)


def fill_specks(mask: np.ndarray) -> np.ndarray:
    """Binary float32 HxW mask with its failing specks (single pixels, 2-pixel lines) set to
    1: occlusions and moving edges fail in regions, while a lone failing pixel among passing
    ones is film grain or noise in the flow, and eroding around it (``soften_mask``) would
    leave a 3x3 hole of flicker in a steady picture."""
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8),
                            borderType=cv2.BORDER_REPLICATE)


def soften_mask(mask: np.ndarray) -> np.ndarray:
    """Binary float32 HxW mask -> soft mask: the 0 region grown by SOFT_RADIUS, then blurred
    with a kernel of that radius, so every 0 stays exactly 0 and the edges ramp smoothly."""
    size = 2 * SOFT_RADIUS + 1
    mask = cv2.erode(mask, np.ones((size, size), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(mask, (size, size), 0, borderType=cv2.BORDER_REPLICATE)


def hard_cut(prev_gray: np.ndarray, gray: np.ndarray,
             threshold: float = DEFAULT_HIST_THRESHOLD) -> bool:
    """Whether two uint8 gray frames are either side of a scene cut, by their histograms: the
    stabiliser's first cut test and the warping error's. It needs no past beyond the previous
    frame, so a film's cuts can be found in parallel and a chunk begun at one matches a
    single run exactly."""
    return _hist_distance(prev_gray, gray) > threshold


def _hist_distance(gray_a: np.ndarray, gray_b: np.ndarray) -> float:
    """Bhattacharyya distance (0 = same, 1 = disjoint) of two 64-bin gray histograms."""
    hists = [cv2.calcHist([g], [0], None, [64], [0, 256]) for g in (gray_a, gray_b)]  # 64x1
    return cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA)
