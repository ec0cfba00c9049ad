"""Performer and stage (`--mask`): the selfie network rebuilt from its TF Lite weights against
a hand-made trimap of a real portrait, a clip where the performer crosses the frame through
`dreamreel run`, the steadied edge, the fixed-camera model, the live show's mask, dry/wet
fader and blackout, and refusals.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import dreamreel, probe, run_ok
from test_live import program_state, scripted_show, show_state

from dreamreel.engine.live.capture import Capture, FileReader
from dreamreel.engine.live.params import LiveState
from dreamreel.engine.live.programs import compile_programs
from dreamreel.engine.mask import Mask, MaskSpec
from dreamreel.errors import SettingsError

# A hand-made trimap of astronaut.png (512x512), boxes as (x0, y0, x1, y1): what is surely
# the astronaut (face, chest) and surely not (the flag and wall top left, the shuttle model).
PERSON = [(200, 60, 270, 140), (150, 250, 330, 400)]
STAGE = [(0, 0, 100, 100), (400, 0, 512, 150), (400, 150, 470, 240)]
# The clip: the astronaut, shrunk to SIDE, crossing a café table from left to right.
SIDE, WIDTH, HEIGHT, FRAMES, FPS = 320, 640, 360, 24, 12


def portrait() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(media("content/astronaut.png"))), cv2.COLOR_BGR2RGB)


def mean_in(alpha: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> float:
    return float(np.mean([alpha[y0:y1, x0:x1].mean() for x0, y0, x1, y1 in boxes]))


def left_of(frame: int) -> int:
    """Where the pasted portrait's left edge is in frame `frame`."""
    return 10 + 12 * frame


def crossing_clip(path: Path) -> Path:
    """FRAMES frames of WIDTHxHEIGHT: the portrait at SIDE px standing on the bottom edge of
    the coffee picture, moving right 14 px a frame; H.264 at high quality."""
    table = cv2.resize(cv2.cvtColor(cv2.imread(str(media("content/coffee.png"))),
                                    cv2.COLOR_BGR2RGB), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    person = cv2.resize(portrait(), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "12", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(FRAMES):
            frame = table.copy()
            x = left_of(i)
            frame[HEIGHT - SIDE:, x:x + SIDE] = person
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


def regions(frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the clip's frame: the pasted face (surely the performer) and the
    picture more than 24 px from the pasted square (surely the stage)."""
    scale, x, y = SIDE / 512, left_of(frame), HEIGHT - SIDE
    face = np.zeros((HEIGHT, WIDTH), bool)
    x0, y0, x1, y1 = PERSON[0]
    face[y + round(y0 * scale):y + round(y1 * scale), x + round(x0 * scale):x + round(x1 * scale)] = True
    stage = np.ones((HEIGHT, WIDTH), bool)
    stage[max(0, y - 24):, max(0, x - 24):x + SIDE + 24] = False
    return face, stage


def test_selfie_network_agrees_with_a_hand_made_trimap() -> None:
    image = portrait()
    alpha = Mask(MaskSpec("person", feather=0)).alpha(image)
    assert alpha.shape == image.shape[:2] and alpha.dtype == np.float32
    assert mean_in(alpha, PERSON) > 0.97, mean_in(alpha, PERSON)
    assert mean_in(alpha, STAGE) < 0.03, mean_in(alpha, STAGE)
    # The background mask is the same picture the other way round.
    stage = Mask(MaskSpec("background", feather=0)).alpha(image)
    np.testing.assert_allclose(stage, 1.0 - alpha, atol=1e-6)


def test_run_paints_only_the_performer_then_only_the_stage(tmp_path: Path) -> None:
    clip = crossing_clip(tmp_path / "crossing.mp4")
    source = probe(clip, frames=True)
    for who in ("person", "background"):
        out = tmp_path / f"{who}.mp4"
        result = run_ok(clip, "-o", out, "--pipeline", "kernels", "--kernel", "sobel",
                        "--mask", who, "--json")
        made = probe(out, frames=True)
        assert made["count"] == FRAMES and made["size"] == (WIDTH, HEIGHT)
        assert made["times"] == source["times"]
        coverage = json.loads(result.stdout)["mask"]["coverage"]
        person_share = coverage if who == "person" else 1 - coverage
        assert 0.12 < person_share < 0.35, coverage  # the portrait is 44% of the frame
        for i in (0, FRAMES // 2, FRAMES - 1):
            face, stage = regions(i)
            change = np.abs(made["images"][i].astype(int) - source["images"][i]).mean(axis=2)
            kept, painted = (stage, face) if who == "person" else (face, stage)
            assert change[kept].mean() < 3.5, (who, i, change[kept].mean())  # re-encoding: ~2
            assert change[painted].mean() > 25, (who, i, change[painted].mean())


def test_run_paints_the_performer_and_styles_the_stage(tmp_path: Path) -> None:
    clip = crossing_clip(tmp_path / "crossing.mp4")
    source = probe(clip, frames=True)
    out = tmp_path / "each.mp4"
    # --batch 4: both chains still go a frame at a time, in step, whatever batch is asked
    result = run_ok(clip, "-o", out, "--pipeline", "kernels", "--kernel", "sobel", "--mask",
                    "person", "--stage", "style", "--style", "6", "--batch", "4", "--json")
    assert json.loads(result.stdout)["mask"]["around"] == "style"
    made = probe(out, frames=True)
    assert made["count"] == FRAMES and made["times"] == source["times"]
    for i in (0, FRAMES - 1):
        face, stage = regions(i)
        picture = made["images"][i]
        black = picture.max(axis=2) < 25  # Sobel leaves much of the performer black
        change = np.abs(picture.astype(int) - source["images"][i]).mean(axis=2)
        assert black[face].mean() > 0.2, black[face].mean()
        assert change[stage].mean() > 20 and black[stage].mean() < 0.15  # styled, not Sobel


@pytest.mark.parametrize("two_way", [["--one-way"], ["--two-way"]], ids=["forward", "two-way"])
def test_run_writes_the_mask_as_alpha_in_prores_4444(tmp_path: Path, two_way: list[str]) -> None:
    clip = crossing_clip(tmp_path / "crossing.mp4")
    source = probe(clip, frames=True)
    out = tmp_path / "layer.mov"
    run_ok(clip, "-o", out, "--pipeline", "kernels", "--kernel", "sobel", "--mask", "person",
           "--alpha", *two_way)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores" and "yuva" in stream.codec_context.pix_fmt
        layers = [f.to_ndarray(format="rgba") for f in container.decode(stream)]
    assert len(layers) == FRAMES
    assert probe(out)["times"] == source["times"]
    for i in (0, FRAMES - 1):
        face, stage = regions(i)
        alpha = layers[i][..., 3].astype(float)
        assert alpha[face].mean() > 250 and alpha[stage].mean() < 5, i  # performer opaque
        camera = source["images"][i].astype(float)
        assert layers[i][..., :3][stage].mean() < 0.5 * camera[stage].mean()  # the effect alone


def test_steadied_edge_shimmers_less_on_a_noisy_camera() -> None:
    rng = np.random.default_rng(0)
    image = portrait().astype(np.float32)
    frames = [np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
              for _ in range(12)]

    def shimmer(steady: float) -> float:
        mask = Mask(MaskSpec("person", steady=steady, feather=0))
        alphas = [mask.alpha(f) for f in frames]
        edge = np.abs(alphas[0] - 0.5) < 0.45  # where the first mask is unsure
        return float(np.mean([np.abs(b - a)[edge].mean() for a, b in zip(alphas, alphas[1:], strict=False)]))

    raw, steadied = shimmer(0.0), shimmer(0.9)
    assert steadied < 0.6 * raw, (steadied, raw)


def test_still_model_takes_what_moves_in_front_of_a_fixed_camera() -> None:
    stage = cv2.resize(cv2.cvtColor(cv2.imread(str(media("content/coffee.png"))),
                                    cv2.COLOR_BGR2RGB), (320, 240))
    mask = Mask(MaskSpec("person", model="still", feather=0))
    for i in range(40):  # the empty stage, then a red ball rolling across it
        frame = stage.copy()
        centre = (40 + 10 * (i - 20), 120)
        if i >= 20:
            cv2.circle(frame, centre, 30, (230, 40, 40), -1)
        alpha = mask.alpha(frame)
    disc = np.zeros((240, 320), np.uint8)
    cv2.circle(disc, centre, 24, 1, -1)
    away = np.ones((240, 320), np.uint8)
    cv2.circle(away, centre, 40, 0, -1)
    assert alpha[disc > 0].mean() > 0.9
    assert alpha[away > 0].mean() < 0.02


def sobel_show(folder: Path, size: int) -> tuple[Capture, dict, LiveState]:
    """The crossing clip looping as a camera, a Sobel show compiled at `size` px for it, and
    its live parameters (no crossfade)."""
    clip = crossing_clip(folder / "crossing.mp4")
    capture = Capture(lambda: FileReader(clip, loop=True)).start()
    height, width = capture.mailbox.wait_newer(0, 10).image.shape[:2]
    programs = compile_programs(["kernels"], {"kernel": "sobel"}, height, width, [size], "/CPU:0",
                                False, "float32")
    return capture, programs, program_state(programs, crossfade=0.0)


def test_live_mask_wet_fader_and_blackout(tmp_path: Path) -> None:
    capture, programs, state = sobel_show(tmp_path, 120)
    state.can_mask = True
    cues = {3: {"mask": "background"}, 6: {"wet": 0.5}, 9: {"blackout": True}}
    show, shown = scripted_show(state, capture, programs, 12, cues,
                                mask=Mask(MaskSpec("person")))
    try:
        show.run()
    finally:
        capture.stop()
    frames = [(camera.astype(int), out.astype(int)) for _, camera, out in shown]
    full = [np.abs(o - c).mean() for c, o in frames[:3]]
    assert min(full) > 10  # no mask: the whole frame is the effect
    for camera, out in frames[4:6]:  # the stage painted, the performer (the face) kept
        person = Mask(MaskSpec("person", feather=0)).alpha(camera.astype(np.uint8)) > 0.95
        assert np.abs(out - camera)[person].mean() < 3
        assert np.abs(out - camera)[~person].mean() > 10
    wet = frames[7]  # half the effect: the face still kept, the stage half as far
    assert np.abs(wet[1] - wet[0]).mean() < 0.7 * np.mean(
        [np.abs(o - c).mean() for c, o in frames[4:6]])
    assert all(out.max() == 0 for _, out in frames[10:])  # blackout


def test_live_performer_painted_stage_styled(tmp_path: Path) -> None:
    clip = crossing_clip(tmp_path / "crossing.mp4")
    capture = Capture(lambda: FileReader(clip, loop=True)).start()
    height, width = capture.mailbox.wait_newer(0, 10).image.shape[:2]
    programs = compile_programs(["kernels", "style"], {"kernel": "sobel", "style": "6"}, height,
                                width, [120], "/CPU:0", False, "float32")
    state = program_state(programs, crossfade=0.0)
    state.can_mask = True
    state.set("mask", "person")
    cues = {3: {"stage": "style"}}
    show, shown = scripted_show(state, capture, programs, 8, cues, mask=Mask(MaskSpec("person")))
    try:
        show.run()
    finally:
        capture.stop()
    for index, (_, camera, out) in enumerate(shown):
        person = Mask(MaskSpec("person", feather=0)).alpha(camera) > 0.95
        stage = Mask(MaskSpec("background", feather=0)).alpha(camera) > 0.99
        change = np.abs(out.astype(int) - camera).mean(axis=2)
        black = out.max(axis=2) < 25  # Sobel leaves a third of the performer black
        assert black[person].mean() > 0.25 and out[person].mean() < 0.6 * camera[person].mean()
        if index < 3:  # the stage is the camera's picture
            assert change[stage].mean() < 3, (index, change[stage].mean())
        elif index > 3:  # the stage is painted: far from the camera, and not Sobel's black
            # (black on a styled stage: 0.02-0.15, by which camera frames the show caught;
            # under Sobel: 0.71-0.76)
            assert change[stage].mean() > 20 and black[stage].mean() < 0.3, index


def test_mask_refusals_are_one_line(tmp_path: Path) -> None:
    clip = media("film/chaplin_3s.gif")
    for args, expect in [
        (["--feather", "4"], "--mask-model and --feather go with --mask"),
        (["--mask", "person", "--feather", "-2"], "--feather -2"),
        (["--mask", "person", "--mask-steady", "1"], "--mask-steady 1"),
        (["--mask", "person", "--ray"], "leave out --ray"),
        (["--mask", "person", "--alpha"], "cannot hold an alpha channel"),
        (["--stage", "style"], "add --mask"),
    ]:
        result = dreamreel("run", clip, "-o", tmp_path / "out.mp4", *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("dreamreel: error:") and expect in result.stderr
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


def test_mask_switches_only_once_a_mask_is_loaded() -> None:
    state = show_state(["kernels"])
    with pytest.raises(SettingsError, match="start the show with --mask"):
        state.set("mask", "person")
    state.can_mask = True
    assert state.set("mask", "background").mask == "background"
    assert state.step("mask", 1).mask == "off"  # the m key: off, person, background, off
    assert state.set_unit("mask", 0.5).mask == "person"
