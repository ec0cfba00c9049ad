"""`dreamreel styles learn`: a painting fitted into the fast network, stored, shared and used.

Real parts throughout: Hokusai's wave from ../shared/media/styles, frames of the Chaplin GIF,
the real multistyle26 and VGG16 weights. The fits are a few steps at 64 px (the quality of a
full fit is measured in benchmarks/learned_styles.py); what is checked here is what a user
relies on: the file, its record, the preview, the style in `run`, blends, live steps,
export/import, resume, Ctrl-C and the one-line refusals. The learned styles live in a cache
of their own (the networks linked from the suite's), so the other tests still see exactly the
26 built-in styles.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cache_with_networks, cli, media
from run_helpers import CLI, ctrl_c_after, read_rgb, user_env

QUICK = ["--size", "64", "--every", "2", "--offline"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the suite's networks and no learned style yet."""
    home = cache_with_networks(tmp_path_factory.mktemp("styles-home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DREAMREEL_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def wave(home: Path) -> tuple[Path, object]:
    """'wave', learned for 4 steps on the Chaplin GIF; (its file, what the command printed)."""
    result = cli("styles", "learn", media("styles/hokusai_great_wave.jpg"), "--name", "wave",
                 "--content", media("film/chaplin_3s.gif"), "--steps", "4", *QUICK)
    assert result.returncode == 0, result.stderr
    return home / "styles" / "wave.npz", result


def test_learn_stores_the_style_its_record_and_a_preview(wave, home: Path) -> None:
    from dreamreel.pipelines.style.layout import NORM_SHAPES
    from dreamreel.weights import learned

    path, result = wave
    assert "starting from built-in style" in result.stderr
    assert "step 4/4" in result.stderr and "ETA" in result.stderr
    params, meta = learned.read(path)
    painting = media("styles/hokusai_great_wave.jpg").read_bytes()
    assert meta["painting_sha256"] == hashlib.sha256(painting).hexdigest()
    assert meta["steps"] == 4 and meta["finished"] is True
    assert meta["settings"]["size"] == 64 and np.isfinite(meta["loss"])
    assert {k: v.shape for k, v in params.items()} == NORM_SHAPES
    # the fit moved away from the built-in style it started from
    from dreamreel import weights
    from dreamreel.pipelines.style.multistyle import MultiStyleNet

    start = MultiStyleNet(weights.load("multistyle26")).norm_params(meta["start"])
    assert max(float(np.abs(params[k] - start[k]).max()) for k in params) > 1e-3
    sheet = read_rgb(path.with_suffix(".png"))  # painting + 3 frames over their results
    assert sheet.shape == (128, 256, 3)
    assert not (home / "styles" / "partial" / "wave.npz").exists()  # finished: no checkpoint
    assert [p.name for p in (home / "styles").iterdir() if p.name.startswith(".")] == []

    listing = cli("styles")
    assert listing.returncode == 0
    assert "wave: from hokusai_great_wave.jpg, 4 steps at 64 px in " in listing.stdout
    assert "style wave:" in cli("weights", "list").stdout
    verified = cli("weights", "verify")
    assert verified.returncode == 0 and "wave.npz" not in verified.stdout, verified.stdout


def test_a_damaged_style_file_is_named_and_spares_the_others(wave, home: Path,
                                                             tmp_path: Path) -> None:
    broken = home / "styles" / "broken.npz"
    broken.write_bytes(wave[0].read_bytes()[:3000])  # a truncated copy
    try:
        verified = cli("weights", "verify", "--repair")
        assert verified.returncode == 2
        assert "broken.npz cannot be rebuilt" in verified.stdout
        assert broken.exists()  # the user's own work is never removed
        out = tmp_path / "built-in.png"
        ran = cli("run", media("content/coffee.png"), "--style", "3", "--size", "64", "-o", out,
                  "--offline")
        assert ran.returncode == 0 and "'broken' is left out" in ran.stderr, ran.stderr
        named = cli("run", media("content/coffee.png"), "--style", "broken", "--size", "64",
                    "-o", tmp_path / "broken.png", "--offline")
        assert named.returncode == 2 and "unknown style 'broken'" in named.stderr
    finally:
        broken.unlink()


def test_run_with_a_learned_style_matches_the_network(wave, tmp_path: Path) -> None:
    """`run --style wave` on a picture is the network with the learned scales and shifts,
    within a level of rounding; a blend with a built-in differs from both."""
    import tensorflow as tf

    from dreamreel import weights
    from dreamreel.pipelines.style.multistyle import MultiStyleNet
    from dreamreel.weights import learned

    small = cv2.resize(read_rgb(media("content/chelsea_cat.png")), (240, 160),
                       interpolation=cv2.INTER_AREA)  # the working size: nothing resized
    photo, out = tmp_path / "cat.png", tmp_path / "wave.png"
    cv2.imwrite(str(photo), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    ran = cli("run", photo, "--style", "wave", "--size", "160", "--precision", "float32",
              "-o", out, "--offline")
    assert ran.returncode == 0, ran.stderr
    styled = read_rgb(out)
    params, _ = learned.load("wave")
    net = MultiStyleNet(weights.load("multistyle26"))
    want = net.render(tf.constant(small[None], tf.float32) / 255.0,
                      {k: tf.constant(v)[None] for k, v in params.items()})[0].numpy()
    assert np.abs(styled / 255.0 - want).mean() < 2.0 / 255

    blend = tmp_path / "blend.png"
    assert cli("run", photo, "--style", "wave:0.5,3:0.5", "--size", "160", "-o", blend,
               "--offline").returncode == 0
    assert np.abs(read_rgb(blend).astype(float) - styled).mean() > 3


def test_learned_styles_join_the_live_steps_and_the_contact_sheet(wave, tmp_path: Path) -> None:
    from dreamreel.engine import stages

    built = stages.build(stages.stages("style", {"style": "wave"}), stages.context(offline=True))
    effect = built.graph
    from dreamreel.weights import learned

    names = learned.names()
    assert effect.live_steps()["style"] == [str(i) for i in range(26)] + names
    mix = effect.controls()["style_weights"]
    assert mix.shape == (26 + len(names),) and mix[26 + names.index("wave")] == 1.0
    sheet = tmp_path / "sheet.png"
    made = cli("styles", media("content/coffee.png"), "-o", sheet, "--size", "32", "--offline")
    assert made.returncode == 0, made.stderr
    assert "25, " + ", ".join(names) in made.stderr
    assert read_rgb(sheet).shape[0] == -(-(27 + len(names)) // 7) * 32  # rows of seven tiles


def test_export_and_import_round_trip(wave, tmp_path: Path) -> None:
    from dreamreel.weights import learned

    shared = tmp_path / "wave.npz"
    assert cli("styles", "export", "wave", "-o", shared).returncode == 0
    assert cli("styles", "import", shared, "--name", "wave-copy").returncode == 0
    original, copy = learned.load("wave")[0], learned.load("wave-copy")[0]
    assert all(np.array_equal(original[k], copy[k]) for k in original)
    clash = cli("styles", "import", shared)  # its own name, 'wave', is taken
    assert clash.returncode == 2 and "already a style called 'wave'" in clash.stderr
    learned.path_of("wave-copy").unlink()


@pytest.mark.parametrize("case", ["not an image", "tiny", "huge", "built-in name", "taken",
                                  "odd size"])
def test_bad_requests_are_one_line_and_leave_nothing(wave, home: Path, tmp_path: Path,
                                                     case: str) -> None:
    painting, name = media("styles/hokusai_great_wave.jpg"), "fresh"
    if case == "not an image":
        painting = tmp_path / "painting.jpg"
        painting.write_text("not a picture")
    elif case == "tiny":
        painting = tmp_path / "tiny.png"
        cv2.imwrite(str(painting), np.zeros((40, 40, 3), np.uint8))
    elif case == "huge":
        painting = tmp_path / "huge.png"
        cv2.imwrite(str(painting), np.zeros((8200, 8200, 3), np.uint8))
    elif case == "built-in name":
        name = "7"
    elif case == "taken":
        name = "wave"
    size = ["--size", "150"] if case == "odd size" else []
    before = sorted(p.name for p in (home / "styles").rglob("*"))
    result = cli("styles", "learn", painting, "--name", name, "--steps", "2", *QUICK, *size)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("dreamreel: error: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in (home / "styles").rglob("*")) == before


def test_ctrl_c_keeps_the_best_so_far_and_y_resumes(home: Path) -> None:
    env = user_env() | {"DREAMREEL_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    learn = [*CLI, "styles", "learn", str(media("styles/munch_the_scream.jpg")), "--name",
             "scream", "--content", str(media("content/chelsea_cat.png")), *QUICK]
    rest = ctrl_c_after([*learn, "--steps", "400"], env, "step 4/")
    assert "kept the best so far as 'scream'" in rest
    from dreamreel.weights import learned

    _, meta = learned.read(home / "styles" / "scream.npz")
    assert meta["finished"] is False and meta["steps"] >= 4
    assert (home / "styles" / "partial" / "scream.npz").exists()
    assert not [p for p in (home / "styles").rglob(".*")]  # no half-written file

    again = subprocess.run([*learn, "--steps", str(meta["steps"] + 2)], env=env, check=False,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "-y continues" in again.stderr  # not without -y
    resumed = subprocess.run([*learn, "--steps", str(meta["steps"] + 2), "-y"], env=env,
                             check=False,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming 'scream' at step {meta['steps']}" in resumed.stderr
    _, done = learned.read(home / "styles" / "scream.npz")
    assert done["finished"] is True and done["steps"] == meta["steps"] + 2
    assert not (home / "styles" / "partial" / "scream.npz").exists()


def test_the_temporal_pairs_line_up_along_their_flow() -> None:
    """A crop and the same crop of the frame before, 3 px apart: the flow the learner gets
    carries the frame before onto the crop where its mask trusts it (the temporal term's
    premise), while the pair itself is 3 px off."""
    import tensorflow as tf

    from dreamreel.engine.style_learning import Batches
    from dreamreel.pipelines.style.learn import bilinear_warp

    frame = read_rgb(media("content/chelsea_cat.png"))[:200, :200]
    before = np.roll(frame, 3, axis=1)  # the scene sat 3 px further right a frame earlier
    batch = Batches([(frame, before)], 96, temporal=True, seed=0)()
    warped = bilinear_warp(tf.constant(batch["pair"]), tf.constant(batch["flow"])).numpy()
    trusted = batch["mask"][..., 0] > 0.99
    assert trusted.mean() > 0.5
    err = np.abs(warped - batch["content"]).mean(axis=-1)
    assert err[trusted].mean() < 0.02
    assert np.abs(batch["pair"] - batch["content"]).mean() > 2 * err[trusted].mean()
