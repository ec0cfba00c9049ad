"""`dreamreel run` when something goes wrong: a bad input or output is one line and exit 2 with
nothing left behind, a truncated input keeps what decodes and says what was lost, Ctrl-C while
starting up is one line, and the installed command says an error in one line in a user's
environment. (Ctrl-C, SIGTERM and SIGHUP mid-run share one handler: test_outputs_and_signals.)

The bad runs go through the real command in this process (conftest.cli); Ctrl-C and the
installed command get processes of their own.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from conftest import media
from run_helpers import (
    CLI,
    FAST,
    check_refused_in_one_line,
    dreamreel,
    probe,
    run_ok,
    snapshot,
    user_env,
)

# --------------------------------------------------------------------------------------------
# bad inputs: exit 2, one line, no traceback, nothing left behind


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
    case("two_way_without_the_stabiliser", gif, ["--two-way", "--temporal", 0], "--temporal 0")
    case("two_way_on_an_effect_steady_by_itself", gif, ["--pipeline", "painting", "--two-way"],
         "painting has none")
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
    "two_way_without_the_stabiliser",
    "two_way_on_an_effect_steady_by_itself",
]


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(bad_runs: dict, name: str) -> None:
    check_refused_in_one_line(bad_runs, name)


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


ANSWERED_AT_ONCE = [
    (["--help"], 0, None),
    (["run", "in.mp4", "-o", "out.mp4", "--sise", "64"], 2,
     "dreamreel: error: unrecognized arguments: --sise 64 (see dreamreel --help)"),
    (["run", "in.mp4", "-o", "out.mp4"], 2, "dreamreel: error: in.mp4: no such file"),
    (["run", "in.mp4", "-o", "out.mp4", "--crf", "-3"], 2,
     "dreamreel run: error: argument --crf: -3: x264's scale runs from 0 (lossless) to 51 "
     "(see dreamreel run --help)"),
    (["live", "--camera", "0", "--record-crf", "60"], 2,
     "dreamreel live: error: argument --record-crf: 60: x264's scale runs from 0 (lossless) to 51 "
     "(see dreamreel live --help)"),
]


@pytest.mark.parametrize(("args", "code", "said"), ANSWERED_AT_ONCE)
def test_help_and_bad_input_answer_before_tensorflow_loads(
        tmp_path: Path, args: list[str], code: int, said: str | None) -> None:
    """TensorFlow takes seconds to load and is loaded only when first used, so `--help`, a
    mistyped flag, a missing input and an encoder quality off its scale answer at once, and
    the answer is the only line."""
    script = ("import sys\nfrom dreamreel.engine.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
              "except SystemExit as exit_:\n    code = exit_.code\n"
              "print('exit', code, 'tensorflow loaded:', 'tensorflow.python' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                            cwd=tmp_path, env=user_env(), timeout=120, check=False)
    assert result.stdout.splitlines()[-1] == f"exit {code} tensorflow loaded: False", result.stdout
    if said:
        assert result.stderr.splitlines() == [said]
    else:
        assert "usage: dreamreel" in result.stdout and "run" in result.stdout
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
# Ctrl-C before anything is made


def test_ctrl_c_while_starting_up_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C half a second in lands while the command starts (the command line read,
    TensorFlow loading): no traceback, 130."""
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
