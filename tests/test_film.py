"""Film mode (Gatys et al. 2016, temporally coherent after Ruder et al. 2016): checked on a real
photo and painting at small sizes and few steps, so the file stays under 90 s on 2 cores."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import media

from dreamreel import weights
from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import Guide, compute_dtype
from dreamreel.pipelines.film import (
    FilmSettings,
    FilmStylizer,
    Gatys,
    StyleTarget,
    preserve_color,
)
from dreamreel.pipelines.gram import STYLE_LAYERS, gram, style_distance
from dreamreel.pipelines.vgg16 import VGG16Features

SIZE = (96, 72)  # width, height of the test photo


def image(relative: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A real picture from ../shared/media as float32 HxWx3 RGB 0..1, or skip the test."""
    path = media(relative)
    picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    if size is not None:
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return picture.astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def vgg() -> VGG16Features:
    return VGG16Features(weights.load("vgg16"), compute_dtype(FilmSettings().precision))


@pytest.fixture(scope="module")
def style(vgg: VGG16Features) -> StyleTarget:
    return StyleTarget(vgg, [image("styles/vangogh_starry_night.jpg")])


@pytest.fixture(scope="module")
def gatys(vgg: VGG16Features, style: StyleTarget) -> Gatys:
    """One compiled optimiser shared by the tests that use the default settings."""
    return Gatys(vgg, style, FilmSettings())


def cat() -> np.ndarray:
    return image("content/chelsea_cat.png", SIZE)


def test_loss_falls_steadily_and_far(gatys: Gatys) -> None:
    content = cat()
    losses: list[float] = []
    gatys.optimise(content, content, 1.0, 40, on_step=lambda step, loss: losses.append(loss))
    rises = sum(b > a * 1.01 for a, b in zip(losses, losses[1:], strict=False))
    assert rises <= 4, losses
    assert losses[-1] < losses[0] / 5, losses


def test_output_takes_the_paintings_gram_matrices(
        vgg: VGG16Features, style: StyleTarget, gatys: Gatys) -> None:
    content = cat()
    result, _ = gatys.optimise(content, content, 1.0, 40)
    height, width = content.shape[:2]
    target = style.grams(height, width)

    def distance(picture: np.ndarray) -> float:
        acts = vgg(tf.constant(picture[np.newaxis]), STYLE_LAYERS)
        return float(style_distance({k: gram(a) for k, a in acts.items()}, target)[0])

    assert distance(result) < 0.2 * distance(content)


def test_coarse_to_fine_reaches_a_comparable_loss(
        vgg: VGG16Features, style: StyleTarget) -> None:
    content = image("content/chelsea_cat.png", (128, 96))
    direct = FilmStylizer(vgg, style, FilmSettings(steps=40, coarse_to_fine=None))
    direct.first_frame(content)
    staged = FilmStylizer(vgg, style, FilmSettings(steps=40, steps_warm=10, coarse_to_fine=0.5))
    staged.first_frame(content)
    assert direct.last is not None and staged.last is not None
    assert staged.last.total < 1.5 * direct.last.total, (staged.last, direct.last)


def test_warm_start_needs_far_fewer_steps(vgg: VGG16Features, style: StyleTarget) -> None:
    """Frame 2 is frame 1 shifted by 2 px: from the warped result it reaches frame 1's loss
    in a fraction of the steps a cold start takes (temporal loss off, so losses compare)."""
    settings = FilmSettings(steps=40, steps_warm=40, coarse_to_fine=None, temporal_weight=0.0)
    content = cat()
    shifted = np.roll(content, 2, axis=1)
    first = FilmStylizer(vgg, style, settings)
    out1 = first.process(np.rint(content * 255).astype(np.uint8))
    assert first.last is not None
    goal = first.last.total

    def steps_to_goal(stylizer: FilmStylizer, guide: Guide | None) -> int:
        losses: list[float] = []
        stylizer.on_step = lambda frame, step, loss: losses.append(loss)
        stylizer.process(np.rint(shifted * 255).astype(np.uint8), guide)
        return next((i + 1 for i, loss in enumerate(losses) if loss <= goal), len(losses) + 1)

    mask = np.ones(content.shape[:2], np.float32)
    mask[:, :2] = 0.0  # the columns rolled in from the other side are disoccluded
    warped = np.roll(out1.astype(np.float32), 2, axis=1)
    guide = Guide(warped, warped, mask, np.zeros((*content.shape[:2], 2), np.float32), is_cut=False)
    warm = steps_to_goal(first, guide)
    cold = steps_to_goal(FilmStylizer(vgg, style, settings), None)
    assert warm * 4 <= cold, (warm, cold)


def test_temporal_loss_holds_reliable_pixels(vgg: VGG16Features, style: StyleTarget) -> None:
    """Started from a noisy "warped previous result", the default temporal weight keeps the
    reliable (left) half near it, where the optimisation without it wanders off."""
    content = cat()
    rng = np.random.default_rng(0)
    warped = np.clip(content + rng.normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    mask = np.zeros(content.shape[:2], np.float32)
    mask[:, : SIZE[0] // 2] = 1.0  # left half reliable
    deviation = {}
    for weight in (0.0, FilmSettings().temporal_weight):
        g = Gatys(vgg, style, FilmSettings(temporal_weight=weight))
        result, _ = g.optimise(warped, content, 1.0, 15, warped, mask)
        deviation[weight] = np.abs(result - warped).mean(axis=2)  # HxW
    free, held = deviation.values()
    reliable = mask > 0
    assert held[reliable].mean() < 0.6 * free[reliable].mean()
    assert held[reliable].mean() < 0.6 * held[~reliable].mean()


def test_odd_sizes_keep_their_shape(vgg: VGG16Features, style: StyleTarget) -> None:
    frame = np.rint(image("content/chelsea_cat.png", (117, 95)) * 255).astype(np.uint8)
    stylizer = FilmStylizer(vgg, style, FilmSettings(steps=2, steps_warm=1))
    first = stylizer.process(frame)
    guide = Guide(first.astype(np.float32), first.astype(np.float32), np.ones((95, 117), np.float32),
                  np.zeros((95, 117, 2), np.float32), is_cut=False)
    second = stylizer.process(frame, guide)
    assert first.shape == second.shape == (95, 117, 3)
    assert first.dtype == second.dtype == np.uint8


def test_preserve_color_keeps_the_contents_chroma() -> None:
    rng = np.random.default_rng(1)
    result, content = (rng.uniform(0.4, 0.6, (8, 8, 3)).astype(np.float32) for _ in range(2))
    kept = cv2.cvtColor(preserve_color(result, content), cv2.COLOR_RGB2YUV)
    np.testing.assert_allclose(kept[..., 0], cv2.cvtColor(result, cv2.COLOR_RGB2YUV)[..., 0],
                               atol=0.02)
    np.testing.assert_allclose(kept[..., 1:], cv2.cvtColor(content, cv2.COLOR_RGB2YUV)[..., 1:],
                               atol=0.02)


@pytest.mark.parametrize("bad", [
    {"optimizer": "sgd"},
    {"steps": 0},
    {"steps_warm": 0},
    {"style_weight": -1.0},
    {"tv_weight": float("nan")},
    {"learning_rate": 0.0},
    {"coarse_to_fine": 1.5},
    {"style_scale": 0.0},
    {"precision": "float16"},
    {"style_layers": ()},
])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(SettingsError):
        FilmSettings(**bad)


def test_unknown_layer_and_precision_mismatch_are_refused(
        vgg: VGG16Features, style: StyleTarget) -> None:
    with pytest.raises(SettingsError):
        Gatys(vgg, style, FilmSettings(content_layer="block9_conv9"))
    with pytest.raises(SettingsError):
        Gatys(vgg, style, FilmSettings(precision="bfloat16"))
