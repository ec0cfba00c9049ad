"""The tuner: `auto` is measured on this machine, kept, reused, and overridden by what the user
forces. Real networks, real frames; each test works at a size no other test uses, so the
choices it reads are the ones it made."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import TEST_HOME, cli, media
from run_helpers import FAST, dreamreel, read_rgb

from dreamreel.engine import compute, job, stages, tuning
from dreamreel.engine.graph import FrameGraph, LiteGraph
from dreamreel.errors import SettingsError


def _choices() -> dict:
    """tuning.json as a user would read it: this machine's entries."""
    data = json.loads((TEST_HOME / "tuning.json").read_text())
    return data[tuning.machine()]


def _still(tmp_path, width: int, height: int):
    image = cv2.resize(cv2.imread(str(media("content/chelsea_cat.png"))), (width, height))
    path = tmp_path / "cat.png"
    cv2.imwrite(str(path), image)
    return path


def test_tune_measures_each_way_keeps_the_fastest_and_runs_reuse_it(tmp_path):
    tuned = cli("tune", "--pipelines", "style", "--sizes", "200x112", "--offline")
    assert tuned.returncode == 0, tuned.stderr
    assert "tuning style at 200x112" in tuned.stderr
    table = [line for line in tuned.stdout.splitlines() if "ms a frame" in line]
    # TensorFlow and TF Lite, float32 (and bfloat16 where the pipeline allows it), XLA on/off
    assert any("TF Lite/XNNPACK" in line for line in table)
    assert any("TensorFlow, float32, XLA on" in line for line in table)
    assert any("TensorFlow, float32, XLA off" in line for line in table)
    chosen = [line for line in table if line.startswith(" *")]
    assert len(chosen) == 1
    times = [float(line.split("ms a frame")[0].split()[-1]) for line in table]
    assert float(chosen[0].split("ms a frame")[0].split()[-1]) == min(
        t for t, line in zip(times, table, strict=True) if "differs" not in line)

    entry = next(v for k, v in _choices().items() if k.startswith("style|frame|")
                 and k.endswith("batches True") and f"|{2 ** 14}px|" in k)
    choice = tuning.Choice(**entry["choice"])
    assert choice.describe() in chosen[0]

    # a short run at that working size takes the kept choice without timing anything
    source = _still(tmp_path, 400, 224)
    ran = dreamreel("run", source, "-o", tmp_path / "out.png", "--size", "112", "--json", *FAST)
    assert ran.returncode == 0, ran.stderr
    assert "tuning" not in ran.stderr
    summary = json.loads(ran.stdout.strip().splitlines()[-1])
    assert (summary["backend"], summary["precision"]) == (choice.backend, choice.precision)

    # what the user forces wins over the kept choice
    forced = dreamreel("run", source, "-o", tmp_path / "forced.png", "--size", "112", "--json",
                       "--backend", "tf", "--precision", "float32", "--jit", "off", *FAST)
    assert forced.returncode == 0, forced.stderr
    summary = json.loads(forced.stdout.strip().splitlines()[-1])
    assert (summary["backend"], summary["precision"]) == ("tf", "float32")


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_tf_lite_paints_what_tensorflow_paints(tmp_path, upsampling):
    source = _still(tmp_path, 320, 180)
    outputs = {}
    for backend in ("tf", "lite"):
        out = tmp_path / f"{backend}.png"
        ran = dreamreel("run", source, "-o", out, "--style", "19", "--backend", backend,
                        "--precision", "float32", "--upsampling", upsampling, *FAST)
        assert ran.returncode == 0, ran.stderr
        outputs[backend] = read_rgb(out).astype(np.float32)
    assert outputs["tf"].shape == outputs["lite"].shape == (180, 320, 3)
    assert outputs["tf"].std() > 20  # a painting, not a blank
    assert np.abs(outputs["tf"] - outputs["lite"]).mean() < 1.0  # levels of 255


def test_tf_lite_refuses_a_network_it_has_no_kernels_for_in_one_line(tmp_path):
    source = _still(tmp_path, 128, 96)
    ran = dreamreel("run", source, "-o", tmp_path / "v.png", "--pipeline", "vintage",
                    "--backend", "lite", *FAST)
    assert ran.returncode == 2
    assert "cannot run on TF Lite" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v.png").exists()


def test_a_switch_between_branches_is_refused_before_the_converter_sees_it():
    """The converter fails on `tf.switch_case` (the kernels and layers effects), and a few
    failed attempts in one process ended in a segmentation fault inside it: the tuner tries
    TF Lite for every program of a live show, so the graph is refused before conversion."""
    built = stages.build(stages.stages("kernels"), stages.context())
    graph = FrameGraph(built.graph, 1, 48, 64)
    for _ in range(30):  # without the check, the converter crashed within 30 tries 4 times of 4
        with pytest.raises(SettingsError, match="switch between branches"):
            LiteGraph(graph)
    frames = np.full((1, 48, 64, 3), 128, np.uint8)
    assert graph(frames, built.graph_controls(1.0)).shape == frames.shape  # TensorFlow runs it


def test_a_long_job_tunes_once_and_says_so():
    (TEST_HOME / "tuning.json").unlink(missing_ok=True)  # nothing measured yet on this machine
    spec = job.RunSpec.make("in.mp4", "out.mp4", "style", offline=True)
    device = compute.default_device()
    said: list[str] = []
    work = (32, 56)  # far from every size another test tunes
    many = 10 ** 6  # frames: long enough to repay the tuning
    first = job.decide(spec, work, device, many, say=said.append)  # nothing kept near 112x64
    assert any("tuning style at 56x32" in line for line in said)
    assert any(line.startswith("dreamreel: tuned: ") for line in said)
    said.clear()
    again = job.decide(spec, work, device, many, say=said.append)
    assert again == first and not said
    request = tuning.Request(stages.stages("style"), *work, device)
    assert tuning.cached(request) == first
    # a short job at a size near a tuned one takes its choice without timing
    near = job.decide(spec, (40, 72), device, 10, say=said.append)
    assert near == first and not said
    # another upsampling is another graph: timed on its own, not given the default's choice
    bilinear = tuning.Request(stages.stages("style", {"upsampling": "bilinear"}), *work, device)
    assert bilinear.key() != request.key() and tuning.cached(bilinear) is None


def test_without_a_measurement_the_style_network_takes_xnnpack_where_onednn_is_off():
    """The rule a short job falls back on: TF Lite where TensorFlow would run its generic Eigen
    kernels (1.5-2.3x slower for the style network on both such CPUs measured), TensorFlow
    where oneDNN is on; a chain with a pipeline TF Lite cannot run stays on TensorFlow."""
    (TEST_HOME / "tuning.json").unlink(missing_ok=True)  # nothing measured yet on this machine
    device = compute.default_device()
    eigen = not compute.onednn_enabled() and "GPU" not in device.upper()
    short = 10  # frames: too few to repay tuning
    style = job.decide(job.RunSpec.make("in.mp4", "out.mp4", "style", offline=True),
                       (360, 640), device, short)
    assert (style.backend, style.batch) == (("lite", 1) if eigen else ("tf", 4))
    chain = job.decide(job.RunSpec.make("in.mp4", "out.mp4", "vintage,style", offline=True),
                       (360, 640), device, short)
    assert chain.backend == "tf"
    forced = job.decide(job.RunSpec.make("in.mp4", "out.mp4", "style", offline=True,
                                         backend="tf"), (360, 640), device, short)
    assert forced.backend == "tf"


SAVER = """
import sys, time
from pathlib import Path
from dreamreel.engine import tuning
trial = tuning.Trial(tuning.Choice("tf", "float32", False, 1), 10.0, 0.0, True)
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.001)
for i in range(150):
    tuning._save("this machine", f"{sys.argv[1]}-{i}", [trial])
"""


def test_two_jobs_tuning_at_once_both_keep_what_they_measured(isolated_home, tmp_path):
    """Two processes keeping measurements at the same moment (two jobs on one machine): each
    reads, merges and replaces tuning.json under a lock, so neither loses the other's."""
    go = tmp_path / "go"
    env = {**os.environ, "DREAMREEL_HOME": str(isolated_home)}
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, name, str(go)], env=env,
                               stdout=subprocess.PIPE, text=True) for name in "ab"]
    assert all(p.stdout.readline().strip() == "ready" for p in savers)
    go.touch()  # both start saving together
    assert all(p.wait(120) == 0 for p in savers)
    kept = json.loads((isolated_home / "tuning.json").read_text())["this machine"]
    assert sorted(kept) == sorted(f"{n}-{i}" for n in "ab" for i in range(150))
