"""Film mode from the command line: size and timing kept, and an interrupted job resumes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from conftest import cli, media

FAST = ["--first-steps", "8", "--warm-steps", "2", "--duration", "0.35", "--size", "120", "--offline", "-y"]


def film(*args: str):
    return cli("run", "--pipeline", "gatys", *args)


def decode(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.duration for f in frames]


@pytest.fixture(scope="module")
def inputs() -> tuple[Path, Path]:
    return media("film/chaplin_3s.gif"), media("styles/vangogh_starry_night.jpg")


def test_film_keeps_size_and_gif_delays_and_resumes_from_its_checkpoint(inputs, tmp_path: Path) -> None:
    gif, painting = inputs
    out, ck = tmp_path / "out.gif", tmp_path / "ck"
    first = film(str(gif), "-o", str(out), "--style-image", str(painting), "--checkpoint", str(ck), *FAST)
    assert first.returncode == 0, first.stderr
    frames, delays = decode(out)
    source, source_delays = decode(gif)
    assert len(frames) == 5 and frames[0].shape == (232, 320, 3)
    assert delays == source_delays[:5]
    assert np.abs(frames[2].astype(float) - source[2]).mean() > 10  # it is painted
    assert first.stderr.count("gatys: frame") == 5

    (ck / "frame_000004.png").unlink()  # as if stopped before the last frame
    again = film(str(gif), "-o", str(out), "--style-image", str(painting), "--checkpoint", str(ck), *FAST)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("gatys: frame") == 1  # only the missing frame was optimised
    resumed, _ = decode(out)
    assert all(np.abs(a.astype(int) - b).max() <= 2 for a, b in zip(frames, resumed, strict=True))

    other = film(str(gif), "-o", str(out), "--style-image", str(painting), "--checkpoint", str(ck),
                 *FAST, "--style-weight", "3")
    assert other.returncode == 2 and "another input or other settings" in other.stderr


def test_film_needs_a_painting(inputs, tmp_path: Path) -> None:
    gif, _ = inputs
    result = film(str(gif), "-o", str(tmp_path / "x.gif"), *FAST)
    assert result.returncode == 2 and "--style-image" in result.stderr
    assert not list(tmp_path.iterdir())
