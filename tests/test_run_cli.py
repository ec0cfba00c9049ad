"""End-to-end tests of `dreamreel run` (and `demo`, `styles`) as a user runs them.

Every test starts the real command in a subprocess and checks what a user would check with
ffprobe or an image viewer: frame count, size, timestamps, GIF delays, audio codec and length,
that the picture changed (or did not), the exit code, and that errors are one line with nothing
left behind. Media-level details (sinks and sources on their own) are in test_media_io.py.

Speed: working sizes are small (`--size 96`) and most video runs use `--temporal 0 --preset
ultrafast`, so the file runs in a few minutes on two CPU cores; the default temporal path is
exercised by the cockatoo, Ctrl-C and demo runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import audio_facts, cli, media

CLI = [sys.executable, "-m", "dreamreel.engine.cli"]
FAST = ["--offline", "--preset", "ultrafast"]  # every run: no downloads, quick encoding
NETWORKS = ("multistyle26", "magenta_predict", "magenta_transform", "cyclegan_vintage")


# --------------------------------------------------------------------------------------------
# helpers


def user_env() -> dict[str, str]:
    """The environment of a user's shell: without the test suite's TF log setting, which would
    let TensorFlow's start-up chatter through (the CLI hides it only when the user did not
    choose a level)."""
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


dreamreel = cli  # in this process; Ctrl-C and the installed command get processes of their own


def run_ok(*args: object):
    """`dreamreel run ...` that must succeed; the failure message shows its stderr."""
    result = dreamreel("run", *args, *FAST)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def probe(path: Path, frames: bool = False) -> dict[str, object]:
    """What ffprobe shows a user: size, per-frame times and durations, audio codec and length."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        decoded = list(container.decode(video))
        info: dict[str, object] = {
            "count": len(decoded),
            "size": (decoded[0].width, decoded[0].height) if decoded else None,
            "pts": [f.pts for f in decoded],
            "times": [float(f.pts * f.time_base) for f in decoded],
            "durations": [f.duration for f in decoded],
        }
        if frames:
            info["images"] = np.stack([f.to_ndarray(format="rgb24") for f in decoded])
    info.update(audio_facts(path))
    return info


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable image"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference on the 0..255 scale."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in `folder` (hidden ones included) and its bytes."""
    return {p.name: (p.read_bytes() if p.is_file() else b"<dir>") for p in folder.iterdir()}


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
# 1-4: outputs keep the input's frames, size, timing and sound


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


def test_xla_compiles_a_resized_painting_blend_and_agrees_with_the_plain_graph(tmp_path: Path) -> None:
    """--jit on (the GPU default) with a working size and strength < 1: every op of the graph
    must have an XLA kernel (antialiased and bicubic resizes have none)."""
    photo = media("content/astronaut.png")
    painting = media("styles/kandinsky_composition_vii.jpg")
    common = (photo, "--style-image", painting, "--strength", "0.5", "--size", "128")
    run_ok(*common, "-o", tmp_path / "xla.png", "--jit", "on")
    run_ok(*common, "-o", tmp_path / "plain.png", "--jit", "off")
    xla, plain = read_rgb(tmp_path / "xla.png"), read_rgb(tmp_path / "plain.png")
    assert xla.shape == plain.shape == read_rgb(photo).shape
    assert mean_abs_diff(xla, plain) < 3  # bilinear instead of bicubic upscaling under XLA
    assert mean_abs_diff(xla, read_rgb(photo)) > 10


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


def test_yuv444_with_mp3_trimmed_keeps_size_and_timestamps(tmp_path: Path) -> None:
    clip = media("color/cockatoo.mp4")
    out = tmp_path / "cockatoo.mp4"
    run_ok(clip, "-o", out, "--duration", 1, "--size", 96)  # default temporal smoothing on
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
# 5: options


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


def test_quiet_run_with_a_style_blend_prints_nothing(tmp_path: Path) -> None:
    photo = media("content/coffee.png")
    out = tmp_path / "blend.png"
    result = run_ok(photo, "-o", out, "--style", "3:0.5,12:0.5", "--size", 96, "--quiet")
    assert result.stderr == ""
    assert result.stdout == ""
    image = read_rgb(out)
    assert image.shape == (400, 600, 3)
    assert mean_abs_diff(image, read_rgb(photo)) > 10


def test_preserve_color_keeps_the_chroma(tmp_path: Path) -> None:
    photo = media("content/coffee.png")
    kept, free = tmp_path / "kept.png", tmp_path / "free.png"
    run_ok(photo, "-o", kept, "--style", 3, "--size", 96, "--preserve-color")
    run_ok(photo, "-o", free, "--style", 3, "--size", 96)
    source = cv2.cvtColor(read_rgb(photo), cv2.COLOR_RGB2YUV).astype(np.float64)
    kept_yuv = cv2.cvtColor(read_rgb(kept), cv2.COLOR_RGB2YUV).astype(np.float64)
    free_yuv = cv2.cvtColor(read_rgb(free), cv2.COLOR_RGB2YUV).astype(np.float64)
    chroma = np.s_[..., 1:]
    assert mean_abs_diff(kept_yuv[..., 0], source[..., 0]) > 5  # the luminance is stylized
    # Where the new luminance pushes a colour out of the RGB cube it is clipped, which moves
    # its chroma; everywhere else the chroma is the input's exactly.
    kept_rgb = read_rgb(kept)
    inside = (kept_rgb.min(axis=-1) > 3) & (kept_rgb.max(axis=-1) < 252)
    assert inside.mean() > 0.2
    assert mean_abs_diff(kept_yuv[inside][:, 1:], source[inside][:, 1:]) < 1
    assert np.median(np.abs(kept_yuv[chroma] - source[chroma])) < 1
    # and overall far closer to the input's colours than the plain style
    assert mean_abs_diff(kept_yuv[chroma], source[chroma]) < 0.25 * mean_abs_diff(
        free_yuv[chroma], source[chroma]
    )


def test_pipeline_chain_runs(tmp_path: Path) -> None:
    photo = media("content/coffee.png")
    out = tmp_path / "chain.png"
    run_ok(photo, "-o", out, "--pipeline", "vintage@0.5,style", "--size", 96)
    image = read_rgb(out)
    assert image.shape == (400, 600, 3)
    assert mean_abs_diff(image, read_rgb(photo)) > 10


def test_temporal_at_a_reduced_working_size_steadies_the_full_size_output(tmp_path: Path) -> None:
    """The stabiliser works at --size, where the network does; the output keeps the clip's
    size and its warping error (`dreamreel metrics`, on the first second of the 10 s clip)
    falls well below per-frame's."""
    clip = media("film/chaplin_silent.mp4")
    per_frame, steady = tmp_path / "per_frame.mp4", tmp_path / "steady.mp4"
    common = [clip, "--duration", 1, "--size", 120, "--style", 7, "--crf", 12]
    run_ok(*common, "-o", per_frame, "--temporal", 0)
    summary = json.loads(run_ok(*common, "-o", steady, "--json").stdout)
    assert summary["temporal"] == 0.85
    assert probe(steady)["size"] == probe(per_frame)["size"] == (640, 360)
    unequal = dreamreel("metrics", clip, steady)
    assert unequal.returncode == 2 and "add --frames 25" in unequal.stderr, unequal.stderr
    measured = dreamreel("metrics", clip, steady, "--reference", per_frame, "--frames", 25, "--json")
    assert measured.returncode == 0, measured.stderr
    report = json.loads(measured.stdout)
    assert report["frames"] == 25
    error_steady, error_per_frame = (report[k]["warping_error"] for k in ("output", "reference"))
    assert error_steady < 0.6 * error_per_frame, (error_steady, error_per_frame)


# --------------------------------------------------------------------------------------------
# 6: bad inputs: exit 2, one line, no traceback, nothing left behind


def _audio_only(path: Path) -> None:
    with av.open(str(media("audio/bbb_14s-19s_h264_aac.mp4"))) as src, av.open(str(path), "w") as dst:
        out = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)


def _no_frames(path: Path) -> None:
    """An mp4 with its header written and not a single frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()


def _bad_cases(root: Path) -> dict[str, tuple[list[object], Path, str]]:
    """name -> (arguments after `run`, output folder to watch, text the error must contain)."""
    gif = media("film/chaplin_3s.gif")
    inputs = root / "inputs"
    inputs.mkdir()
    (inputs / "notes.mp4").write_text("this is not a video\n")
    (inputs / "empty.mp4").write_bytes(b"")
    (inputs / "painting.jpg").write_text("not a picture either\n")
    _audio_only(inputs / "sound.m4a")
    _no_frames(inputs / "noframes.mp4")

    cases: dict[str, tuple[list[object], Path, str]] = {}

    def case(name: str, source: Path, extra: list[object], expect: str, output: str = "out.mp4",
             prepare=None) -> None:
        folder = root / name
        folder.mkdir()
        if prepare:
            prepare(folder)
        cases[name] = ([source, "-o", folder / output, *extra], folder, expect)

    case("missing_file", inputs / "missing.mp4", [], "no such file")
    case("text_named_mp4", inputs / "notes.mp4", [], "notes.mp4")
    case("no_video_stream", inputs / "sound.m4a", [], "no video stream")
    case("empty_file", inputs / "empty.mp4", [], "empty.mp4")
    case("zero_frames", inputs / "noframes.mp4", [], "noframes.mp4")
    case("output_under_a_file", gif, [], "file.txt", output="file.txt/out.mp4",
         prepare=lambda f: (f / "file.txt").write_text("a regular file\n"))
    case("unknown_style", gif, ["--style", 99], "99")
    case("style_image_not_an_image", gif, ["--style-image", inputs / "painting.jpg"], "painting.jpg")
    case("existing_output_without_y", gif, [], "-y", output="out.gif",
         prepare=lambda f: (f / "out.gif").write_bytes(b"yesterday's render"))
    case("output_is_input", root / "output_is_input" / "in.gif", ["-y"], "overwrite the input",
         output="in.gif", prepare=lambda f: shutil.copy(gif, f / "in.gif"))
    case("strength_2", gif, ["--strength", 2], "strength")
    case("unknown_pipeline", gif, ["--pipeline", "sepia"], "sepia")
    return cases


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """All bad runs at once (each is mostly TensorFlow's start-up), three at a time."""
    root = tmp_path_factory.mktemp("bad")
    cases = _bad_cases(root)
    before = {name: snapshot(folder) for name, (_, folder, _) in cases.items()}

    def go(name: str) -> tuple:
        args, folder, expect = cases[name]
        return dreamreel("run", *args, *FAST), folder, expect, before[name]

    return {name: go(name) for name in cases}


BAD = [
    "missing_file",
    "text_named_mp4",
    "no_video_stream",
    "empty_file",
    "zero_frames",
    "output_under_a_file",
    "unknown_style",
    "style_image_not_an_image",
    "existing_output_without_y",
    "output_is_input",
    "strength_2",
    "unknown_pipeline",
]


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(bad_runs: dict, name: str) -> None:
    result, folder, expect, before = bad_runs[name]
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dreamreel: error: ")
    assert expect in lines[0]
    assert result.stdout == ""
    assert snapshot(folder) == before  # no output, no hidden partial file, nothing changed


def test_the_installed_command_says_a_bad_input_in_one_line(tmp_path: Path) -> None:
    """The console script in a process of its own, in a user's environment: TensorFlow's
    start-up chatter stays hidden and the error is the only line."""
    command = Path(sys.executable).with_name("dreamreel")
    result = subprocess.run([command, "run", tmp_path / "missing.mp4", "-o", tmp_path / "out.mp4"],
                            capture_output=True, text=True, env=user_env(), timeout=300, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"dreamreel: error: {tmp_path / 'missing.mp4'}: no such file"], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_truncated_mp4_keeps_what_decodes_and_says_how_much_was_lost(tmp_path: Path) -> None:
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")  # moov at the front: the first half decodes
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "cut_styled.mp4"
    out.parent.mkdir()
    result = run_ok(cut, "-o", out, "--size", 96, "--temporal", 0)
    result_probe = probe(out)
    kept = result_probe["count"]
    assert 10 < kept < 120
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"dreamreel: warning: {120 - kept} frame(s) of {cut} could not be decoded and were skipped"
    ]
    assert result_probe["times"] == pytest.approx([i / 24 for i in range(kept)], abs=1e-6)
    assert [p.name for p in out.parent.iterdir()] == ["cut_styled.mp4"]


# --------------------------------------------------------------------------------------------
# 7: Ctrl-C keeps a playable file with the frames done so far


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_frames_and_their_sound(tmp_path: Path) -> None:
    clip = media("color/cockatoo.mp4")  # 280 frames of 720p with mp3: far longer than we wait
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "cockatoo.mp4"
    process = subprocess.Popen(
        [*CLI, "run", str(clip), "-o", str(out), "--size", "128", *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_env(),
    )
    try:
        # The hidden temporary grows as encoded frames are muxed: wait for a few of them.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            partial = [p for p in out_dir.iterdir() if p.name.startswith(".")]
            if partial and partial[0].stat().st_size > 300_000:
                break
            time.sleep(0.2)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    line = next(line for line in stderr.splitlines() if "interrupted" in line)
    words = line.split()
    kept = int(words[words.index("kept") + 2])  # "... kept the N finished frame(s) in OUT"
    assert 0 < kept < 280
    assert str(out) in line
    result = probe(out)
    assert result["count"] == kept
    assert result["size"] == (1280, 720)
    assert result["times"] == pytest.approx([i / 20 for i in range(kept)], abs=1e-6)
    # the sound stops with the picture, not 14 s later over a frozen last frame
    assert result["audio_codec"] == "mp3"
    assert result["audio_seconds"] == pytest.approx(kept / 20, abs=0.1)
    assert [p.name for p in out_dir.iterdir()] == ["cockatoo.mp4"]  # no hidden partial left


def test_ctrl_c_while_starting_up_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C half a second in lands while TensorFlow loads (seconds): no traceback, 130."""
    out = tmp_path / "never.mp4"
    process = subprocess.Popen([*CLI, "run", str(media("film/chaplin_3s.gif")), "-o", str(out), *FAST],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_env())
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("dreamreel: interrupted")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# 8: demo and styles


@pytest.mark.slow
def test_demo_makes_source_styled_and_before_after(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = dreamreel("demo", "-o", out, "-y")  # as the README's first command runs it
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["before_after.png", "source.mp4", "styled.mp4"]
    source, styled = probe(out / "source.mp4"), probe(out / "styled.mp4")
    assert styled["count"] == source["count"] > 0
    assert styled["size"] == source["size"]
    assert styled["times"] == pytest.approx(source["times"], abs=1e-6)
    assert styled["audio_codec"] == "aac"
    assert styled["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=0.05)
    width, height = source["size"]
    pair = read_rgb(out / "before_after.png")
    assert pair.shape == (height, 2 * width, 3)
    assert mean_abs_diff(pair[:, :width], pair[:, width:]) > 10
    # run again without -y: the first demo's files stay as they were
    first = snapshot(out)
    again = dreamreel("demo", "-o", out)
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "-y (--overwrite)" in again.stderr
    assert snapshot(out) == first


def test_styles_contact_sheet(tmp_path: Path) -> None:
    photo = media("content/coffee.png")  # 600x400: tiles of 96x64 at --size 64
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"yesterday's sheet")  # -y replaces it
    result = dreamreel("styles", photo, "-o", sheet, "--size", 64, "--offline", "-y")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]  # no hidden partial left
    image = read_rgb(sheet)
    # the source and 26 styles = 27 tiles, 7 per row: 4 rows (the last padded)
    assert image.shape == (4 * 64, 7 * 96, 3)
    tiles = [image[r * 64 : (r + 1) * 64, c * 96 : (c + 1) * 96] for r in range(4) for c in range(7)]
    assert mean_abs_diff(tiles[1], tiles[2]) > 5  # style 0 and style 1 differ
    assert tiles[-1].max() == 0  # padding


# --------------------------------------------------------------------------------------------
# 9: styles, demo and metrics never lose a file: exit 2, one line, nothing changed


def _refusal_cases(root: Path) -> dict[str, tuple[list[object], Path, str]]:
    """name -> (command line, folder to watch, text the error must contain). Each folder holds
    cat.png (a real picture, the input) and the `old` files (an earlier run's output)."""
    gif = media("film/chaplin_3s.gif")
    cases: dict[str, tuple[list[object], Path, str]] = {}

    def case(name: str, expect: str, command, old: tuple[str, ...] = ()) -> None:
        folder = root / name
        folder.mkdir()
        shutil.copy(media("content/chelsea_cat.png"), folder / "cat.png")
        for file in old:
            (folder / file).write_bytes(b"yesterday's " + file.encode())
        cases[name] = (command(folder), folder, expect)

    def styles(output: str, *args: object):
        return lambda f: ["styles", f / "cat.png", "-o", f / output, "--size", 64, "--offline", *args]

    def plot(output: str):
        return lambda f: ["metrics", gif, gif, "--plot", f / output]

    case("styles_output_is_input", "overwrite the input", styles("cat.png", "-y"))
    case("styles_existing_output", "-y (--overwrite)", styles("s.png"), old=("s.png",))
    case("styles_missing_folder", "does not exist", styles("nodir/s.png"))
    case("styles_size_0", "--size", styles("s.png", "--size", 0))
    case("demo_into_a_file", "not a folder", lambda f: ["demo", "-o", f / "a.mp4"], old=("a.mp4",))
    case("demo_in_proc", "/proc/nope", lambda f: ["demo", "-o", "/proc/nope"])
    case("demo_earlier_demo", "-y (--overwrite)", lambda f: ["demo", "-o", f],
         old=("source.mp4", "styled.mp4", "before_after.png"))
    case("metrics_plot_txt", "--plot", plot("p.txt"))
    case("metrics_plot_mp4", "--plot", plot("p.mp4"))
    case("metrics_existing_plot", "-y (--overwrite)", plot("p.png"), old=("p.png",))
    return cases


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """name -> (result, folder, expected text, the folder before), three runs at a time."""
    cases = _refusal_cases(tmp_path_factory.mktemp("refusals"))
    before = {name: snapshot(folder) for name, (_, folder, _) in cases.items()}
    results = [dreamreel(*case[0]) for case in cases.values()]
    return {name: (result, folder, expect, before[name])
            for (name, (_, folder, expect)), result in zip(cases.items(), results, strict=True)}


@pytest.mark.parametrize("name", [
    "styles_output_is_input", "styles_existing_output", "styles_missing_folder", "styles_size_0",
    "demo_into_a_file", "demo_in_proc", "demo_earlier_demo",
    "metrics_plot_txt", "metrics_plot_mp4", "metrics_existing_plot",
])
def test_styles_demo_metrics_refuse_in_one_line_and_change_nothing(refusals: dict, name: str) -> None:
    test_bad_input_is_one_line_exit_2_and_leaves_nothing(refusals, name)  # the same checks as `run`


def test_metrics_plot_replaces_an_old_plot_with_y(tmp_path: Path) -> None:
    gif = media("film/chaplin_3s.gif")
    plot = tmp_path / "flicker.pdf"
    plot.write_bytes(b"yesterday's plot")
    result = dreamreel("metrics", gif, gif, "--plot", plot, "-y")
    assert result.returncode == 0, result.stderr
    assert plot.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["flicker.pdf"]  # no hidden partial left
