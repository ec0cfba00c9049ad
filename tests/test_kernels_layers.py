"""The `kernels` and `layers` pipelines (the course's convolution and representation lessons),
and `dreamreel run --montage`.

Kernels are checked against OpenCV's filter2D and a NumPy Gabor on a real photo; a layer's
mosaic against VGG16's own activations; the CLI runs keep a clip's frames, times and sound,
refuse a bad setting in one line, and tile a folder of photos into one picture.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import media
from run_helpers import dreamreel, mean_abs_diff, probe, read_rgb, run_ok

from dreamreel.engine import stages
from dreamreel.pipelines import settings
from dreamreel.pipelines.kernels import bank
from dreamreel.pipelines.kernels.pipeline import (
    GABOR_SCALE,
    SOBEL_SCALE,
    KernelEffect,
    KernelOptions,
)
from dreamreel.pipelines.layers.picture import VIRIDIS
from dreamreel.pipelines.registry import get


def _photo(size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """coffee.png shrunk to `size` (h, w), float32 RGB 0..1."""
    image = read_rgb(media("content/coffee.png"))
    return cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _kernels(image: np.ndarray, **values) -> np.ndarray:
    """The kernels effect on one float RGB image, with these settings."""
    options = settings.build(KernelOptions, values)
    effect = KernelEffect(options)
    controls = {k: tf.constant(v) for k, v in effect.controls().items()}
    return effect(tf.constant(image[None]), controls).numpy()[0]


def test_kernels_agree_with_opencv_on_a_photo() -> None:
    photo = _photo()
    g = cv2.getGaussianKernel(15, 3.0).astype(np.float32)
    assert np.abs(_kernels(photo, kernel="blur", sigma=3.0) - cv2.filter2D(photo, -1, g @ g.T)
                  ).max() < 1e-4
    icon = cv2.resize(photo, (9, 6))  # narrower than the kernel: mirrored more than once
    assert np.abs(_kernels(icon, kernel="blur", sigma=3.0) - cv2.filter2D(icon, -1, g @ g.T)
                  ).max() < 1e-4
    assert np.abs(_kernels(photo, kernel="emboss") - np.clip(cv2.filter2D(photo, -1, bank.EMBOSS),
                                                             0, 1)).max() < 1e-4
    sobel = SOBEL_SCALE * np.hypot(cv2.Sobel(photo, -1, 1, 0), cv2.Sobel(photo, -1, 0, 1))
    assert np.abs(_kernels(photo, kernel="sobel") - np.clip(sobel, 0, 1)).max() < 1e-4
    laplacian = cv2.Laplacian(photo, -1)
    assert np.abs(_kernels(photo, kernel="sharpen") - np.clip(photo - laplacian, 0, 1)).max() < 1e-4
    # Gabor: a Gaussian times a sine wave across the orientation, as the lesson builds it
    theta, wavelength, sigma = math.radians(30), 6.0, 2.5
    y, x = np.mgrid[-5:6, -5:6].astype(np.float32)
    gabor = np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.sin(
        2 * np.pi * (x * math.cos(theta) + y * math.sin(theta)) / wavelength)
    gabor /= np.abs(gabor).sum()
    ours = _kernels(photo, kernel="gabor", kernel_size=11, sigma=sigma, wavelength=wavelength,
                    orientation=30.0, gain=2.0)
    expected = np.clip(2.0 * GABOR_SCALE * np.abs(cv2.filter2D(photo, -1, gabor)), 0, 1)
    assert np.abs(ours - expected).max() < 1e-4
    assert expected.mean() > 0.02  # the comparison is of a real response, not of black


def test_gabor_bank_follows_the_orientation_of_a_photos_edges() -> None:
    """Smearing a photo along y leaves only vertical edges: a Gabor across x (0 degrees)
    answers them and one across y (90) hardly does; the transposed photo answers the other
    way round, and the bank of orientations answers both."""
    photo = cv2.blur(_photo((128, 128)), (1, 31))  # a 31-pixel vertical smear
    inner = np.s_[20:-20, 20:-20]  # away from where the smear meets the border
    energy = {(name, angle): _kernels(image, kernel="gabor", orientation=angle)[inner].mean()
              for name, image in (("vertical", photo), ("horizontal", photo.transpose(1, 0, 2)))
              for angle in (0.0, 90.0)}
    assert energy["vertical", 0.0] > 3 * energy["vertical", 90.0]  # an unselective filter: 1
    assert energy["horizontal", 90.0] > 3 * energy["horizontal", 0.0]
    for image in (photo, photo.transpose(1, 0, 2)):
        bank_energy = _kernels(image, kernel="gabor_bank", orientations=4)[inner].mean()
        assert bank_energy >= 0.95 * max(v for (n, _), v in energy.items())


@pytest.fixture(scope="module")
def layers_effect():
    """The layers effect built as a live show builds it (every live layer compiled)."""
    options = settings.build(get("layers").settings, {"tiles": 1})
    return get("layers").build(options, stages.context(live=True, offline=True)), options


def test_layers_mosaic_keeps_the_frame_size_and_shows_the_chosen_channel(layers_effect) -> None:
    effect, options = layers_effect
    photo = _photo((96, 128))

    def shown(**values) -> np.ndarray:
        controls = effect.controls(settings.replace(options, **values))
        return effect(tf.constant(photo[None]), {k: tf.constant(v) for k, v in
                                                  controls.items()}).numpy()[0]

    acts = effect.features(tf.constant(photo[None]), ["block2_conv2"])["block2_conv2"].numpy()[0]
    maps = acts / (acts.max(axis=(0, 1)) + 1e-6)
    busiest = np.argsort(maps.std(axis=(0, 1)))[::-1][:2]
    for channel, other in (busiest, busiest[::-1]):
        picture = shown(vgg_layer="block2_conv2", channel=int(channel))
        assert picture.shape == photo.shape
        # back from viridis to the value each pixel shows, and that against the activations
        values = np.argmin(((picture[:, :, None] - VIRIDIS[None, None]) ** 2).sum(-1), -1) / 255.0
        seen = [np.corrcoef(values.ravel(), cv2.resize(
            np.pad(maps[..., c], ((0, 1), (0, 1))), (128, 96), interpolation=cv2.INTER_NEAREST
        ).ravel())[0, 1] for c in (channel, other)]
        assert seen[0] > 0.85 and seen[1] < seen[0] - 0.2, seen
    deep = shown(vgg_layer="block4_conv3", channel=int(busiest[0]))
    assert mean_abs_diff(255 * deep, 255 * shown(vgg_layer="block2_conv2",
                                                 channel=int(busiest[0]))) > 10
    overlay = shown(vgg_layer="block2_conv2", view="overlay")
    assert overlay.shape == photo.shape and 0.05 < overlay.mean() < 0.95
    with pytest.raises(ValueError, match="not compiled for this show"):
        effect.controls(settings.replace(options, vgg_layer="block3_conv1"))


def test_a_clip_through_kernels_and_layers_keeps_frames_times_and_sound(tmp_path: Path) -> None:
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")
    out = tmp_path / "out.mp4"
    run_ok(clip, "-o", out, "--pipeline", "kernels@0.7,layers", "--kernel", "sobel",
           "--vgg-layer", "block2_conv2", "--duration", 1, "--size", 64)
    source, result = probe(clip), probe(out, frames=True)
    expected = [t for t in source["times"] if t - source["times"][0] < 1.0 - 1e-9]
    assert result["size"] == source["size"] == (1280, 720)
    assert result["count"] == len(expected) == 24
    assert result["times"] == pytest.approx([t - expected[0] for t in expected], abs=1e-6)
    assert result["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(1.0, abs=0.05)
    assert result["images"].std(axis=(1, 2)).mean() > 10  # a picture, not a flat colour


def test_bad_settings_exit_2_in_one_line(tmp_path: Path) -> None:
    photo = media("content/coffee.png")
    for args, expect in ((("--pipeline", "kernels", "--kernel-size", 4), "must be odd"),
                         (("--pipeline", "kernels", "--montage"), "a montage is one picture"),
                         (("--pipeline", "layers", "--tiles", 9), "tiles 9 is not within 1..8")):
        result = dreamreel("run", photo, "-o", tmp_path / "out.mp4", *args, "--offline")
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [result.stderr.strip()]
        assert expect in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_montage_tiles_a_folder_of_photos(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(("coffee.png", "chelsea_cat.png", "astronaut.png", "coffee.png",
                              "chelsea_cat.png")):
        image = cv2.imread(str(media(f"content/{name}")))[: 180 + 20 * i, : 240 + 20 * i]
        cv2.imwrite(str(folder / f"{i}.png"), cv2.resize(image, (120, 90)))
    sheet_path, alone = tmp_path / "sheet.png", tmp_path / "alone.png"
    run_ok(folder, "-o", sheet_path, "--montage", "--pipeline", "kernels", "--kernel", "emboss")
    run_ok(folder / "2.png", "-o", alone, "--pipeline", "kernels", "--kernel", "emboss")
    sheet = read_rgb(sheet_path)
    assert sheet.shape == (2 * 90 + 2, 3 * 120 + 4, 3)  # 3 columns, 2 rows, 2-pixel gaps
    assert mean_abs_diff(sheet[:90, 244:364], read_rgb(alone)) < 1  # tile 3 is photo 2
    assert sheet[92:, 244:].max() == 0  # the sixth place is empty
