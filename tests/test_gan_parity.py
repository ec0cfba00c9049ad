"""The TensorFlow GAN generators against a literal NumPy rendering of PyTorch's definitions.

Differences are measured in the networks' own tanh range -1..1 (the TF generators return 0..1,
so their output is mapped back with ``2 * y - 1`` first); the tolerance is 1e-3 there.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from conftest import media

from dreamreel.pipelines.gan import cyclegan as cyclegan_module
from dreamreel.pipelines.gan.cyclegan import STRIDE, ResnetGenerator
from dreamreel.pipelines.gan.dcgan import LATENT_DIM, DCGANGenerator
from dreamreel.weights import load

_spec = importlib.util.spec_from_file_location(
    "reference_numpy", Path(__file__).with_name("reference_numpy.py")
)
assert _spec is not None and _spec.loader is not None
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

TOL = 1e-3  # max abs difference, in -1..1


@pytest.fixture(scope="module")
def dcgan_arrays() -> dict[str, np.ndarray]:
    return load("dcgan_faces")


@pytest.fixture(scope="module")
def cyclegan_arrays() -> dict[str, np.ndarray]:
    return load("cyclegan_vintage")


@pytest.fixture(scope="module")
def astronaut_256() -> np.ndarray:
    """The astronaut photo, RGB float32 0..1, 256x256."""
    astronaut = media("content/astronaut.png")
    import cv2

    bgr = cv2.imread(str(astronaut), cv2.IMREAD_COLOR)
    assert bgr is not None, astronaut
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32) / 255.0


# -- the reference itself, against brute-force loops ------------------------------------------


def test_reference_primitives_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    for stride, pad in ((1, 0), (2, 1)):
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        oh, ow = (xp.shape[2] - 3) // stride + 1, (xp.shape[3] - 3) // stride + 1
        want = np.zeros((2, 4, oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, :, i * stride : i * stride + 3, j * stride : j * stride + 3]
                want[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
        np.testing.assert_allclose(ref.conv2d(x, w, b, stride, pad), want, atol=1e-12)

    wt = rng.standard_normal((3, 4, 3, 3))  # IOHW
    for stride, pad, out_pad in ((2, 1, 1), (1, 0, 0), (2, 1, 0)):
        oh = (5 - 1) * stride - 2 * pad + 3 + out_pad
        ow = (6 - 1) * stride - 2 * pad + 3 + out_pad
        want = np.zeros((2, 4, oh, ow)) + b[None, :, None, None]
        for i in range(5):
            for j in range(6):
                for ki in range(3):
                    for kj in range(3):
                        y, xx = i * stride + ki - pad, j * stride + kj - pad
                        if 0 <= y < oh and 0 <= xx < ow:
                            want[:, :, y, xx] += x[:, :, i, j] @ wt[:, :, ki, kj]
        got = ref.conv_transpose2d(x, wt, b, stride, pad, out_pad)
        np.testing.assert_allclose(got, want, atol=1e-12)

    padded = ref.reflection_pad(x, 2)
    assert padded[0, 0, 0, 2] == x[0, 0, 2, 0]  # mirror, edge not repeated
    np.testing.assert_array_equal(padded[:, :, 2:-2, 2:-2], x)
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), "reflect"))


# -- DCGAN -------------------------------------------------------------------------------------


def test_dcgan_matches_reference(dcgan_arrays: dict[str, np.ndarray]) -> None:
    z = np.random.default_rng(0).standard_normal((8, LATENT_DIM)).astype(np.float32)
    want = ref.dcgan_forward(dcgan_arrays, z[:, :, None, None]).transpose(0, 2, 3, 1)
    gen = DCGANGenerator(dcgan_arrays)
    for jit in (False, True):
        got = tf.function(gen, jit_compile=jit)(tf.constant(z)).numpy()
        assert got.shape == (8, 64, 64, 3)
        diff = float(np.abs((2.0 * got - 1.0) - want).max())  # in -1..1
        assert diff < TOL, f"jit_compile={jit}: max abs diff {diff:.2e} in -1..1"


def test_dcgan_output_varies(dcgan_arrays: dict[str, np.ndarray]) -> None:
    gen = DCGANGenerator(dcgan_arrays)
    images = []
    for seed in (0, 1, 2):
        z = np.random.default_rng(seed).standard_normal((1, LATENT_DIM)).astype(np.float32)
        images.append(gen(tf.constant(z)).numpy()[0])
    for img in images:
        assert 0.0 <= img.min() and img.max() <= 1.0
        assert img.std() > 0.05, "constant image"
    for a in range(3):
        for b in range(a + 1, 3):
            assert np.abs(images[a] - images[b]).mean() > 0.02, f"seeds {a} and {b} alike"


def test_dcgan_rejects_wrong_checkpoint(dcgan_arrays: dict[str, np.ndarray]) -> None:
    broken = dict(dcgan_arrays)
    del broken["main.4.running_var"]
    with pytest.raises(ValueError, match=r"main\.4\.running_var"):
        DCGANGenerator(broken)
    broken = dict(dcgan_arrays, **{"main.6.weight": np.zeros((256, 128, 3, 3), np.float32)})
    with pytest.raises(ValueError, match=r"main\.6\.weight"):
        DCGANGenerator(broken)


# -- CycleGAN ----------------------------------------------------------------------------------


def _nchw(images: np.ndarray) -> np.ndarray:
    return (2.0 * images - 1.0).transpose(0, 3, 1, 2)


def test_cyclegan_matches_reference_on_photo(
    cyclegan_arrays: dict[str, np.ndarray], astronaut_256: np.ndarray
) -> None:
    photo = astronaut_256[None]  # [1, 256, 256, 3]
    want = ref.cyclegan_forward(cyclegan_arrays, _nchw(photo)).transpose(0, 2, 3, 1)
    gen = ResnetGenerator(cyclegan_arrays)
    assert gen.n_blocks == 9 and gen.ngf == 64
    got = tf.function(gen, jit_compile=True)(tf.constant(photo)).numpy()
    assert got.shape == photo.shape
    diff = float(np.abs((2.0 * got - 1.0) - want).max())  # in -1..1
    assert diff < TOL, f"max abs diff {diff:.2e} in -1..1"
    grey_in, grey_out = photo[0].mean(-1).ravel(), got[0].mean(-1).ravel()
    corr = float(np.corrcoef(grey_in, grey_out)[0, 1])
    assert corr > 0.5, f"vintage output does not look like the photo (corr {corr:.2f})"


def _random_resnet(
    rng: np.random.Generator, ngf: int, n_blocks: int, affine: bool, block: str = "block"
) -> dict[str, np.ndarray]:
    """A random ResnetGenerator state dict of the junyanz layout."""
    a: dict[str, np.ndarray] = {}

    def conv(key: str, shape: tuple[int, ...], bias: int) -> None:
        fan_in = shape[1] * shape[2] * shape[3]
        a[f"{key}.weight"] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        a[f"{key}.bias"] = (0.1 * rng.standard_normal(bias)).astype(np.float32)

    def norm(key: str, c: int) -> None:
        if affine:
            a[f"{key}.weight"] = (1 + 0.2 * rng.standard_normal(c)).astype(np.float32)
            a[f"{key}.bias"] = (0.2 * rng.standard_normal(c)).astype(np.float32)

    conv("model.1", (ngf, 3, 7, 7), ngf)
    norm("model.2", ngf)
    conv("model.4", (2 * ngf, ngf, 3, 3), 2 * ngf)
    norm("model.5", 2 * ngf)
    conv("model.7", (4 * ngf, 2 * ngf, 3, 3), 4 * ngf)
    norm("model.8", 4 * ngf)
    for k in range(10, 10 + n_blocks):
        for c, n in ((1, 2), (5, 6)):
            conv(f"model.{k}.{block}.{c}", (4 * ngf, 4 * ngf, 3, 3), 4 * ngf)
            norm(f"model.{k}.{block}.{n}", 4 * ngf)
    up = 10 + n_blocks
    conv(f"model.{up}", (4 * ngf, 2 * ngf, 3, 3), 2 * ngf)  # ConvTranspose IOHW
    norm(f"model.{up + 1}", 2 * ngf)
    conv(f"model.{up + 3}", (2 * ngf, ngf, 3, 3), ngf)
    norm(f"model.{up + 4}", ngf)
    conv(f"model.{up + 7}", (3, ngf, 7, 7), 3)
    return a


def test_cyclegan_layout_is_read_from_checkpoint() -> None:
    """6 blocks, ngf 8, instance norm without affine parameters, non-square input."""
    rng = np.random.default_rng(7)
    arrays = _random_resnet(rng, ngf=8, n_blocks=6, affine=False)
    images = rng.uniform(0, 1, (2, 32, 48, 3)).astype(np.float32)
    gen = ResnetGenerator(arrays)
    assert (gen.n_blocks, gen.ngf, gen.bottleneck_channels) == (6, 8, 32)
    got = gen(tf.constant(images)).numpy()
    want = ref.cyclegan_forward(arrays, _nchw(images)).transpose(0, 2, 3, 1)
    assert float(np.abs((2.0 * got - 1.0) - want).max()) < TOL
    renamed = {k.replace(".block.", ".conv_block."): v for k, v in arrays.items()}
    np.testing.assert_array_equal(ResnetGenerator(renamed)(tf.constant(images)).numpy(), got)
    # use_dropout=True: Dropout at block.3 moves the second conv to block.6 (eval: identity)
    dropout = {
        k.replace(".block.5.", ".block.6.") if ".block.5." in k else k: v for k, v in arrays.items()
    }
    assert not any(".block.6." in k for k in arrays)  # non-affine: no norm keys to collide
    np.testing.assert_array_equal(ResnetGenerator(dropout)(tf.constant(images)).numpy(), got)


def test_cyclegan_rejects_wrong_checkpoint() -> None:
    arrays = _random_resnet(np.random.default_rng(1), ngf=4, n_blocks=2, affine=True)
    for key, value, pattern in (
        ("model.11.block.5.weight", None, r"model\.11\.block\.5\.weight"),
        ("model.7.weight", np.zeros((16, 4, 3, 3), np.float32), r"model\.7\.weight"),
        ("model.5.bias", None, r"model\.5\.bias"),
        ("model.99.weight", np.zeros(3, np.float32), r"model\.99\.weight"),
        ("model.2.running_mean", np.zeros(4, np.float32), r"model\.2\.running_mean"),
    ):
        broken = dict(arrays)
        if value is None:
            del broken[key]
        else:
            broken[key] = value
        with pytest.raises(ValueError, match=pattern):
            ResnetGenerator(broken)
    with pytest.raises(ValueError, match=f"multiples of {STRIDE}"):
        ResnetGenerator(arrays)(tf.zeros([1, 30, 32, 3]))


def test_same_padding_would_be_caught() -> None:
    """Negative control: TF's 'SAME' differs from PyTorch's padding=1 (+output_padding=1), and the
    reference sees it, while the explicit paddings in cyclegan.py agree with it."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 8, 8, 6)).astype(np.float32)  # NHWC
    x_nchw = x.transpose(0, 3, 1, 2)

    w_t = (rng.standard_normal((6, 4, 3, 3)) / 5).astype(np.float32)  # ConvTranspose IOHW
    conv_t = cyclegan_module._Conv(tf.constant(w_t.transpose(2, 3, 1, 0)), None, 4)
    want = ref.conv_transpose2d(x_nchw, w_t, None, 2, 1, 1).transpose(0, 2, 3, 1)
    got = cyclegan_module._conv_transpose_up2(tf.constant(x), conv_t).numpy()
    assert np.abs(got - want).max() < 1e-5
    same = tf.nn.conv2d_transpose(x, conv_t.kernel, [1, 16, 16, 4], 2, "SAME").numpy()
    assert np.abs(same - want).max() > 0.1

    w = (rng.standard_normal((4, 6, 3, 3)) / 5).astype(np.float32)  # Conv OIHW
    conv = cyclegan_module._Conv(tf.constant(w.transpose(2, 3, 1, 0)), None, 4)
    want = ref.conv2d(x_nchw, w, None, 2, 1).transpose(0, 2, 3, 1)
    got = cyclegan_module._conv(tf.constant(x), conv, stride=2, zero_pad=1).numpy()
    assert np.abs(got - want).max() < 1e-5
    same = tf.nn.conv2d(x, conv.kernel, 2, "SAME").numpy()
    assert np.abs(same - want).max() > 0.1
