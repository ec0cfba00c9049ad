"""`dreamreel run` keeps what a user checks with ffprobe: the input's frames, size, timestamps,
GIF delays and sound, through trims and frame-rate resampling; and what `--json` and `-y` do.

Every test runs the real command (in this process, see conftest.cli) on real media; sinks and
sources on their own are in test_media_io.py. Working sizes are mostly small (`--size 96`) and every
run encodes with `--preset ultrafast`.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import mean_abs_diff, probe, read_rgb, run_ok


def make_vfr_clip(path: Path, times_ms: list[int], width: int = 641, height: int = 481) -> None:
    """An odd-sized variable-frame-rate H.264 clip with exact millisecond timestamps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", options={"preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        rng = np.random.default_rng(0)
        base = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (width, height))
        for i, ms in enumerate(times_ms):
            image = np.roll(base, 17 * i, axis=1)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# --------------------------------------------------------------------------------------------
# outputs keep the input's frames, size, timing and sound


def test_gif_with_a_painting_keeps_frames_and_delays_and_takes_its_colours(tmp_path: Path) -> None:
    gif = media("film/chaplin_3s.gif")
    painting = media("styles/kandinsky_composition_vii.jpg")
    out = tmp_path / "chaplin_kandinsky.gif"
    run_ok(gif, "-o", out, "--style-image", painting)
    source, result = probe(gif, frames=True), probe(out, frames=True)
    assert result["count"] == source["count"] == 36
    assert result["size"] == (320, 232)
    assert result["pts"] == source["pts"]
    assert result["durations"] == source["durations"]  # each GIF delay, the last one included
    before, after = source["images"], result["images"]
    assert mean_abs_diff(before, after) > 10
    # the b/w film takes the painting's palette: its mean colour moves toward the painting's
    target = read_rgb(painting).reshape(-1, 3).mean(0)
    distance_before = np.linalg.norm(before.reshape(-1, 3).mean(0) - target)
    distance_after = np.linalg.norm(after.reshape(-1, 3).mean(0) - target)
    assert distance_after < 0.7 * distance_before


def test_mp4_with_aac_keeps_size_frames_timestamps_and_sound(tmp_path: Path) -> None:
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")
    out = tmp_path / "bbb.mp4"
    run_ok(clip, "-o", out, "--size", 96, "--temporal", 0)
    source, result = probe(clip), probe(out)
    assert result["size"] == source["size"] == (1280, 720)
    assert result["count"] == source["count"] == 120
    assert result["times"] == pytest.approx(source["times"], abs=1e-6)
    assert result["audio_codec"] == source["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=1 / 24)


def test_yuv444_with_mp3_trimmed_keeps_size_timestamps_and_asked_chroma(tmp_path: Path) -> None:
    clip = media("color/cockatoo.mp4")
    out = tmp_path / "cockatoo.mp4"
    run_ok(clip, "-o", out, "--duration", 1, "--size", 96,  # default temporal smoothing on
           "--chroma", 444)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
    source, result = probe(clip), probe(out)
    assert result["size"] == source["size"] == (1280, 720)
    first = source["times"][0]
    expected = [t - first for t in source["times"] if t - first < 1.0 - 1e-9]
    assert len(expected) == 20
    assert result["times"] == pytest.approx(expected, abs=1e-6)
    assert result["audio_codec"] == "mp3"
    assert result["audio_seconds"] == pytest.approx(1.0, abs=0.1)


def test_odd_size_variable_frame_rate_keeps_every_timestamp(tmp_path: Path) -> None:
    times_ms = [0, 40, 70, 150, 160, 300, 310, 500, 533, 700, 701, 1000]
    clip = tmp_path / "vfr.mp4"
    make_vfr_clip(clip, times_ms)
    out = tmp_path / "vfr_styled.mp4"
    run_ok(clip, "-o", out, "--size", 96)
    result = probe(out, frames=True)
    assert result["size"] == (641, 481)
    assert result["times"] == pytest.approx([t / 1000 for t in times_ms], abs=1e-3)
    assert mean_abs_diff(result["images"], probe(clip, frames=True)["images"]) > 10


def test_fps_resamples_to_the_requested_rate(tmp_path: Path) -> None:
    gif = media("film/chaplin_3s.gif")  # 12 fps (delays 8/9 cs), 36 frames, 3 s
    out = tmp_path / "ten.gif"
    run_ok(gif, "-o", out, "--fps", 10, "--size", 96)
    source, result = probe(gif), probe(out)
    length = source["times"][-1] + source["durations"][-1] / 100  # 3.01 s (centisecond delays)
    assert length == pytest.approx(3.0, abs=0.02)
    # A 3 s clip at 10 fps is 30 frames; the output lasts as long as the input, within half
    # an output frame (not a whole extra frame for the last 0.01 s of the source).
    assert result["count"] == round(length * 10) == 30
    assert result["times"] == pytest.approx([k / 10 for k in range(30)], abs=1e-9)
    assert result["durations"] == [10] * 30  # GIF centiseconds
    assert result["size"] == (320, 232)


# --------------------------------------------------------------------------------------------
# the summary a script reads, and -y


def test_json_summary_and_overwrite_and_strength_zero(tmp_path: Path) -> None:
    photo = media("content/coffee.png")
    out = tmp_path / "coffee.png"
    out.write_bytes(b"an older render")
    result = run_ok(photo, "-o", out, "--strength", 0, "--size", 96, "--json", "-y")
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert summary["frames"] == 1
    assert summary["output"] == str(out)
    assert isinstance(summary["fps"], int | float) and summary["fps"] > 0
    assert (summary["width"], summary["height"]) == (600, 400)
    image = read_rgb(out)  # -y replaced the old bytes with a real picture
    assert image.shape == (400, 600, 3)
    assert mean_abs_diff(image, read_rgb(photo)) < 2  # strength 0 is (nearly) the input
    assert [p.name for p in tmp_path.iterdir()] == ["coffee.png"]
