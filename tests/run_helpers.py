"""What the end-to-end tests of the commands share: running `dreamreel` as a user does and
looking at what it made as a user would (ffprobe's facts, an image viewer's pixels, the
folder's files).

Used by test_run_media.py, test_run_effects.py, test_run_errors.py and
test_demo_styles_metrics.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
from conftest import audio_facts, cli

from dreamreel.engine.sources import rgb_image

CLI = [sys.executable, "-m", "dreamreel.engine.cli"]
FAST = ["--offline", "--preset", "ultrafast"]  # every run: no downloads, quick encoding


def user_env() -> dict[str, str]:
    """The environment of a user's shell: without the test suite's TF log setting, which would
    let TensorFlow's start-up chatter through (the CLI hides it only when the user did not
    choose a level)."""
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def default_signals() -> None:
    """For `preexec_fn`: the child meets INT, TERM and HUP at their defaults, as a terminal
    starts it, even when the suite itself runs under `nohup` (an ignored HUP is inherited,
    and dreamreel rightly keeps ignoring it)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def ctrl_c_after(command: list[str], env: dict[str, str], line: str) -> str:
    """Start `command`, press Ctrl-C once it prints a line starting with `line` (or gives up
    after 4 minutes, or it ends first); what it printed from there. It must exit 130."""
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_signals)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        lines.append(process.stderr.readline())
        if lines[-1].startswith(line):
            break
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130, "".join(lines) + rest
    return rest


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
            info["images"] = np.stack([rgb_image(f) for f in decoded])  # as a player shows it
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


def check_refused_in_one_line(runs: dict, name: str) -> None:
    """`runs[name]` is (result, folder, expected text, the folder before): the command exited 2
    with one `dreamreel: error:` line naming `expected`, no traceback, nothing on stdout, and
    the folder is as it was (no output, no hidden partial file, nothing changed)."""
    result, folder, expect, before = runs[name]
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dreamreel: error: ")
    assert expect in lines[0]
    assert result.stdout == ""
    assert snapshot(folder) == before  # no output, no hidden partial file, nothing changed
