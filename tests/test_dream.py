"""DeepDream on VGG16: what the dream must do, checked on a real photo at small sizes."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import tensorflow as tf
from conftest import media

from dreamreel import weights
from dreamreel.errors import SettingsError
from dreamreel.pipelines.dream import DreamEffect, Dreamer, DreamSettings, dream, zoom_frame
from dreamreel.pipelines.vgg16 import LAYERS, VGG16Features

FAST = {"steps": 4, "octaves": 2, "jitter": 8}  # small dreams: the test file stays under 90 s


def photo(name: str, width: int, height: int) -> np.ndarray:
    """A real photo from ../shared/media/content as [1, height, width, 3] RGB 0..1."""
    path = media(f"content/{name}")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return (image.astype(np.float32) / 255.0)[np.newaxis]


@pytest.fixture(scope="module")
def vgg() -> VGG16Features:
    return VGG16Features(weights.load("vgg16"))


def mean_activation(features: VGG16Features, images: np.ndarray, layer: str) -> float:
    return float(tf.reduce_mean(features(tf.constant(images), [layer])[layer]))


def test_dream_amplifies_the_target_layer(vgg: VGG16Features) -> None:
    cat = photo("chelsea_cat.png", 240, 160)
    settings = DreamSettings(layers={"block4_conv3": 1.0}, steps=10, octaves=3, jitter=16)
    out = dream(cat, vgg, settings, seed=0)
    before, after = (mean_activation(vgg, x, "block4_conv3") for x in (cat, out))
    assert after >= 3 * before, (before, after)
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_a_shallow_layer_mix_stops_the_network_early_with_the_same_gradient(vgg: VGG16Features) -> None:
    """Live shows compile deep layers at weight 0; a step for block3_conv3 alone then runs
    the network only up to block3_conv3 and still gives the full network's gradient."""
    image = tf.constant(photo("chelsea_cat.png", 128, 96))
    dreamer = Dreamer(vgg, DreamSettings(layers={"block3_conv3": 1.0, "block5_conv1": 0.0}))
    shallow, both = np.array([1.0, 0.0], np.float32), np.array([1.0, 0.5], np.float32)
    assert (dreamer.depth(shallow), dreamer.depth(both)) == (1, 2)
    early = dreamer.gradient(image, tf.constant(shallow), depth=1).numpy()
    full = dreamer.gradient(image, tf.constant(shallow)).numpy()
    np.testing.assert_allclose(early, full, atol=1e-6 * np.abs(full).max())
    assert np.abs(dreamer.gradient(image, tf.constant(both)).numpy() - full).max() > 0.01 * np.abs(full).max()
    for mix in (shallow, both):
        dreamer.step(image, np.zeros(2, np.int32), mix)
    assert len(dreamer._steps) == 2  # one graph per depth


def test_tiles_leave_no_seam(vgg: VGG16Features) -> None:
    """Tiled and untiled gradients of block3_conv3 on a 256x192 photo (tiles of 128x96).

    A pixel's gradient depends on activations within half a receptive field (RF, 40 px for
    block3_conv3), and those on pixels within another half: only pixels within one RF of an
    inner tile edge can see a tile's edge at all. Elsewhere both gradients are the same float32
    sums (tile edges lie on the pooling grid), so they agree to rounding: 1e-4 of the largest
    value, room for oneDNN choosing other kernels for other sizes (measured: exactly equal).
    Near a seam the tiles overlap by half an RF, so only activations whose own field reaches
    past the overlap see padding, and they feed a seam pixel's gradient weakly: measured
    relative L2 error 0.011 over the whole image and 0.032 of the peak at worst; allowed 0.03
    and 0.1. (Without the overlap these were 0.34 and 0.73: a seam you could see.)
    """
    image = tf.constant(photo("chelsea_cat.png", 256, 192))
    layers = {"block3_conv3": 1.0}
    tiled = Dreamer(vgg, DreamSettings(layers=layers, tile_size=128)).gradient(image)
    whole = Dreamer(vgg, DreamSettings(layers=layers, tile_size=0)).gradient(image)
    tiled, whole = tiled.numpy()[0], whole.numpy()[0]  # [192, 256, 3]
    rf = 40
    rows = np.abs(np.arange(192) - 96) >= rf
    cols = np.abs(np.arange(256) - 128) >= rf
    away = rows[:, None] & cols[None, :]
    scale = np.abs(whole).max()
    np.testing.assert_allclose(tiled[away], whole[away], rtol=0, atol=1e-4 * scale)
    relative = np.linalg.norm(tiled - whole) / np.linalg.norm(whole)
    assert relative < 0.03, relative
    assert np.abs(tiled - whole).max() < 0.1 * scale


def test_output_has_the_input_size_even_when_odd(vgg: VGG16Features) -> None:
    cat = photo("chelsea_cat.png", 321, 241)
    settings = DreamSettings(layers={"block3_conv3": 1.0}, tile_size=128, **FAST)
    out = dream(cat, vgg, settings, seed=1)
    assert out.shape == cat.shape and out.dtype == np.float32
    assert np.abs(out - cat).mean() > 0.01


def test_fixed_seed_repeats_bit_for_bit(vgg: VGG16Features) -> None:
    cat = photo("chelsea_cat.png", 160, 112)
    settings = DreamSettings(layers={"block3_conv3": 1.0}, **FAST)
    first, again = (dream(cat, vgg, settings, seed=7) for _ in range(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, dream(cat, vgg, settings, seed=8))


def test_init_starts_from_another_image(vgg: VGG16Features) -> None:
    cat = photo("chelsea_cat.png", 160, 112)
    settings = DreamSettings(layers={"block3_conv3": 1.0}, **FAST)
    plain = dream(cat, vgg, settings, seed=2)
    assert np.array_equal(dream(cat, vgg, settings, seed=2, init=cat), plain)
    flipped = dream(cat, vgg, settings, seed=2, init=cat[:, :, ::-1])
    assert np.abs(flipped - plain).mean() > 0.05


def best_match_similarity(features: VGG16Features, images: np.ndarray, guide: np.ndarray) -> float:
    """Mean over the image's block4_conv3 feature vectors of the best cosine to a guide vector."""
    vectors = [
        features(tf.constant(x), ["block4_conv3"])["block4_conv3"].numpy().reshape(-1, 512)
        for x in (images, guide[np.newaxis])
    ]
    unit = [v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-6) for v in vectors]
    return float((unit[0] @ unit[1].T).max(axis=1).mean())


def test_guided_dream_moves_features_toward_the_guide(vgg: VGG16Features) -> None:
    """The guided objective rises, and the image's features come to resemble the guide's
    (best-match cosine measured 0.56 -> 0.64), more than an unguided dream's do (0.57)."""
    cat = photo("chelsea_cat.png", 192, 128)
    guide = photo("coffee.png", 128, 96)[0]
    settings = DreamSettings(layers={"block4_conv3": 1.0}, guide=guide, tv_weight=1.0, **FAST)
    dreamer = Dreamer(vgg, settings)
    guided = dreamer.run(cat, np.random.default_rng(0))
    before, after = (float(dreamer.objective(tf.constant(x))[0]) for x in (cat, guided))
    assert after > 2 * before, (before, after)
    unguided = dream(cat, vgg, DreamSettings(layers={"block4_conv3": 1.0}, **FAST), seed=0)
    similarity = {name: best_match_similarity(vgg, x, guide)
                  for name, x in (("source", cat), ("guided", guided), ("unguided", unguided))}
    assert similarity["guided"] > max(similarity["source"], similarity["unguided"]) + 0.03, similarity


def test_bfloat16_gradient_follows_float32(vgg: VGG16Features) -> None:
    image = tf.constant(photo("chelsea_cat.png", 128, 96))
    half = VGG16Features(weights.load("vgg16"), tf.bfloat16)
    settings = DreamSettings(layers={"block4_conv3": 1.0}, tile_size=0)
    g32 = Dreamer(vgg, settings).gradient(image).numpy().ravel()
    g16 = Dreamer(half, settings).gradient(image).numpy().ravel()
    assert np.corrcoef(g32, g16)[0, 1] > 0.9


def test_unknown_layer_lists_the_valid_ones(vgg: VGG16Features) -> None:
    with pytest.raises(SettingsError, match="block5_conv3") as err:
        Dreamer(vgg, DreamSettings(layers={"mixed4": 1.0}))
    assert all(name in str(err.value) for name in LAYERS)
    with pytest.raises(SettingsError, match="channels 0..255"):
        Dreamer(vgg, DreamSettings(layers={"block3_conv3:256": 1.0}))


@pytest.mark.parametrize(
    "bad",
    [
        {"objective": "max"},
        {"step_size": -0.1},
        {"octave_scale": 0.7},
        {"steps": 0},
        {"tile_size": 10},
        {"layers": {}},
        {"layers": {"block4_conv3": 0.0}},
        {"layers": {"block4_conv3:x": 1.0}},
        {"layers": {"block4_conv3:3": 1.0}, "guide": np.zeros((32, 32, 3), np.float32)},
    ],
)
def test_nonsense_settings_are_refused(bad: dict) -> None:
    with pytest.raises(SettingsError):
        DreamSettings(**bad)


def test_effect_and_zoom_keep_shape_and_dtype(vgg: VGG16Features) -> None:
    frames = (photo("chelsea_cat.png", 96, 64) * 255).round().astype(np.uint8)
    effect = DreamEffect(vgg, DreamSettings(layers={"block3_conv3": 1.0}, **FAST), seed=0)
    out = effect.process(frames, init=frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    zoomed = zoom_frame(out[0], 1.05, 2.0)
    assert zoomed.shape == out[0].shape and zoomed.dtype == np.uint8
    assert np.array_equal(zoom_frame(out[0], 1.0, 0.0), out[0])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_user_network_dreams_with_no_code_change(isolated_home: Path, served) -> None:
    """A tiny two-block Keras-style net, saved like the VGG16 file, registered by URL."""
    root, base = served
    rng = np.random.default_rng(0)
    path = root / "tiny.weights.h5"
    with h5py.File(path, "w") as f:
        for block, convs in (("block1", [(3, 8), (8, 8)]), ("block2", [(8, 16)])):
            for k, (cin, cout) in enumerate(convs):
                group = f"{block}/layers/conv2d{'' if k == 0 else f'_{k}'}/vars"
                f[f"{group}/0"] = rng.normal(0, (2 / (9 * cin)) ** 0.5, (3, 3, cin, cout))
                f[f"{group}/1"] = np.full(cout, 0.1)
    data = path.read_bytes()
    isolated_home.mkdir(parents=True)
    (isolated_home / "manifest.toml").write_text(
        f'[networks.tiny]\npurpose = "test"\nsource = "url"\nurl = "{base}/tiny.weights.h5"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\nsize = {len(data)}\n'
        'converter = "keras_h5"\nlicense = "MIT"\nattribution = "test"\n'
    )
    tiny = VGG16Features(weights.load("tiny"))
    assert tiny.layers == ("block1_conv1", "block1_conv2", "block2_conv1")
    assert tiny.stride("block2_conv1") == 2
    cat = photo("chelsea_cat.png", 96, 64)
    settings = DreamSettings(layers={"block2_conv1": 1.0}, **FAST)
    out = dream(cat, tiny, settings, seed=0)
    assert out.shape == cat.shape
    before, after = (mean_activation(tiny, x, "block2_conv1") for x in (cat, out))
    assert after > before
