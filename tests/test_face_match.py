"""The `ganface` pipeline: OpenCV's Haar cascade finds the face, the DCGAN latent is optimised
to match it, and the GAN's face is pasted back; everything else in the frame is kept."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import FAST, dreamreel, probe, read_rgb, run_ok

from dreamreel import weights
from dreamreel.pipelines.gan.dcgan import DCGANGenerator
from dreamreel.pipelines.gan.face_detect import FaceTracker, HaarCascade
from dreamreel.pipelines.gan.face_match import LatentMatcher
from dreamreel.pipelines.gan.ganface import crop
from dreamreel.pipelines.gan.latent import keyframes

# The astronaut's nose tip, measured by eye on content/astronaut.png (512x512).
NOSE = (222, 122)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return read_rgb(media("content/astronaut.png"))


def test_the_cascade_finds_the_astronauts_face_and_none_in_the_coffee(astronaut) -> None:
    cascade = HaarCascade(weights.load("haar_frontalface"))
    face = FaceTracker(cascade, smallest=48)(astronaut)
    assert face is not None
    assert face.x < NOSE[0] < face.x + face.side and face.y < NOSE[1] < face.y + face.side
    assert 70 < face.side < 160, face  # a face, not the whole portrait
    assert FaceTracker(cascade, smallest=48)(read_rgb(media("content/coffee.png"))) is None


def test_a_show_searches_for_a_lost_face_in_the_background_and_finds_the_same_face() -> None:
    """A live show's tracker hands the full-frame search to a thread: the frame that starts it
    passes at once, and the face it finds, followed into later frames, is where the tracker
    that searches in the frame itself puts it."""
    cascade = HaarCascade(weights.load("haar_frontalface"))
    with av.open(str(media("film/chaplin_silent.mp4"))) as clip:
        frames = [cv2.resize(f.to_ndarray(format="rgb24")[:, 80:560], (320, 240),
                             interpolation=cv2.INTER_AREA)
                  for _, f in zip(range(120), clip.decode(video=0), strict=False)]
    in_frame, show = FaceTracker(cascade), FaceTracker(cascade, background=True)
    start = time.perf_counter()
    assert in_frame(frames[0]) is not None  # Chaplin faces the camera from the first frame
    searched = time.perf_counter() - start
    start = time.perf_counter()
    assert show(frames[0]) is None  # the search has only begun
    assert time.perf_counter() - start < searched / 2
    boxes = []
    for frame in frames[1:]:
        boxes.append((in_frame(frame), show(frame)))
        time.sleep(1 / 30)  # a camera's pace
    # once the background search has delivered (how soon depends on the machine's speed), the
    # show follows the face in most frames where the in-frame tracker sees it
    found = next(i for i, (_, b) in enumerate(boxes) if b is not None)
    seen = [(a, b) for a, b in boxes[found:] if a is not None]
    both = [(a, b) for a, b in seen if b is not None]
    assert found < len(boxes) / 2 and len(both) > len(seen) / 2, (found, len(both), len(seen))
    assert np.median([np.hypot(*np.subtract(a.centre, b.centre)) for a, b in both]) < 3


def test_the_optimised_latent_matches_the_face_better_than_its_start_and_chance(astronaut) -> None:
    matcher = LatentMatcher(DCGANGenerator(weights.load("dcgan_faces")), steps=6)
    target = crop(astronaut, 165, 52, 120)  # the face, a little larger than the box
    start, other = keyframes(0, 1)[0], keyframes(7, 1)[0]
    z, face = matcher(start, target, 0.08, 0.01)
    before, after = matcher.loss(start, target), matcher.loss(z, target)
    assert after < 0.7 * before, (before, after)
    assert after < matcher.loss(other, target)
    assert face.shape == (64, 64, 3)
    assert np.abs(face - matcher.generator(z[None]).numpy()[0]).max() < 1e-4  # z's own face


def test_a_still_changes_only_around_the_face_and_a_faceless_one_not_at_all(tmp_path: Path,
                                                                           astronaut) -> None:
    out = tmp_path / "face.png"
    run_ok(media("content/astronaut.png"), "-o", out, "--pipeline", "ganface",
           "--smallest-face", 48)
    changed = np.abs(read_rgb(out).astype(int) - astronaut).max(axis=-1) > 0
    ys, xs = np.nonzero(changed)
    assert changed.mean() > 0.01
    assert xs.min() <= NOSE[0] <= xs.max() and ys.min() <= NOSE[1] <= ys.max()
    assert xs.max() - xs.min() < 200 and ys.max() - ys.min() < 200  # only the face's square
    coffee = media("content/coffee.png")
    # (looking for faces under 48 px too, the cascade takes a shadow in the cup for one)
    run_ok(coffee, "-o", tmp_path / "coffee.png", "--pipeline", "ganface", "--smallest-face", 48)
    assert np.array_equal(read_rgb(tmp_path / "coffee.png"), read_rgb(coffee))


def _clip_with_sound(path: Path, pictures: list[np.ndarray], fps: int = 10) -> None:
    """An H.264 + AAC clip of these pictures, one frame each, with a tone under them."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "8"})
        video.height, video.width = pictures[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="mono")
        for picture in pictures:
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode())
        samples = np.sin(np.arange(44100 * len(pictures) // fps) * 2 * np.pi * 440 / 44100)
        tone = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="fltp",
                                          layout="mono")
        tone.sample_rate, tone.pts, tone.time_base = 44100, 0, Fraction(1, 44100)
        out.mux(audio.encode(tone))
        out.mux(audio.encode())


def test_a_clip_keeps_frames_timestamps_and_sound_and_a_faceless_shot(tmp_path: Path,
                                                                      astronaut) -> None:
    face = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(read_rgb(media("content/coffee.png")), (256, 256))
    clip, out = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    _clip_with_sound(clip, [face] * 4 + [coffee] * 3)
    run_ok(clip, "-o", out, "--pipeline", "ganface", "--crf", 8, "--smallest-face", 32)
    source, result = probe(clip, frames=True), probe(out, frames=True)
    assert result["count"] == source["count"] == 7
    assert result["times"] == pytest.approx(source["times"], abs=1e-6)
    assert result["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=0.05)
    before, after = source["images"], result["images"]
    nose = (NOSE[1] // 2, NOSE[0] // 2)
    for i in range(4):  # the face redrawn, the rest as it was (up to the encoder's rounding)
        diff = np.abs(after[i].astype(int) - before[i]).mean(axis=-1)
        assert diff[nose[0] - 10:nose[0] + 10, nose[1] - 10:nose[1] + 10].mean() > 8
        assert diff[:, :60].mean() < 1.5 and diff[200:].mean() < 1.5
    for i in range(4, 7):  # no face: passed through, no patch anywhere beyond the encoder's noise
        diff = np.abs(after[i].astype(np.float32) - before[i]).mean(axis=-1)
        assert cv2.blur(diff, (15, 15)).max() < 4, cv2.blur(diff, (15, 15)).max()


@pytest.mark.parametrize("setting, message", [
    (("--face-steps", 0), "face_steps 0 is not within 1..50"),
    (("--face-grow", 0.5), "face_grow 0.5 is not within 1..3"),
])
def test_bad_settings_exit_2_with_one_line(tmp_path: Path, setting, message) -> None:
    result = dreamreel("run", media("content/astronaut.png"), "-o", tmp_path / "out.png",
                       "--pipeline", "ganface", *setting, *FAST)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out.png").exists()
