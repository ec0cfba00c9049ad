"""`dreamreel generate`: latent paths (pure NumPy) and the rendered clips, grids and stills."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import av
import cv2
import numpy as np
import pytest

from dreamreel.engine.commands import generate as generate_cmd
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines.gan import latent
from dreamreel.pipelines.gan.dcgan import DCGANGenerator
from dreamreel.weights import load

MEAN, STD = latent.chi_moments()


# --- latent paths --------------------------------------------------------------------------


def test_latent_dim_matches_the_generator() -> None:
    from dreamreel.pipelines.gan.dcgan import LATENT_DIM

    assert latent.LATENT_DIM == LATENT_DIM
    assert MEAN == pytest.approx(9.975, abs=1e-3) and STD == pytest.approx(0.706, abs=1e-3)


def test_keyframes_repeat_and_are_prefix_stable() -> None:
    keys = latent.keyframes(7, 5)
    assert keys.shape == (5, 100) and keys.dtype == np.float32
    np.testing.assert_array_equal(keys, latent.keyframes(7, 5))
    np.testing.assert_array_equal(keys, latent.keyframes(7, 9)[:5])
    assert not np.array_equal(keys, latent.keyframes(8, 5))


@pytest.mark.parametrize(("fps", "bpm", "beats_per_key"), [(30, 120, 1), (24, 100, 1), (25, 140, 2)])
def test_keyframes_land_on_the_beat(fps: float, bpm: float, beats_per_key: int) -> None:
    seconds = 4.0
    walk = latent.beat_walk(3, seconds, fps, bpm, beats_per_key)
    assert walk.shape == (round(seconds * fps), 100) and walk.dtype == np.float32
    keys = latent.keyframes(3, 20)
    frame_of_key = [round(k * beats_per_key * 60 / bpm * fps) for k in range(20)]
    landed = [k for k, f in enumerate(frame_of_key) if f < len(walk)]
    assert len(landed) >= 4
    for k in landed:
        assert frame_of_key[k] == latent.beat_frame(k, fps, bpm, beats_per_key)
        np.testing.assert_array_equal(walk[frame_of_key[k]], keys[k])
    # Between keyframes the walk is elsewhere: no frame but the beat's shows a keyframe.
    between = [f for f in range(len(walk)) if f not in frame_of_key]
    assert not any(np.array_equal(walk[f], keys[k]) for f in between for k in landed)


def test_motion_pulses_on_the_beat() -> None:
    """The ease-out moves fastest just after a beat and arrives at the next keyframe slowly."""
    walk = latent.beat_walk(5, 3.0, 30, 120)  # 15 frames per beat
    steps = np.linalg.norm(np.diff(walk.astype(np.float64), axis=0), axis=1)
    for beat in (15, 30, 45, 60):
        assert steps[beat] > 4 * steps[beat - 1]  # leaving the beat vs arriving at it
        assert steps[beat] == steps[beat : beat + 15].max()


def test_slerp_stays_on_the_shell_while_lerp_sags() -> None:
    keys = latent.keyframes(11, 40).astype(np.float64)
    a, b = keys[0::2], keys[1::2]
    t = np.linspace(0.0, 1.0, 11)
    slerped = latent.slerp(a[:, np.newaxis], b[:, np.newaxis], t)  # [20, 11, 100]
    lerped = a[:, np.newaxis] + t[:, np.newaxis] * (b - a)[:, np.newaxis]
    slerp_norms = np.linalg.norm(slerped, axis=-1)
    lerp_mid = np.linalg.norm(lerped[:, 5], axis=-1)
    assert np.all(np.abs(slerp_norms - MEAN) < 4 * STD)
    # halfway, lerp's norms fall to about 10 / sqrt(2): far below the shell, all of them
    assert np.all(lerp_mid < MEAN - 2.5 * STD)
    assert lerp_mid.mean() == pytest.approx(MEAN / np.sqrt(2), rel=0.1)
    # slerp between equal norms keeps that norm exactly
    c = b * (np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))[:, np.newaxis]
    equal = np.linalg.norm(latent.slerp(a[:, np.newaxis], c[:, np.newaxis], t), axis=-1)
    np.testing.assert_allclose(equal, np.linalg.norm(a, axis=1)[:, np.newaxis] * np.ones(11), rtol=1e-12)


def test_slerp_ends_and_parallel_fallback() -> None:
    a, b = latent.keyframes(1, 2)
    np.testing.assert_array_equal(latent.slerp(a, b, 0.0), a)
    np.testing.assert_array_equal(latent.slerp(a, b, 1.0), b)
    np.testing.assert_allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)


def test_far_latents_are_clamped_and_reported() -> None:
    z = latent.keyframes(2, 6)
    z[1] *= 3.0  # far outside the shell
    z[4] *= 0.3  # deep inside it, where no sample lies
    fixed, clamped = latent.check_latents(z)
    assert clamped == 2
    np.testing.assert_allclose(np.linalg.norm(fixed[[1, 4]], axis=1), MEAN, rtol=1e-5)
    for i in (1, 4):  # the direction, the face "type", is kept
        cosine = fixed[i] @ z[i] / (np.linalg.norm(fixed[i]) * np.linalg.norm(z[i]))
        assert cosine == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(fixed[[0, 2, 3, 5]], z[[0, 2, 3, 5]])
    assert latent.check_latents(latent.keyframes(3, 500))[1] == 0
    with pytest.raises(ValueError, match="100"):
        latent.check_latents(np.zeros((3, 64)))


def test_live_walk_follows_the_beat_walk_then_a_new_tempo_and_seed() -> None:
    """Live, tempo and seed change mid-walk: at a constant tempo the live walk is the clip's
    walk; a new tempo changes the speed without a jump; a new seed heads for that seed's
    first face and lands on it one beat later."""
    fps, bpm = 30.0, 120.0  # a beat every 15 frames
    clip = latent.beat_walk(3, seconds=2.0, fps=fps, bpm=bpm)
    walk = latent.LiveWalk(3)
    live = [walk.advance(0.0 if i == 0 else 1 / fps, bpm) for i in range(len(clip))]
    np.testing.assert_allclose(np.stack(live), clip, atol=1e-4)

    before = walk.latent
    after = walk.advance(1 / fps, 240.0)  # twice as fast from here: no leap
    assert np.linalg.norm(after - before) < np.linalg.norm(np.diff(clip, axis=0), axis=1).max()
    walk.advance(0.0, 240.0, seed=8)
    steps = [walk.advance(1 / fps, 240.0) for _ in range(8)]  # 240 bpm: a beat is 7.5 frames
    first_face = latent.keyframes(8, 1)[0]
    distances = [float(np.linalg.norm(z - first_face)) for z in steps]
    assert distances[:7] == sorted(distances[:7], reverse=True)  # closing in on the new face
    assert distances[6] < 0.05 * distances[0], distances
    assert walk.seed == 8


def test_grid_corners_and_morph_ends() -> None:
    corners = latent.keyframes(4, 4)
    tiles = latent.grid(4, 3, 5)
    assert tiles.shape == (15, 100)
    for tile, corner in zip((0, 4, 10, 14), corners, strict=True):
        np.testing.assert_array_equal(tiles[tile], corner)
    assert np.all(np.abs(np.linalg.norm(tiles, axis=1) - MEAN) < 4 * STD)
    moving = latent.grid_walk(4, 1.0, 10, 120, 3, 5)
    assert moving.shape == (10, 15, 100)
    np.testing.assert_array_equal(moving[0], tiles)
    path = latent.morph(1, 2, 9)
    np.testing.assert_array_equal(path[0], latent.keyframes(1, 1)[0])
    np.testing.assert_array_equal(path[-1], latent.keyframes(2, 1)[0])


# --- rendering -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> DCGANGenerator:
    return DCGANGenerator(load("dcgan_faces"))


def generate(tmp_path: Path, *argv: str) -> Path:
    """Run `dreamreel generate ARGV` in-process; return the output path."""
    parser = argparse.ArgumentParser(prog="dreamreel")
    generate_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["generate", "--quiet", *argv])
    args.output = tmp_path / args.output
    assert args.handler(args) == 0
    return args.output


def decode(path: Path) -> tuple[list[np.ndarray], list[Fraction]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.pts * f.time_base for f in frames]


def read_png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_renderer_repeats_bit_for_bit(generator: DCGANGenerator) -> None:
    z = latent.beat_walk(7, 1.0, 10, 120)
    runs = [np.stack(list(generate_cmd.FaceRenderer(generator, 4, 96)(z))) for _ in range(2)]
    assert runs[0].shape == (10, 96, 96, 3) and runs[0].dtype == np.uint8
    np.testing.assert_array_equal(runs[0], runs[1])


def test_clip_has_the_frames_timestamps_and_size(
    generator: DCGANGenerator, tmp_path: Path
) -> None:
    args = ("--seconds", "1.5", "--fps", "12", "--bpm", "120", "--seed", "7", "--size", "96",
            "--batch", "8", "--preset", "ultrafast")
    first = generate(tmp_path, *args, "-o", "a.mp4")
    images, times = decode(first)
    assert len(images) == 18
    assert times == [Fraction(i, 12) for i in range(18)]
    assert images[0].shape == (96, 96, 3)  # upscaled from the generator's 64x64
    again, _ = decode(generate(tmp_path, *args, "-o", "b.mp4"))
    np.testing.assert_array_equal(np.stack(images), np.stack(again))
    assert not np.array_equal(images[0], images[6])  # the walk moves


def test_grid_montage_tiles(generator: DCGANGenerator, tmp_path: Path) -> None:
    sheet = read_png(generate(tmp_path, "--grid", "2x3", "--size", "48", "--seed", "5", "-o", "g.png"))
    assert sheet.shape == (2 * 48, 3 * 48, 3)
    tiles = [sheet[r * 48 : (r + 1) * 48, c * 48 : (c + 1) * 48] for r in range(2) for c in range(3)]
    assert len({tile.tobytes() for tile in tiles}) == 6
    face = read_png(generate(tmp_path, "--size", "48", "--seed", "5", "-o", "face.png"))
    np.testing.assert_array_equal(tiles[0], face)  # the top-left corner is the seed's own face


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="clip"):
        generate(tmp_path, "--interpolate", "1", "2", "-o", "x.png")
    with pytest.raises(UsageError, match="too fast"):
        generate(tmp_path, "--bpm", "240", "--fps", "2", "-o", "x.mp4")
    with pytest.raises(SettingsError, match="tempo 2000 is not within 20..300"):
        generate(tmp_path, "--bpm", "2000", "--fps", "24", "-o", "x.mp4")
    with pytest.raises(SystemExit):
        generate(tmp_path, "--grid", "4by4", "-o", "x.png")


def test_a_taken_output_is_refused_before_any_network_is_fetched(tmp_path: Path) -> None:
    """A first `generate` on a fresh machine onto a name that exists says so in one line, exit
    2, without fetching the DCGAN first, and leaves the file as it was."""
    taken = tmp_path / "faces.mp4"
    taken.write_bytes(b"an earlier clip")
    home = tmp_path / "home"
    result = subprocess.run([sys.executable, "-m", "dreamreel.engine.cli", "generate", "-o", taken],
                            capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "DREAMREEL_HOME": str(home)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"dreamreel: error: {taken}: already exists; use -y (--overwrite) to replace it"]
    assert not home.exists()  # nothing was fetched
    assert taken.read_bytes() == b"an earlier clip"
