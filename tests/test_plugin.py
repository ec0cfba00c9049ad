"""A third-party effect: the `invert` package in tests/plugin, installed with pip, found through
the `dreamreel.pipelines` entry point, and run by `run`, `live` (its setting over OSC) and
`bench` without a line of dreamreel changed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import media

PLUGIN = Path(__file__).parent / "plugin"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a user who ran `pip install dreamreel-invert`."""
    root = tmp_path_factory.mktemp("plugin")
    source, site = root / "source", root / "site"
    shutil.copytree(PLUGIN, source)  # the build writes beside the sources: not into the repo
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(source)],
                   check=True, capture_output=True, text=True)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}


def dreamreel(env: dict[str, str], *args: object):
    return subprocess.run([sys.executable, "-m", "dreamreel.engine.cli", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)


def test_the_plugin_is_listed_and_runs_on_a_clip(plugin_env: dict[str, str], tmp_path: Path) -> None:
    gif = media("film/chaplin_3s.gif")
    out = tmp_path / "frames/"
    with ThreadPoolExecutor(4) as pool:  # four processes, each seconds of start-up
        listed = pool.submit(subprocess.run, [sys.executable, "-c", "import dreamreel; print(list(dreamreel.pipelines()))"],
                             env=plugin_env, capture_output=True, text=True, check=True)
        ran = pool.submit(dreamreel, plugin_env, "run", gif, "-o", out, "--pipeline", "invert",
                          "--amount", 1, "--duration", 0.5, "--temporal", 0, "--offline")
        helped = pool.submit(dreamreel, plugin_env, "run", "--help")
        refused = pool.submit(dreamreel, plugin_env, "run", gif, "-o", tmp_path / "x.gif",
                              "--pipeline", "invert", "--amount", 3, "--offline")
    assert "'invert'" in listed.result().stdout
    result = ran.result()
    assert result.returncode == 0, result.stderr
    with av.open(str(gif)) as container:
        source = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][:6]
    frames = sorted(out.iterdir())
    assert len(frames) == 6
    for path, frame in zip(frames, source, strict=True):
        picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(int)
        assert np.abs(picture - (255 - frame.astype(int))).max() <= 1  # the negative, exactly
    help_text = helped.result().stdout
    assert "--amount" in help_text and "invert (--pipeline invert)" in help_text
    bad = refused.result()
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "dreamreel: error: amount 3 is not within 0..1"]


def test_the_plugin_setting_is_a_live_osc_control(plugin_env: dict[str, str], tmp_path: Path) -> None:
    from pythonosc.udp_client import SimpleUDPClient

    record = tmp_path / "show.mp4"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dreamreel.engine.cli", "live", "--source",
         str(media("film/chaplin_silent.mp4")), "--loop", "--pipeline", "invert", "--size", "64",
         "--no-preview", "--duration", "5", "--record", str(record), "--osc", str(port)],
        env=plugin_env, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # "live ... -> recording": the show has begun
        if line.startswith("dreamreel: live"):
            break
    time.sleep(2.0)  # spreads the change out; the verdict reads the frames in order
    SimpleUDPClient("127.0.0.1", port).send_message("/dreamreel/amount/unit", 0.0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with av.open(str(record)) as container:
        means = [f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)]
    # The film is mostly dark: inverted it is bright, then back to itself after the OSC change.
    bright = [m > 128 for m in means]
    switched = bright.index(False)
    assert switched > 0 and not any(bright[switched:]), means


def test_the_plugin_is_benchmarked(plugin_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = dreamreel(plugin_env, "bench", "--pipelines", "invert", "--sizes", "64x64",
                       "--batches", "1", "--jit", "off", "--precisions", "float32",
                       "--repeats", "1", "--e2e-seconds", "0.5", "--offline", "--out", out)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {(r["kind"], r["pipeline"]) for r in rows if r["tool"] == "dreamreel"} >= {
        ("model", "invert"), ("e2e", "invert")}
    assert all(r["fps"] > 0 for r in rows if r["pipeline"] == "invert")
