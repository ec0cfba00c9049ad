"""DeepDream from the command line: stills, zoom videos and feedback mode on a clip."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from conftest import cli, media

SMALL = ["--steps", "1", "--octaves", "2", "--offline", "-y"]


dreamreel = cli


def test_feedback_dream_keeps_frames_and_delays(tmp_path: Path) -> None:
    gif, out = media("film/chaplin_3s.gif"), tmp_path / "dream.gif"
    result = dreamreel("run", str(gif), "-o", str(out), "--pipeline", "dream", "--duration", "0.3",
                       "--size", "120", "--step-size", "0.02", *SMALL)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as c, av.open(str(gif)) as s:
        frames, source = list(c.decode(video=0)), list(s.decode(video=0))[: 4]
    assert [f.duration for f in frames] == [f.duration for f in source]
    assert (frames[0].width, frames[0].height) == (320, 232)
    out_rgb, in_rgb = (f.to_ndarray(format="rgb24").astype(np.float32) for f in (frames[2], source[2]))
    assert np.abs(out_rgb - in_rgb).mean() > 3  # it dreamed
    # ...at the working size (120 px high), its hallucination added to the full-size frame:
    # the film's own fine grain is still there, not blurred by an enlargement nor painted over.
    def fine(image: np.ndarray) -> np.ndarray:
        gray = image.mean(axis=2)
        return (gray - cv2.GaussianBlur(gray, (0, 0), 1.0)).ravel()

    assert np.corrcoef(fine(out_rgb), fine(in_rgb))[0, 1] > 0.8
    added = (out_rgb - in_rgb).mean(axis=2)
    fine_share = (added - cv2.GaussianBlur(added, (0, 0), 1.5)).std() / added.std()
    assert fine_share < 0.65, fine_share  # measured 0.53 at 120 px (GIF dither), 0.80 dreamed at 232


def test_dream_still_and_zoom_video(tmp_path: Path) -> None:
    photo = media("content/chelsea_cat.png")
    still = dreamreel("dream", str(photo), "-o", str(tmp_path / "d.png"), "--size", "96", *SMALL)
    assert still.returncode == 0, still.stderr
    dreamed = cv2.imread(str(tmp_path / "d.png"))
    assert dreamed.shape == (300, 451, 3)  # dreamed at 96 px, the photo keeps its size
    assert np.abs(dreamed.astype(np.float32) - cv2.imread(str(photo))).mean() > 1  # measured 2.0
    zoom = dreamreel("dream", str(photo), "-o", str(tmp_path / "z.mp4"), "--size", "64", "--frames", "5",
                     "--zoom", "1.05", "--fps", "10", *SMALL)
    assert zoom.returncode == 0, zoom.stderr
    with av.open(str(tmp_path / "z.mp4")) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 5 and [round(float(f.time), 3) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_unknown_layer_lists_the_valid_ones(tmp_path: Path) -> None:
    photo = media("content/chelsea_cat.png")
    result = dreamreel("dream", str(photo), "-o", str(tmp_path / "d.png"), "--layer", "mixed4", *SMALL)
    assert result.returncode == 2 and "block4_conv3" in result.stderr
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())
