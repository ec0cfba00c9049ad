"""`dreamreel run` against what happens around a long render.

SIGTERM and SIGHUP (a `kill`, a closed terminal, a service manager stopping it) end a run like
Ctrl-C: the finished frames stay in a playable file, one line says so, and the exit code is the
shell's for that signal; more signals while the file is finished change nothing; a live show
ends as on Ctrl-C, its recording whole. An output that cannot be written (a full disk, a
read-only folder, a folder under the file's name, its folder removed mid-run) is one
`dreamreel: error:` line and exit 2, with nothing left under its name and no hidden temporary.
Two runs writing one name: one wins, the other says so in one line.

The signals and the two runs are real processes; the bad outputs run the real command in this
process (conftest.cli), which spares a TensorFlow start-up each. The mounts need root (CI runs
as root; a skip there is a failure).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pytest
from conftest import media
from run_helpers import (
    CLI,
    FAST,
    check_refused_in_one_line,
    default_signals,
    dreamreel,
    probe,
    snapshot,
    user_env,
)

COCKATOO_FPS = 20  # color/cockatoo.mp4: 280 frames of 1280x720 at 20 fps, with mp3 sound


def _start(*args: object) -> subprocess.Popen:
    """`dreamreel run ARGS` in a process of its own, as a user's shell starts it."""
    return subprocess.Popen([*CLI, "run", *map(str, args), *FAST], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=user_env(),
                            preexec_fn=default_signals)


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".partial" in p.name] if folder.is_dir() else []


def _wait_for_partial(folder: Path, process: subprocess.Popen, size: int = 0) -> Path:
    """The run's hidden temporary once it holds `size` bytes (encoded frames)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        for partial in _partials(folder):
            if partial.stat().st_size >= size:
                return partial
        time.sleep(0.05)
    pytest.fail(f"no partial file of {size} bytes in {folder}; exit {process.poll()}")


def _opened_by(process: subprocess.Popen) -> set[str]:
    """The files the process holds open (Linux)."""
    names = set()
    with suppress(OSError):  # it may end meanwhile
        for fd in os.listdir(f"/proc/{process.pid}/fd"):
            names.add(os.readlink(f"/proc/{process.pid}/fd/{fd}"))
    return names


def _finish(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    return lines[0]


# --------------------------------------------------------------------------------------------
# SIGTERM and SIGHUP end a run like Ctrl-C


@pytest.mark.slow
@pytest.mark.parametrize("temporal", [["--temporal", "0"], ["--two-way"]],
                         ids=["per-frame", "two-way"])
def test_term_keeps_the_finished_frames_and_later_signals_change_nothing(
        tmp_path: Path, temporal: list[str]) -> None:
    """A `kill` mid-render: the frames finished are kept with their sound. Ctrl-C and SIGHUP go
    through the same handler (HUP ends a live show in test_long_runs, and each is sent while
    starting up below). A burst of INT, TERM and HUP lands while the frames computed are written
    and the file is finished: the exit code is still the first signal's and the file is whole.
    With `--two-way` the frames the backward pass holds are finished and written too."""
    out = tmp_path / "out" / "cockatoo.mp4"
    out.parent.mkdir()
    process = _start(media("color/cockatoo.mp4"), "-o", out, "--size", 64, *temporal, "--quiet")
    try:
        _wait_for_partial(out.parent, process, size=30_000)  # a few encoded 720p frames
        process.send_signal(signal.SIGTERM)
        for later in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) * 3:
            time.sleep(0.05)
            process.send_signal(later)
    finally:
        stdout, stderr = _finish(process)
    assert process.returncode == 143, stderr  # 128 + 15, as a shell reports a TERM
    line = _one_line(stderr)
    assert line.startswith("dreamreel: interrupted: kept the ") and line.endswith(f" in {out}")
    kept = int(line.split()[4])  # "... kept the N finished frame(s) in OUT"
    assert 0 < kept < 280
    facts = probe(out)
    assert facts["count"] == kept
    assert facts["size"] == (1280, 720)
    assert facts["times"] == pytest.approx([i / COCKATOO_FPS for i in range(kept)], abs=1e-6)
    assert facts["audio_seconds"] == pytest.approx(kept / COCKATOO_FPS, abs=0.1)  # cut too
    assert [p.name for p in out.parent.iterdir()] == ["cockatoo.mp4"]  # no partial left
    assert stdout == ""


def _catches(process: subprocess.Popen, sig: signal.Signals) -> bool:
    """Whether the process has a handler for `sig` (Linux's SigCgt mask)."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (sig - 1) & 1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_term_or_hup_while_starting_up_is_one_line_and_leaves_nothing(
        tmp_path: Path, sig: signal.Signals) -> None:
    """The signal lands as soon as dreamreel handles it, which is while TensorFlow loads."""
    out = tmp_path / "never.mp4"
    process = _start(media("film/chaplin_3s.gif"), "-o", out)
    try:
        deadline = time.monotonic() + 60
        while not _catches(process, sig) and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(sig)
    finally:
        stdout, stderr = _finish(process)
    assert process.returncode == 128 + sig, stderr
    assert _one_line(stderr) == "dreamreel: interrupted"
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# outputs that cannot be written: exit 2, one line, nothing left, the input untouched


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small or read-only tmpfs needs root (CI runs as root)")


@contextmanager
def _tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on `folder` for the block (`options`: its size, ro)."""
    folder.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", folder],
                           capture_output=True, text=True, check=False)
    if mount.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", folder], check=True)


def _input_copy(tmp_path: Path, name: str = "film/chaplin_3s.gif") -> tuple[Path, dict]:
    """The input in a folder of its own, and that folder's files, to show it is untouched."""
    folder = tmp_path / "input"
    folder.mkdir()
    source = folder / Path(name).name
    shutil.copy(media(name), source)
    return source, snapshot(folder)


def _refused(args: list[object], folder: Path, expect: str, before: dict) -> None:
    result = dreamreel("run", *args, "--size", 64, *FAST)
    check_refused_in_one_line({"run": (result, folder, expect, before)}, "run")


@needs_root
@pytest.mark.parametrize("name", ["out.mp4", "frames/"])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, name: str) -> None:
    """100 kB: the frames fill it while they are written; the mp4 (small frames) as it is
    finished (its index is moved to the front)."""
    source, before = _input_copy(tmp_path)
    with _tmpfs(tmp_path / "disk", "size=100k") as disk:
        _refused([source, "-o", f"{disk}/{name}"], disk, "No space left on device", {})
    assert snapshot(source.parent) == before


@needs_root
def test_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    """A read-only mount: unlike chmod, root cannot write there either."""
    source, before = _input_copy(tmp_path)
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as folder:
        _refused([source, "-o", folder / "out.mp4"], folder, "not writable", {})
    assert snapshot(source.parent) == before


@needs_root
def test_a_checkpoint_on_a_full_disk_is_one_line_and_keeps_the_frames_before(
        tmp_path: Path) -> None:
    """Film mode's checkpoint (`--checkpoint DIR`) when the disk fills: a one-line error naming
    the frame, the frames saved before it still load, no temporary left."""
    from dreamreel.engine.checkpoint import Checkpoint
    from dreamreel.errors import MediaError

    small = np.full((8, 8, 3), 200, np.uint8)
    noisy = np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8)  # ~200 kB PNG
    with _tmpfs(tmp_path / "disk", "size=64k") as disk:
        checkpoint = Checkpoint(disk / "film", "made with these settings")
        checkpoint.save(0, small)
        with pytest.raises(MediaError, match="cannot save frame 1 .*the frames before it are kept"):
            checkpoint.save(1, noisy)
        assert sorted(p.name for p in (disk / "film").iterdir()) == [
            "frame_000000.png", "settings.json"]
        assert np.array_equal(checkpoint.load(0, small.shape), small)


def test_an_output_named_like_a_file_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    """`-o out.mp4` where out.mp4 is a folder: refused, not filled with PNGs (a trailing /
    asks for a folder of frames)."""
    source, before = _input_copy(tmp_path)
    folder = tmp_path / "out"
    (folder / "out.mp4").mkdir(parents=True)
    (folder / "out.mp4" / "notes.txt").write_text("mine\n")
    _refused([source, "-o", folder / "out.mp4"], folder, "is a folder", snapshot(folder))
    assert [p.name for p in (folder / "out.mp4").iterdir()] == ["notes.txt"]
    assert snapshot(source.parent) == before


def test_the_output_folder_removed_mid_run_is_one_line(tmp_path: Path) -> None:
    """The folder goes as soon as the hidden temporary is there: the run stops at its next
    frame (writes to a removed file would succeed until the very end) and says why."""
    source, before = _input_copy(tmp_path, "color/cockatoo.mp4")
    folder = tmp_path / "out"
    folder.mkdir()
    removed = threading.Event()

    def remove_when_started() -> None:
        deadline = time.monotonic() + 120
        while not _partials(folder) and time.monotonic() < deadline:
            time.sleep(0.01)
        shutil.rmtree(folder)
        removed.set()

    watcher = threading.Thread(target=remove_when_started, daemon=True)
    watcher.start()
    result = dreamreel("run", source, "-o", folder / "cockatoo.mp4", "--size", 64, *FAST)
    watcher.join(timeout=5)
    assert removed.is_set()
    assert result.returncode == 2, result.stderr
    assert _one_line(result.stderr) == (
        f"dreamreel: error: {folder / 'cockatoo.mp4'}: folder {folder} was removed during the run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input"]  # not made again
    assert snapshot(source.parent) == before


# --------------------------------------------------------------------------------------------
# two runs writing one output


@pytest.mark.slow
def test_two_runs_writing_one_output_one_wins_and_the_other_says_so(tmp_path: Path) -> None:
    """Both pass the up-front check (the one ahead is paused with SIGSTOP until the other has
    started writing too), so they meet where the finished file takes its name: the first to
    finish wins, the other is one line and leaves no temporary."""
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "chaplin.mp4"
    args = (media("film/chaplin_3s.gif"), "-o", out, "--size", 64, "--quiet")
    runs = [_start(*args), _start(*args)]
    try:
        deadline = time.monotonic() + 240
        while not (ahead := [p for p in runs if any(".partial" in f for f in _opened_by(p))]):
            assert time.monotonic() < deadline and all(p.poll() is None for p in runs)
            time.sleep(0.01)
        ahead[0].send_signal(signal.SIGSTOP)
        try:
            while len(_partials(folder)) < 2:  # the other is past the check too
                assert time.monotonic() < deadline and all(p.poll() is None for p in runs)
                time.sleep(0.01)
        finally:
            ahead[0].send_signal(signal.SIGCONT)
        results = [_finish(p) for p in runs]
    finally:
        for process in runs:
            if process.poll() is None:
                process.kill()
    codes = sorted(p.returncode for p in runs)
    assert codes == [0, 2], results
    _, stderr = results[[p.returncode for p in runs].index(2)]
    assert _one_line(stderr) == (
        f"dreamreel: error: {out}: another run made it meanwhile; use -y (--overwrite) to "
        "replace it")
    assert [r[0] for r in results] == ["", ""]
    facts = probe(out)
    assert facts["count"] == 36  # one whole render, not a mix of two files
    assert facts["size"] == (320, 232)
    assert [p.name for p in folder.iterdir()] == ["chaplin.mp4"]


@pytest.mark.parametrize("name", ["out.gif", "frames/"])
def test_the_later_of_two_outputs_never_replaces_the_first_without_y(
        tmp_path: Path, name: str) -> None:
    """The same meeting for every kind of output, through the sinks themselves: two opened
    before either is finished; with -y the later one replaces the first, whole."""
    from dreamreel.engine.sinks import open_sink
    from dreamreel.engine.sources import open_source
    from dreamreel.errors import MediaError

    with open_source(media("film/chaplin_3s.gif")) as source:
        frames = list(source)
    out = tmp_path / name

    def render(count: int, overwrite: bool = False, meanwhile: Callable | None = None) -> None:
        with open_sink(out, source.info, overwrite=overwrite) as sink:
            for frame in frames[:count]:
                sink.write(frame)
            if meanwhile:  # the other run finishes first
                meanwhile()

    with pytest.raises(MediaError, match="another run"):
        render(5, meanwhile=lambda: render(3))
    assert _frames_in(out) == 3
    render(5, True, meanwhile=lambda: render(2, True))
    assert _frames_in(out) == 5
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no hidden temporary


def _frames_in(out: Path) -> int:
    if out.is_dir():
        return len(list(out.glob("frame_*.png")))
    return probe(out)["count"]
