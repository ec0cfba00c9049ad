"""An experiment: fine-tune the style network so that its strokes move with the scene.

With nearest-neighbour upsampling the 26-style network paints its strokes on its own 4-pixel
grid, so they flicker wherever the picture moves by anything but a multiple of 4 pixels;
bilinear upsampling lets them move with the content but changes the look, since the
convolutions after it were trained on 2x2 blocks (benchmarks/RESULTS.md, "The network's
grid"). Here the network with bilinear upsampling is fine-tuned, every kernel and the style's
scales and shifts, starting from the shipped weights, to paint like the shipped network
while staying steady:

* texture: VGG16 Gram matrices (block1..5) of its output against the shipped network's output
  on the same crop (Gram matrices do not care where a stroke sits, only what strokes there are);
* colour: the 4x4-pooled colours against the shipped output's;
* steadiness: Ruder et al.'s temporal term on frame pairs: consecutive frames, with the DIS
  flow between them and the occlusion mask of ``flow.reliability_mask``, and the same frame
  shifted by 1 to MAX_SHIFT whole pixels with a little noise (the exact flow: this is what
  trains the grid away).

It learns on the frames of TRAIN_CLIPS, random square crops; `benchmarks/stroke_grid.py
--fine-tune` scores it beside the other variants, on those clips and others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

TRAIN_CLIPS = ("audio/bbb_14s-19s_h264_aac.mp4", "film/chaplin_silent.mp4",
               "film/chaplin_3s.gif")
TRAIN_FRAMES = 80  # the first frames of each clip, at the working short side TRAIN_SIZE
TRAIN_SIZE = 320
CROP = 192
PAIRS, SHIFTED = 2, 2  # crops per step: consecutive frames, and a frame against itself shifted
MAX_SHIFT = 3  # px
NOISE = 1.5  # grey levels of Gaussian noise on the shifted copy
TEXTURE_WEIGHT = 1.0
TEMPORAL_WEIGHT = 300.0  # the temporal term at about the texture term's size once it has settled
# (steps, Adam's step size, colour weight): the look first, then the colours held closer
PHASES = ((400, 1e-3, 100.0), (600, 5e-4, 1000.0))

Sample = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # frame, other, flow, mask


def training_pairs(clips: tuple[str, ...] = TRAIN_CLIPS) -> list[Sample]:
    """(frame, the frame before, DIS flow frame -> before, occlusion mask) for every pair of
    consecutive frames of `clips` that is not a cut, uint8 frames at TRAIN_SIZE."""
    from smear_eval import working_frames

    from dreamreel.engine import flow

    dis = flow.create_dis("accurate")
    pairs = []
    for clip in clips:
        frames = working_frames(clip, TRAIN_FRAMES, TRAIN_SIZE)
        for frame, before in zip(frames[1:], frames[:-1], strict=True):
            gray, gray_before = flow.to_gray(frame), flow.to_gray(before)
            if flow.hard_cut(gray_before, gray):
                continue
            forward = flow.compute_flow(dis, gray, gray_before)
            backward = flow.compute_flow(dis, gray_before, gray)
            pairs.append((frame, before, forward,
                          flow.reliability_mask(forward, backward, soften=False)))
    return pairs


def shifted(frame: np.ndarray, y: int, x: int, rng: np.random.Generator) -> Sample:
    """A CROP square of `frame` at (y, x) and the square MAX_SHIFT px or less away, noisy,
    with the exact flow from the first onto the second and where both see the same pixels."""
    dx, dy = (int(v) for v in rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2))
    crop = frame[y:y + CROP, x:x + CROP]
    other = frame[y + dy:y + dy + CROP, x + dx:x + dx + CROP].astype(np.float32)
    other = np.clip(other + rng.normal(0.0, NOISE, other.shape), 0, 255)
    flow = np.empty((CROP, CROP, 2), np.float32)
    flow[..., 0], flow[..., 1] = -dx, -dy
    mask = np.zeros((CROP, CROP), np.float32)
    mask[max(dy, 0):CROP + min(dy, 0), max(dx, 0):CROP + min(dx, 0)] = 1.0
    return crop, other, flow, mask


def batches(pairs: list[Sample], rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
    """Endless batches (frames, others, flows, masks), float32 [N, CROP, CROP, C], 0..1."""
    while True:
        samples = []
        for index in range(PAIRS + SHIFTED):
            frame, before, forward, mask = pairs[rng.integers(len(pairs))]
            h, w = frame.shape[:2]
            y = int(rng.integers(MAX_SHIFT, h - CROP - MAX_SHIFT))
            x = int(rng.integers(MAX_SHIFT, w - CROP - MAX_SHIFT))
            if index < PAIRS:
                cut = np.s_[y:y + CROP, x:x + CROP]
                sample = (frame[cut], before[cut], forward[cut], mask[cut])
            else:
                sample = shifted(frame, y, x, rng)
            if rng.random() < 0.5:  # mirrored: the flow's x component changes sign
                crop, other, flow, mask = (a[:, ::-1] for a in sample)
                sample = (crop, other, flow * np.float32([-1, 1]), mask)
            samples.append(sample)
        crops, others, flows, masks = (np.stack(a) for a in zip(*samples, strict=True))
        yield (crops.astype(np.float32) / 255, others.astype(np.float32) / 255,
               flows.astype(np.float32), masks[..., None].astype(np.float32))


def fine_tune(style: int, log: Callable[[str], None] = print, seed: int = 0
              ) -> Callable[[np.ndarray], np.ndarray]:
    """Fine-tune (see the module docstring) and return a painter, uint8 HxWx3 -> uint8 HxWx3."""
    import tensorflow as tf

    from dreamreel import weights
    from dreamreel.pipelines.gram import STYLE_LAYERS, gram, style_distance
    from dreamreel.pipelines.style.learn import bilinear_warp
    from dreamreel.pipelines.style.multistyle import MultiStyleNet
    from dreamreel.pipelines.vgg16 import VGG16Features

    arrays = weights.load("multistyle26")
    shipped = MultiStyleNet(arrays)
    tuned = MultiStyleNet(arrays, upsampling="bilinear", trainable=True)
    one_hot = np.eye(tuned.num_styles, dtype=np.float32)[style][None]
    shipped_norm = shipped.mixed(one_hot)
    norm = {k: tf.Variable(v) for k, v in shipped_norm.items()}
    variables = [*tuned.trainable_variables, *norm.values()]
    vgg = VGG16Features(weights.load("vgg16"))

    def grams(images: tf.Tensor) -> dict[str, tf.Tensor]:
        acts = vgg(images, STYLE_LAYERS)
        return {k: gram(acts[k]) for k in STYLE_LAYERS}

    def step_graph(optimizer, colour_weight: float):
        @tf.function
        def step(crops, others, flows, masks):
            target = shipped.render(crops, shipped_norm)  # [N, S, S, 3]
            target_grams = grams(target)
            with tf.GradientTape() as tape:
                out = tuned.render(tf.concat([crops, others], 0), norm)
                now, other = out[:len(crops)], out[len(crops):]
                texture = tf.reduce_mean(style_distance(grams(now), target_grams))
                colour = tf.reduce_mean(tf.square(tf.nn.avg_pool2d(now - target, 4, 4, "VALID")))
                temporal = tf.reduce_mean(masks * tf.square(now - bilinear_warp(other, flows)))
                total = (TEXTURE_WEIGHT * texture / len(STYLE_LAYERS) + colour_weight * colour
                         + TEMPORAL_WEIGHT * temporal)
            optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
            return tf.stack([texture, colour, temporal])
        return step

    pairs = training_pairs()
    stream = batches(pairs, np.random.default_rng(seed))
    for steps, rate, colour_weight in PHASES:
        step = step_graph(tf.keras.optimizers.Adam(rate), colour_weight)
        terms = np.mean([step(*next(stream)).numpy() for _ in range(steps)], axis=0)
        log(f"fine-tuned {steps} steps at {rate:g}, colour weight {colour_weight:g} on "
            f"{len(pairs)} pairs: texture {terms[0]:.3g}, colour {terms[1]:.3g}, "
            f"temporal {terms[2]:.3g} (mean over the phase)")
    render = tf.function(lambda images: tuned.render(images, norm))

    def paint(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        padded = np.pad(frame, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="reflect")
        out = render(tf.constant(padded[None], tf.float32) / 255)[0].numpy()[:h, :w]
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)

    return paint
