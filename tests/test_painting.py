"""The `painting` pipeline and `dreamreel paint`: a coordinate network fitted to each picture.

A fit must converge on the photo (more steps, a closer picture), a video run must keep the
clip's frames, timestamps and sound, the warm start must be steadier than fitting each frame
afresh on real film, and bad settings are refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import FAST, dreamreel, mean_abs_diff, probe, read_rgb, run_ok

from dreamreel.engine.consistency import warping_error
from dreamreel.engine.temporal import Stabiliser
from dreamreel.pipelines import registry, settings
from dreamreel.pipelines.painting.pipeline import PaintingOptions
from dreamreel.pipelines.registry import Context


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / error))


def test_paint_video_frames_approach_the_photo(tmp_path: Path) -> None:
    photo = media("content/chelsea_cat.png")  # 451x300
    out = tmp_path / "learning.mp4"
    result = dreamreel("paint", photo, "-o", out, "--size", 48, "--frames", 5, "--steps", 40,
                       "--width", 32, *FAST)
    assert result.returncode == 0, result.stderr
    video = probe(out, frames=True)
    assert video["count"] == 5
    assert video["size"] == (72, 48)
    assert video["times"] == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16])
    small = cv2.resize(read_rgb(photo), (72, 48), interpolation=cv2.INTER_AREA)
    scores = [psnr(image, small) for image in video["images"]]
    assert scores[0] < scores[-1] - 8  # frame 0: the untrained network's noise
    assert scores[-1] > scores[1] + 2  # every 40 steps the picture comes closer
    assert scores[-1] > 21


def test_a_still_converges_with_more_steps(tmp_path: Path) -> None:
    photo = media("content/coffee.png")  # 600x400
    scores = []
    for steps in (15, 150):
        out = tmp_path / f"steps{steps}.png"
        run_ok(photo, "-o", out, "--pipeline", "painting", "--size", 48, "--fresh-steps", steps,
               "--width", 32)
        painted = read_rgb(out)
        assert painted.shape == (400, 600, 3)  # painted at 72x48, enlarged to the photo's size
        scores.append(psnr(painted, read_rgb(photo)))
    assert scores[1] > scores[0] + 3
    assert scores[1] > 17


def test_video_run_keeps_frames_timestamps_and_sound(tmp_path: Path) -> None:
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")
    out = tmp_path / "painted.mp4"
    run_ok(clip, "-o", out, "--pipeline", "painting", "--size", 32, "--duration", 1,
           "--fresh-steps", 60, "--steps", 4, "--width", 16)
    source, result = probe(clip, frames=True), probe(out, frames=True)
    first = source["times"][0]
    expected = [t - first for t in source["times"] if t - first < 1.0 - 1e-9]
    assert len(expected) == 24
    assert result["size"] == source["size"] == (1280, 720)
    assert result["times"] == pytest.approx(expected, abs=1e-6)
    assert result["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(1.0, abs=0.1)
    # each frame a blurred likeness of its own source frame: painted, not passed through
    differences = [mean_abs_diff(a, b)
                   for a, b in zip(result["images"], source["images"][:24], strict=True)]
    assert 2 < min(differences) and max(differences) < 45


def test_a_clip_painted_by_one_network_at_four_times_its_rate(tmp_path: Path) -> None:
    """`paint CLIP --fps 4x`: one f(x, y, t) fitted to the whole clip paints four frames for
    each of the clip's, at its size, over its time, with its sound. Frame 4i is the network's
    picture of source frame i (closer to it than to the clip's other frames), and the frames
    between lie between their neighbours, not repeats of them."""
    film = media("film/chaplin_3s.gif")  # 36 frames, 320x232, Chaplin walking
    out = tmp_path / "film.mp4"
    result = dreamreel("paint", film, "-o", out, "--fps", "4x", "--size", 64, "--steps", 40)
    assert result.returncode == 0, result.stderr
    source, painted = probe(film, frames=True), probe(out, frames=True)
    with av.open(str(film)) as container:
        last = list(container.decode(video=0))[-1]
        seconds = float((last.pts + last.duration) * last.time_base)  # by the GIF's delays
    assert painted["size"] == source["size"] == (320, 232)
    assert painted["times"] == pytest.approx([k / 50 for k in range(round(50 * seconds))],
                                             abs=1e-3)
    frames, shown = source["images"], painted["images"]
    at = [round(t * 50) for t in source["times"]]  # the painted frame shown as frame i starts
    own = [psnr(shown[k], frames[i]) for i, k in enumerate(at)]
    other = [psnr(shown[k], frames[(i + 18) % 36]) for i, k in enumerate(at)]
    assert np.mean(own) > np.mean(other) + 1.0, (np.mean(own), np.mean(other))
    between = [mean_abs_diff(shown[k + 2], (shown[k].astype(np.float32) + shown[k + 4]) / 2)
               for k in at[:-1]]
    apart = [mean_abs_diff(shown[k], shown[k + 4]) for k in at[:-1]]
    steps = [mean_abs_diff(shown[k + 2], shown[k]) for k in at[:-1]]
    assert np.median(between) < np.median(apart) and np.median(steps) > 0.05 * np.median(apart)
    # the sound and the trim: half a second of a clip with AAC
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")
    out = tmp_path / "sound.mp4"
    result = dreamreel("paint", clip, "-o", out, "--fps", "2x", "--duration", 0.5, "--size",
                       32, "--steps", 4, "--width", 16, "--quiet")
    assert result.returncode == 0, result.stderr
    painted = probe(out)
    assert painted["size"] == (1280, 720) and painted["count"] == 24
    assert painted["audio_codec"] == "aac"
    assert painted["audio_seconds"] == pytest.approx(0.5, abs=0.1)


def film_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The first `count` frames of the silent film, side bars cropped, shrunk to `size`."""
    with av.open(str(media("film/chaplin_silent.mp4"))) as container:
        frames = []
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")[:, 72:568]  # the picture, 496x360
            frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                return frames
    raise AssertionError("the film is shorter than expected")


def painted(frames: list[np.ndarray], **values: object) -> list[np.ndarray]:
    """The frames through the painting effect, each with its guide, as `run` feeds it."""
    options = settings.build(PaintingOptions, values)
    effect = registry.get("painting").build(options, Context(load=dict))
    stabiliser = Stabiliser(weight=0.0)
    out = []
    for index, frame in enumerate(frames):
        guide = stabiliser.guide(frame)
        out.append(effect(frame, guide, index))
        stabiliser.commit(frame, out[-1])
    return out


def test_warm_start_is_steadier_than_fitting_each_frame_afresh() -> None:
    """Against fresh fits as close to the film (60 steps each; measured 0.0040 against 0.0082,
    27.9 and 27.8 dB), so the warm start cannot pass as steadier by painting less."""
    frames = film_frames(6, (69, 50))
    warm = painted(frames, fresh_steps=120, steps=12, width=32, detail=6.0)
    fresh = painted(frames, per_frame=True, fresh_steps=60, width=32, detail=6.0)
    warm_error, _ = warping_error(frames, warm)
    fresh_error, _ = warping_error(frames, fresh)
    assert warm_error < 0.65 * fresh_error
    closeness = [np.mean([psnr(o, f) for o, f in zip(out, frames, strict=True)])
                 for out in (warm, fresh)]
    assert closeness[0] > closeness[1] - 1.0


def test_a_frame_renders_the_same_every_time() -> None:
    frames = film_frames(3, (46, 34))
    first = painted(frames, fresh_steps=20, steps=5, width=16)
    again = painted(frames, fresh_steps=20, steps=5, width=16)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("args, expected", [
    (("run", "content/coffee.png", "--pipeline", "painting", "--detail", "-1"),
     "detail -1 is not within 0..64"),
    (("run", "content/coffee.png", "--pipeline", "painting", "--steps", "0"),
     "steps 0 is not within 1..100000"),
    (("paint", "content/coffee.png", "--per-frame"), "--per-frame is for video runs"),
    (("paint", "content/coffee.png", "--frames", "0"), "--frames must be at least 1"),
    (("paint", "content/coffee.png", "--fps", "4x"), "--fps 4x is a multiple of a clip's rate"),
])
def test_bad_settings_exit_2_in_one_line(tmp_path: Path, args: tuple[str, ...],
                                         expected: str) -> None:
    out = tmp_path / "out.mp4"
    command, photo, *rest = args
    result = dreamreel(command, media(photo), "-o", out, *rest, "--offline")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("dreamreel: error: ") and expected in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, rate", [("paint", "1/0"), ("paint", "0x"),
                                           ("generate", "1/0")])
def test_a_frame_rate_of_nothing_is_refused_in_one_line(tmp_path: Path, command: str,
                                                        rate: str) -> None:
    clip = (media("film/chaplin_3s.gif"),) if command == "paint" else ()
    result = dreamreel(command, *clip, "-o", tmp_path / "out.mp4", "--fps", rate, "--offline")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "invalid frame rate" in result.stderr and f"value: '{rate}'" in result.stderr
    assert list(tmp_path.iterdir()) == []
