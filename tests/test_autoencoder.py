"""The `autoencoder` pipeline: a network trained on the clip's own frames redraws them.

The networks are trained for real on real frames (at a small size and few steps, seconds):
they must reconstruct the frames better than a flat image of their mean colour, a smaller
bottleneck must reconstruct worse, the run must keep what every run keeps, and a second run of
the same clip and settings must take the network from the cache instead of training again.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import dreamreel, mean_abs_diff, probe, run_ok

from dreamreel.engine import stages
from dreamreel.engine.learning import sample_frames
from dreamreel.engine.media import MediaInfo
from dreamreel.engine.sources import open_source
from dreamreel.pipelines.autoencoder.pipeline import (
    AutoencoderOptions,
    AutoencoderSequence,
    psnr,
    shrink,
)
from dreamreel.pipelines.base import Guide

SMALL = {"resolution": 32, "train_steps": 60}  # seconds of training


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory):
    """A cache of this module's own, so every network here is trained in every run (the
    autoencoder needs no downloaded network)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DREAMREEL_HOME", str(tmp_path_factory.mktemp("home")))
        yield


@pytest.fixture(scope="module")
def film() -> tuple[np.ndarray, MediaInfo]:
    """16 frames spread over the silent film, as the engine hands them to a learning effect."""
    clip = media("film/chaplin_silent.mp4")
    with open_source(clip) as source:
        info = source.info
    frames = sample_frames(clip, (180, 320), 16)
    return frames, info


def trained(frames: np.ndarray, latent: int) -> AutoencoderSequence:
    effect = AutoencoderSequence(AutoencoderOptions(latent=latent, **SMALL), stages.context())
    effect.learn(frames, lambda line: None)
    return effect


@pytest.fixture(scope="module")
def large(film) -> AutoencoderSequence:
    return trained(film[0], 48)


def test_the_engine_samples_frames_spread_over_the_whole_clip(film) -> None:
    frames, info = film
    assert info.frame_count == 241
    assert frames.shape == (16, 180, 320, 3) and frames.dtype == np.uint8
    # the first frame of the film is among them, and no two are the same
    assert np.array_equal(frames[0], sample_frames(info.path, (180, 320), duration=0.04)[0])
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)).min() > 0


def test_it_reconstructs_better_than_the_mean_and_a_small_latent_worse(film, large) -> None:
    frames = film[0]
    pictures = shrink(frames, large.net.shape)
    flat = np.broadcast_to(pictures.mean(axis=(0, 1, 2)), pictures.shape)
    good = psnr(large.reconstruct(pictures), pictures)
    assert good > psnr(flat, pictures) + 6
    small = trained(frames, 2)
    assert psnr(small.reconstruct(pictures), pictures) < good - 1  # the gist, blurrier


def test_morph_draws_keyframes_as_they_are_and_melts_between(film, large) -> None:
    frames = film[0][:5]
    steady = Guide(*(np.zeros((180, 320, c), np.float32) for c in (3, 3)),
                   np.ones((180, 320), np.float32), np.zeros((180, 320, 2), np.float32), False)
    cut = Guide(steady.warped_prev, steady.warped_source, steady.mask, steady.flow, True)
    plain = [large(f, steady, i) for i, f in enumerate(frames)]
    morph = AutoencoderSequence(AutoencoderOptions(latent=48, morph=3, **SMALL),
                                stages.context())
    said: list[str] = []
    morph.learn(film[0], said.append)  # the morph is no part of the network: from the cache
    assert len(said) == 1 and "learned before" in said[0]
    guides = [None, steady, steady, steady, cut]
    drawn = [morph(f, g, i) for i, (f, g) in enumerate(zip(frames, guides, strict=True))]
    for i in (0, 3, 4):  # every 3rd frame, and a cut, is a keyframe: drawn from its own code
        assert np.array_equal(drawn[i], plain[i])
    for i in (1, 2):  # between: on the way from keyframe 0 toward the frame itself
        assert mean_abs_diff(drawn[i], plain[i]) > 0.5
        assert mean_abs_diff(drawn[i], plain[0]) < mean_abs_diff(plain[i], plain[0])


def test_a_video_run_keeps_frames_timestamps_and_sound_and_trains_once(tmp_path: Path) -> None:
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")
    args = ("--pipeline", "autoencoder", "--duration", 0.5, "--size", 64, "--resolution", 16,
            "--train-steps", 10, "--latent", 16)
    first = run_ok(clip, "-o", tmp_path / "first.mp4", *args)
    assert "autoencoder: step 10/10" in first.stderr
    source, result = probe(clip), probe(tmp_path / "first.mp4", frames=True)
    assert result["size"] == source["size"] == (1280, 720)
    expected = [t for t in source["times"] if t - source["times"][0] < 0.5 - 1e-9]
    assert result["count"] == len(expected) == 12
    assert result["times"] == pytest.approx([t - expected[0] for t in expected], abs=1e-6)
    assert result["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(0.5, abs=0.1)
    images = result["images"]
    assert 20 < images.mean() < 235 and images.std() > 10  # a picture, not a flat colour

    second = run_ok(clip, "-o", tmp_path / "second.mp4", *args)
    assert "step" not in second.stderr and "learned before" in second.stderr
    assert mean_abs_diff(probe(tmp_path / "second.mp4", frames=True)["images"], images) < 1


@pytest.mark.parametrize("setting, message", [
    (("--resolution", 40), "resolution 40 is not a multiple of 16"),
    (("--latent", 0), "latent 0 is not within 1..4096"),
])
def test_bad_settings_exit_2_with_one_line(tmp_path: Path, setting, message) -> None:
    result = dreamreel("run", media("content/coffee.png"), "-o", tmp_path / "out.png",
                       "--pipeline", "autoencoder", *setting, "--offline")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_live_show_draws_the_camera_through_a_network_learned_from_a_clip(
        tmp_path: Path) -> None:
    """`live --pipeline autoencoder --learn-from CLIP`: the network learns the clip before the
    show, then redraws every camera frame through its bottleneck: the camera's picture, far
    softer. Without a clip to learn from, the show is refused in one line."""
    film = media("film/chaplin_silent.mp4")
    refused = dreamreel("live", "--source", film, "--no-preview", "--duration", 1,
                        "--pipeline", "autoencoder", "--offline")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--learn-from CLIP" in refused.stderr
    record = tmp_path / "show.mp4"
    result = dreamreel("live", "--source", film, "--no-preview", "--duration", 3, "--size", 120,
                       "--pipeline", "autoencoder", "--learn-from", film, "--record", record,
                       "--resolution", 32, "--train-steps", 60, "--offline")
    assert result.returncode == 0, result.stderr
    assert "autoencoder: learning" in result.stderr
    shown, camera = probe(record, frames=True)["images"], probe(film, frames=True)["images"]
    assert len(shown) >= 10 and shown[0].shape == camera[0].shape

    def sharpness(frame: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())

    assert np.median([sharpness(f) for f in shown]) < 0.3 * np.median(
        [sharpness(f) for f in camera[:90]])
    likeness = [max(psnr(f / 255.0, c / 255.0) for c in camera[:100:2]) for f in shown[::10]]
    assert min(likeness) > 15, likeness
