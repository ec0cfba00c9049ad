"""A bounded mutation fuzzer over real inputs: damaged clips, GIFs, pictures, paintings,
setlists and MIDI maps through the real command, each judged by what a user sees.

Every case must end in exit 0 (with a warning line when frames were lost) or exit 2 with
exactly one `dreamreel: error:` line; never a traceback, a hang, a line that a C library
printed behind our back, or a file (or hidden partial) under the output's name after a
failure. The corpus (tests/fuzz_corpus.py) is drawn from a fixed seed: a failure names a case
that replays the same way every time (`python tests/fuzz_corpus.py DIR` writes them all out).

The cases run in this process (conftest.cli: TensorFlow loaded once) at the cheapest settings,
and a traced frame graph is reused between cases of the same shape: a trace costs seconds and
says nothing about input handling. Setlists and MIDI maps go through `dreamreel live` up to the
moment the show would start capturing, which is everything it checks before a show.

What the fuzzer found, each fixed in the engine and kept as a regression case below:
- a setlist that is not UTF-8 text: a UnicodeDecodeError traceback (commands/live.py);
- a setlist with NUL bytes: the error line echoed the control characters, without saying
  which file or line (commands/live.py);
- a WebM whose audio header says 0 channels: a ValueError traceback from the audio encoder
  (sources.py now leaves out a track that cannot be decoded, and says so);
- a cut-short WebM: frames lost without a word, as Matroska holds no frame count (sources.py
  counts them from the stream's declared length);
- a cut-short or overwritten GIF: frames lost without a word, as FFmpeg just stops there
  (sources.py walks the GIF's blocks and says where it breaks);
- an animated GIF named .png: read as a still, 3 of its 4 frames silently gone (sources.py
  goes by the file's first bytes);
- a damaged PNG or JPEG: libpng/libjpeg printed their own line beside ours (two lines for a
  failure, a stray one for a success); sources.py now folds it into our one line.
Found while fixing these, by reading: a MIDI map whose "map" is not a list was a TypeError
traceback, and a cc/note/channel out of MIDI's range was taken and silently never fired
(live/midi.py).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest
from conftest import cli, media
from fuzz_corpus import Case, corpus, make_seeds
from run_helpers import FAST

CASE_SECONDS = 60  # past this a case hangs (the first trace of a shape takes a few seconds)
CHEAP = [*FAST, "--size", "16", "--backend", "tf", "--jit", "off", "--precision", "float32",
         "--batch", "1", "--temporal", "0", "--quiet"]
OUTPUTS = (".mp4", ".gif", ".webm", ".mkv")


class Hang(Exception):
    """A case ran past CASE_SECONDS."""


class ShowWouldStart(Exception):
    """`dreamreel live` took every file and is about to capture: a show would begin."""


@dataclass
class Outcome:
    case: Case
    returncode: int | None = None
    stderr: str = ""  # ours and what C libraries wrote to file descriptor 2, as a terminal shows
    stdout: str = ""
    left: list[str] = field(default_factory=list)  # the output folder afterwards
    frames: int | None = None  # frames in the output, when there is one
    problem: str | None = None  # how the contract broke, None when it held


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_seeds(media, tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def seed_frames(seeds: dict[str, Path]) -> dict[str, int]:
    """How many frames each undamaged seed has: what a user expects back."""
    return {name: frame_count(path) for name, path in seeds.items()
            if path.suffix not in (".txt", ".json", ".toml")}


@pytest.fixture(scope="module", autouse=True)
def reuse_traces() -> Iterator[None]:
    """One traced graph per effect type and shape for the whole module."""
    from dreamreel.engine import processing

    original, graphs = processing.compile_graph, {}

    def compile_graph(built, batch, work, jit, device, backend="tf"):
        key = (type(built.graph).__name__, batch, tuple(work), jit, device, backend)
        if key not in graphs:
            graphs[key] = original(built, batch, work, jit, device, backend)
        return graphs[key]

    processing.compile_graph = compile_graph
    yield
    processing.compile_graph = original


@contextlib.contextmanager
def fd2_into(lines: list[str]) -> Iterator[None]:
    """What C libraries (libpng, libjpeg, FFmpeg) write straight to file descriptor 2, which
    a user sees as much as our own lines, appended to `lines`."""
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.append(sink.read().decode(errors="replace"))


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Hang in Python code: SIGALRM raises Hang. Hang inside a C library, which never returns
    to Python: faulthandler prints every thread's stack and ends the run (red either way)."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    faulthandler.dump_traceback_later(2 * seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def command(case: Case, path: Path, seeds: dict[str, Path], out: Path) -> list[object]:
    if case.role == "input":
        return ["run", path, "-o", out, *CHEAP]
    if case.role == "style_image":
        return ["run", seeds["cat.png"], "-o", out, "--style-image", path, *CHEAP]
    flag = "--setlist" if case.role == "setlist" else "--midi-map"
    return ["live", "--source", seeds["chaplin.mp4"], "--no-preview", "--size", "64", flag, path]


def run_case(case: Case, name: str, seeds: dict[str, Path], root: Path, expected: int,
             output: str, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """Run one case through the command under the time limit and judge what it left;
    `expected`: the frames of the undamaged input, `output`: the output's extension."""
    from dreamreel.engine.live import capture

    inputs, folder = root / f"{name}-in", root / f"{name}-out"
    inputs.mkdir()
    folder.mkdir()
    path = inputs / case.name
    path.write_bytes(case.data)
    out = folder / f"out{output}"
    outcome = Outcome(case)

    def show_would_start(*args: object, **kwargs: object) -> None:
        raise ShowWouldStart

    raw: list[str] = []
    try:
        with monkeypatch.context() as patch, time_limit(CASE_SECONDS), fd2_into(raw):
            patch.setattr(capture, "Capture", show_would_start)
            ran = cli(*command(case, path, seeds, out))
        outcome.returncode, outcome.stdout = ran.returncode, ran.stdout
        outcome.stderr = raw[0] + ran.stderr
    except ShowWouldStart:
        outcome.returncode, outcome.stderr = 0, raw[0]
    except Exception:  # anything escaping `main` is a traceback in front of the user
        outcome.problem = "traceback:\n" + traceback.format_exc()
    outcome.left = sorted(p.name for p in folder.iterdir())
    if outcome.problem is None:
        outcome.problem = judge(outcome, out, expected)
    return outcome


def judge(outcome: Outcome, out: Path, expected: int) -> str | None:
    """What a user would object to, None when nothing."""
    lines = outcome.stderr.splitlines()
    if "Traceback" in outcome.stderr:
        return "traceback on stderr"
    if outcome.returncode == 2:
        if len(lines) != 1 or not lines[0].startswith("dreamreel: error: "):
            return f"exit 2 without exactly one error line: {lines}"
        if outcome.stdout or outcome.left:
            return f"failed but printed {outcome.stdout!r} and left {outcome.left}"
        return None
    if outcome.returncode != 0:
        return f"exit {outcome.returncode}"
    if any(not line.startswith("dreamreel: warning: ") for line in lines):
        return f"other lines than warnings: {lines}"
    if outcome.case.role in ("setlist", "midi_map"):
        return None
    if outcome.left != [out.name]:
        return f"succeeded but the folder holds {outcome.left}"
    outcome.frames = frame_count(out)
    if outcome.frames == 0:
        return "succeeded with an output of no frames"
    if outcome.frames < expected and not lines:
        return f"kept {outcome.frames} of the {expected} frames and said nothing"
    return None


def test_fuzz_corpus_keeps_the_contract(seeds: dict[str, Path], seed_frames: dict[str, int],
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = corpus(seeds)
    outcomes = [run_case(case, f"{i:03d}", seeds, tmp_path,
                         seed_frames.get(case.seed, 1) if case.role == "input" else 1,
                         OUTPUTS[i % len(OUTPUTS)], monkeypatch)
                for i, case in enumerate(cases)]
    bad = [f"{o.case.name}: {o.problem}\n{o.stderr}" for o in outcomes if o.problem]
    assert not bad, f"{len(bad)} of {len(cases)} cases broke the contract:\n" + "\n".join(bad)
    whole = [o for o in outcomes if o.case.mutation == "none"]  # each seed as it was cut
    assert [(o.returncode, o.stderr) for o in whole] == [(0, "")] * len(whole)
    # the corpus reaches every outcome: refusals, clean renders and renders that lost frames
    codes = [o.returncode for o in outcomes]
    warned = [o for o in outcomes if "dreamreel: warning:" in o.stderr]
    assert len(cases) >= 300 and codes.count(0) > 50 and codes.count(2) > 50 and len(warned) > 10


# --- one case per bug found -----------------------------------------------------------------

def _vorbis_without_channels(data: bytes) -> bytes:
    at = data.index(b"\x01vorbis") + 11  # the identification header's channel count
    return data[:at] + b"\x00" + data[at + 1 :]


def _junk_over_second_frame(data: bytes) -> bytes:
    at = data.index(b"\x21\xf9\x04", data.index(b"\x2c"))  # the second frame's timing block
    return data[:at] + bytes(40) + data[at + 40 :]


def _flip_in_png_data(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 20
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


# name -> (seed, role, file name, the damage, exit code, what the one line must say)
REGRESSIONS: dict[str, tuple[str, str, str, Callable[[bytes], bytes], int, str]] = {
    "setlist_not_utf8": ("setlist.txt", "setlist", "gig.txt",
                         lambda d: d.replace(b"vintage", b"vint\xc6ge"), 2, "not a text file"),
    "setlist_nul_bytes": ("setlist.txt", "setlist", "gig.txt", lambda d: bytes(16) + d[16:], 2,
                          "line 1: has control characters"),
    "webm_audio_without_channels": ("bunny.webm", "input", "clip.webm", _vorbis_without_channels,
                                    0, "audio track is damaged"),
    "webm_cut_short": ("bunny.webm", "input", "clip.webm", lambda d: d[: len(d) * 3 // 5], 0,
                       "could not be decoded"),
    "gif_cut_short": ("chaplin.gif", "input", "anim.gif", lambda d: d[: len(d) // 2], 0,
                      "the GIF is damaged or cut short"),
    "gif_overwritten": ("chaplin.gif", "input", "anim.gif", _junk_over_second_frame, 0,
                        "the GIF is damaged or cut short"),
    "gif_named_png": ("chaplin.gif", "input", "anim.png", lambda d: d, 0, ""),
    "png_damaged": ("cat.png", "input", "photo.png", _flip_in_png_data, 2, "libpng error"),
    "jpeg_cut_short": ("udnie.jpg", "style_image", "painting.jpg", lambda d: d[: len(d) * 3 // 4],
                       0, "the picture is damaged (Premature end of JPEG file)"),
    "midi_map_not_a_list": ("map.json", "midi_map", "map.json", lambda d: b'{"map": 5}', 2,
                            "not a MIDI mapping"),
    "midi_cc_out_of_range": ("map.json", "midi_map", "map.json",
                             lambda d: d.replace(b'"cc": 21', b'"cc": 300'), 2,
                             "cc must be a whole number 0..127"),
}


@pytest.mark.parametrize("name", REGRESSIONS)
def test_regression(name: str, seeds: dict[str, Path], seed_frames: dict[str, int],
                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed, role, file, damage, code, says = REGRESSIONS[name]
    case = Case(file, role, seed, name, damage(seeds[seed].read_bytes()))
    expected = seed_frames.get(seed, 1) if role == "input" else 1
    outcome = run_case(case, name, seeds, tmp_path, expected, ".mp4", monkeypatch)
    assert outcome.problem is None, f"{outcome.problem}\n{outcome.stderr}"
    assert outcome.returncode == code, outcome.stderr
    assert says in outcome.stderr, outcome.stderr
    if name == "gif_named_png":
        assert outcome.frames == expected == 4 and outcome.stderr == ""

