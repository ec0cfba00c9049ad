"""`dreamreel live`: capture mailbox, controls (keys, real OSC packets, MIDI through the mapping),
a camera that drops out, the preview window under Xvfb, and the CLI recording a show.

A video file from ../shared/media stands in for the camera; working sizes are tiny so the
whole file runs in about a minute on two cores.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import cli, media

from dreamreel.engine.live.capture import Capture, FileReader, Mailbox
from dreamreel.engine.live.keys import handle_key
from dreamreel.engine.live.midi import MidiHandler, load_midi_map, midi_learn, save_midi_map
from dreamreel.engine.live.osc import OscServer
from dreamreel.engine.live.params import SHOW_PARAMS, LiveState, Params, live_entries
from dreamreel.engine.live.programs import (
    compile_programs,
    live_rules,
    live_values,
    parse_spec,
)
from dreamreel.engine.live.show import Show
from dreamreel.engine.media import Frame
from dreamreel.errors import SettingsError
from dreamreel.pipelines.dream.pipeline import layer_weights

ROOT = Path(__file__).resolve().parents[1]
# The live command on its own parser, so the test does not depend on its registration in cli.py.
CLI = ("import argparse, sys\n"
       "import dreamreel.engine.cli  # noqa: F401 (TensorFlow loads quietly)\n"
       "from dreamreel.engine.commands import live\n"
       "p = argparse.ArgumentParser(); live.add_parser(p.add_subparsers())\n"
       "a = p.parse_args(sys.argv[1:]); sys.exit(a.handler(a))\n")


def film() -> Path:
    return media("film/chaplin_silent.mp4")


def perform(show: Show, performer: Callable[[], None]) -> None:
    """Run the show while `performer` plays it from a thread of its own (as a VJ would)."""
    driver = threading.Thread(target=performer)
    driver.start()
    try:
        show.run()
    finally:
        driver.join()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def osc(port: int, address: str, value: object) -> None:
    from pythonosc.udp_client import SimpleUDPClient

    SimpleUDPClient("127.0.0.1", port).send_message(address, value)


def saturation(frames: list[np.ndarray]) -> float:
    """Mean per-pixel channel spread (max - min): ~0 for gray pictures."""
    stack = np.stack(frames).astype(np.int16)
    return float((stack.max(axis=-1) - stack.min(axis=-1)).mean())


# --- capture ---------------------------------------------------------------------------------

def test_mailbox_always_returns_the_newest_frame() -> None:
    box = Mailbox()
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            box.put(np.zeros((2, 2, 3), np.uint8))

    producer = threading.Thread(target=produce)
    producer.start()
    seen = 0
    try:
        for _ in range(200):
            got = box.wait_newer(seen, 1.0)
            assert got is not None and got.seq > seen
            newest = box.latest().seq
            assert got.seq <= newest  # never a frame from a stale queue...
            seen = got.seq
            time.sleep(0.001)  # a slow consumer: frames in between are dropped
    finally:
        stop.set()
        producer.join()
    assert seen > 200  # ...it skipped ahead rather than reading every frame
    assert box.wait_newer(box.latest().seq, 0.05) is None


class FlakyReader:
    """A camera stand-in that gives no picture (as a lost USB camera does) while `down` is set."""

    def __init__(self, inner: FileReader, down: threading.Event) -> None:
        self.inner, self.down, self.fps = inner, down, inner.fps

    def read(self) -> np.ndarray | None:
        if self.down.is_set():
            return None
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


class WindowStandIn:
    """Keeps what the show sends its preview, in order (the real window is tested under Xvfb
    below; this one lets a test read the pictures)."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[np.ndarray] = []

    def write(self, frame: Frame) -> None:
        self.sent.append(frame.image)

    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class FrameClock:
    """The show's clock in a test: it moves on 1/fps per frame shown, however fast the CPU is,
    so what a test sees depends on frames, never on wall-clock speed."""

    def __init__(self, fps: float = 25.0) -> None:
        self.now, self.step = 0.0, 1.0 / fps

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.step


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until `condition()` holds; the timeout only catches a hung show, never a slow one."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


# --- controls ----------------------------------------------------------------------------------

def show_state(specs: list[str], layers: tuple[str, ...] = (), **values: object) -> LiveState:
    """The live parameters of a show of these setlist entries as `dreamreel live` makes them,
    with nothing compiled (a dream's compiled layers are given), and starting `values`."""
    chains = [parse_spec(spec) for spec in specs]
    names = {stage.name for chain in chains for stage in chain}
    checks = {"layer": lambda value: layer_weights(value, list(layers))} if layers else {}
    params = Params(pipeline=specs[0], values={**live_values(chains), **values})
    return LiveState(params, specs, live_entries(names), checks,
                     {"layer": list(layers)} if layers else {})


def test_keys_change_parameters() -> None:
    state = show_state(["style", "vintage"])
    handle_key(state, "7")
    handle_key(state, "right")
    handle_key(state, "down")
    handle_key(state, "page down")
    handle_key(state, "space")
    params = state.snapshot()
    assert (params.style, params.strength, params.pipeline, params.freeze) == ("8", 0.9, "vintage", True)
    handle_key(state, "escape")
    assert state.quit.is_set()

    dreaming = show_state(["dream"], ("block3_conv3", "block4_conv3", "block5_conv1"),
                          layer="block4_conv3")
    for key in ("l", "l", ".", "."):
        handle_key(dreaming, key)
    assert (dreaming.snapshot().layer, dreaming.snapshot().step_size) == ("block3_conv3", 0.012)
    with pytest.raises(SettingsError, match="live layers: block3_conv3"):
        dreaming.set("layer", "block2_conv1")
    with pytest.raises(KeyError):  # no dream in this show
        state.set("layer", "block4_conv3")

    faces = show_state(["faces"], seed=4)
    for key in ("n", "n", "b", "=", "=", "s", "s"):
        handle_key(faces, key)
    assert (faces.snapshot().seed, faces.snapshot().tempo, faces.screenshots) == (5, 130.0, 2)
    handle_key(faces, "b")
    for t in (10.0, 10.5, 11.0, 11.52):  # four taps half a second apart: 120 bpm
        faces.tap(now=t)
    assert faces.snapshot().tempo == 120.0
    faces.tap(now=20.0)  # a tap long after the last starts a new count: tempo kept
    assert faces.snapshot().tempo == 120.0
    with pytest.raises(SettingsError, match="tempo 500 is not within 20..300"):
        faces.set("tempo", 500)


def test_setlist_specs_say_which_rule_they_break() -> None:
    chain = parse_spec("faces@0.5,vintage@0.6,style,dream")
    assert [(s.name, s.strength) for s in chain] == [
        ("faces", 0.5), ("vintage", 0.6), ("style", None), ("dream", None)]
    assert parse_spec("dream")[0].options.layer == "block3_conv3"  # the live default
    for spec, reason in (("style,faces", "can only start a chain"), ("dream,style", "last stage"),
                         ("gatys", "not a live pipeline"), ("paint", "unknown pipeline 'paint'"),
                         ("faces@2", "within 0..1")):
        with pytest.raises(SettingsError, match=reason):
            parse_spec(spec)


def test_osc_sets_parameters_and_survives_malformed_flood(caplog: pytest.LogCaptureFixture) -> None:
    state = show_state(["style", "vintage", "faces"])
    server = OscServer(state, 0).start()
    caplog.set_level(logging.WARNING, "dreamreel.live")
    try:
        osc(server.port, "/dreamreel/style", 12)
        osc(server.port, "/dreamreel/strength", 0.25)
        osc(server.port, "/dreamreel/pipeline", "vintage")
        osc(server.port, "/dreamreel/blend", "3:0.5,12:0.5")
        rng = random.Random(1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for i in range(300):
                raw.sendto(rng.randbytes(rng.randint(1, 64)), ("127.0.0.1", server.port))
                osc(server.port, "/dreamreel/strength", "loud")  # wrong type
                osc(server.port, "/dreamreel/style", 99)  # out of range
                osc(server.port, f"/nobody/{i % 3}", 1)  # unknown
        osc(server.port, "/dreamreel/seed", 42)
        osc(server.port, "/dreamreel/tempo", 90.0)
        osc(server.port, "/dreamreel/screenshot", 1)
        osc(server.port, "/dreamreel/screenshot", 0)  # the button's release: no second picture
        osc(server.port, "/dreamreel/freeze", 1)
        deadline = time.time() + 10
        while not state.snapshot().freeze and time.time() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    params = state.snapshot()
    assert (params.style, params.strength, params.pipeline, params.freeze) == (
        "3:0.5,12:0.5", 0.25, "vintage", True)
    assert (params.seed, params.tempo, state.screenshots) == (42, 90.0, 1)
    warnings = [r.getMessage() for r in caplog.records]
    for address in ("/dreamreel/strength", "/dreamreel/style", "/nobody/0", "/nobody/2"):
        assert sum(address in w for w in warnings) == 1, (address, warnings)
    assert len(warnings) <= 6  # once per address (+ once for non-OSC bytes), not 1200 lines


def test_midi_mapping_drives_parameters(tmp_path: Path) -> None:
    """mido messages injected into the handler: the stand-in for a controller we cannot plug in."""
    mido = pytest.importorskip("mido")
    toml = tmp_path / "map.toml"
    toml.write_text('[[map]]\ncc = 21\nparam = "strength"\nmin = 0.0\nmax = 0.5\n\n'
                    '[[map]]\ncc = 22\nparam = "style"\n\n'
                    '[[map]]\nnote = 36\nparam = "freeze"\n\n'
                    '[[map]]\nnote = 37\nparam = "pipeline"\nvalue = "vintage"\nchannel = 9\n\n'
                    '[[map]]\ncc = 23\nparam = "tempo"\n\n'
                    '[[map]]\ncc = 24\nparam = "seed"\nmax = 10\n\n'
                    '[[map]]\nnote = 38\nparam = "screenshot"\n')
    state = show_state(["style", "vintage", "faces"])
    handler = MidiHandler(state, load_midi_map(toml))
    handler(mido.Message("control_change", control=21, value=127))
    handler(mido.Message("control_change", control=22, value=127))
    handler(mido.Message("note_on", note=36, velocity=100))
    handler(mido.Message("note_on", note=37, velocity=100, channel=0))  # wrong channel
    handler(mido.Message("control_change", control=99, value=1))  # unmapped: ignored
    params = state.snapshot()
    assert (params.strength, params.style, params.freeze, params.pipeline) == (0.5, "25", True, "style")
    handler(mido.Message("note_on", note=37, velocity=100, channel=9))
    assert state.snapshot().pipeline == "vintage"
    handler(mido.Message("control_change", control=23, value=127))
    handler(mido.Message("control_change", control=24, value=64))
    handler(mido.Message("note_on", note=38, velocity=100))
    handler(mido.Message("note_on", note=38, velocity=0))  # note off as note_on 0: nothing
    assert (state.snapshot().tempo, state.snapshot().seed, state.screenshots) == (180.0, 5, 1)

    learned = midi_learn([mido.Message("control_change", control=5, value=3),
                          mido.Message("control_change", control=5, value=9),  # same knob again
                          mido.Message("note_on", note=40, velocity=90), None],
                         prompt=lambda text: None, params=("strength", "style", "freeze"))
    out = tmp_path / "learned.json"
    save_midi_map(out, learned)
    assert [(b.kind, b.number, b.param) for b in load_midi_map(out)] == [
        ("cc", 5, "strength"), ("note", 40, "style")]


# --- the show -----------------------------------------------------------------------------------

Shown = tuple[float, np.ndarray, np.ndarray]  # (show time, camera frame, output)


def scripted_show(state: LiveState, capture: Capture, programs: dict, frames: int,
                  cues: dict[int, dict] | None = None, **show_args: object
                  ) -> tuple[Show, list[Shown]]:
    """A show at 64 px on a FrameClock that keeps every frame, sets `cues[n]` once n frames
    are out (a performer who acts on what has been shown), and ends after `frames`."""
    shown: list[Shown] = []
    clock = FrameClock()

    def on_frame(captured, output: np.ndarray) -> None:
        shown.append((clock.now, captured.image, output))
        clock.tick()
        for key, value in (cues or {}).get(len(shown), {}).items():
            state.set(key, value)
        if len(shown) >= frames:
            state.quit.set()

    show = Show(state, capture, programs, [64], show_args.pop("outputs", []), on_frame=on_frame,
                clock=clock, **show_args)
    return show, shown


def test_show_recovers_a_lost_camera_and_keeps_going_under_an_osc_flood(
        caplog: pytest.LogCaptureFixture) -> None:
    down = threading.Event()
    capture = Capture(lambda: FlakyReader(FileReader(film(), loop=True), down)).start()
    first = capture.mailbox.wait_newer(0, 10)
    height, width = first.image.shape[:2]
    programs = compile_programs(["style"], {}, height, width, [48], "/CPU:0", False, "float32")
    state = program_state(programs, crossfade=0.0, osd=False, style="5")
    server = OscServer(state, 0).start()
    caplog.set_level(logging.INFO, "dreamreel.live")
    window = WindowStandIn()
    show, shown = scripted_show(state, capture, programs, 10**6, preview=window)
    marks: dict[str, int] = {}  # frames shown / pictures sent to the window at each moment

    def performer() -> None:
        try:
            wait_for(lambda: len(shown) >= 10, "10 frames")
            down.set()  # the camera stops giving pictures
            wait_for(lambda: capture.lost, "the loss to be noticed")
            marks["lost"], marks["lost_sent"] = len(shown), len(window.sent)
            wait_for(lambda: len(window.sent) >= marks["lost_sent"] + 5, "the window to repeat")
            marks["back_sent"] = len(window.sent)
            down.clear()
            wait_for(lambda: not capture.lost and len(shown) >= marks["lost"] + 10, "10 new frames")
            marks["flood"] = len(shown)
            rng = random.Random(2)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                while len(shown) < marks["flood"] + 15:  # the show goes on during the flood
                    raw.sendto(rng.randbytes(rng.randint(1, 200)), ("127.0.0.1", server.port))
                    osc(server.port, "/dreamreel/strength", [1, 2])
                    osc(server.port, f"/dreamreel/nothing{rng.randint(0, 2)}", "x")
                    time.sleep(0.0005)
            marks["flood_end"] = len(shown)
            osc(server.port, "/dreamreel/strength", 0.0)
            wait_for(lambda: state.snapshot().strength == 0.0, "the OSC strength")
            marks["plain"] = len(shown)
            wait_for(lambda: len(shown) >= marks["plain"] + 10, "10 plain frames")
        finally:
            state.quit.set()

    try:
        perform(show, performer)
    finally:
        server.stop()
        capture.stop()

    assert {"lost", "back_sent", "flood", "flood_end", "plain"} <= marks.keys(), marks
    lost_logs = [r for r in caplog.records if "camera lost, retrying" in r.getMessage()]
    assert len(lost_logs) == 1 and capture.losses == 1
    assert any("camera back" in r.getMessage() for r in caplog.records)
    assert server.received > 15  # the flood reached the server while frames kept coming
    # The window says so while the camera is away (white letters), and is clean again after.
    away = window.sent[marks["lost_sent"]:marks["back_sent"]]
    assert away and all((image[:40] == 255).all(axis=-1).sum() > 20 for image in away)
    outputs = [o for _, _, o in shown]
    after = window.sent[-5:]
    assert all(any(np.array_equal(image, o) for o in outputs[-20:]) for image in after)
    styled = [o for _, _, o in shown[: marks["lost"]]]
    plain = [(i, o) for _, i, o in shown[marks["plain"] + 2:]]
    assert saturation(styled) > 20  # style 5 colours the gray film
    assert max(np.abs(o.astype(int) - i).mean() for i, o in plain) < 2  # strength 0: the input


def program_state(programs: dict, **values: object) -> LiveState:
    """The live parameters of a compiled show, as `dreamreel live` makes them, with the show's
    own parameters and live settings changed by `values`."""
    chains = [p.chain for p in programs.values()]
    names = {stage.name for chain in chains for stage in chain}
    checks, choices = live_rules(programs)
    own = {k: v for k, v in values.items() if k in SHOW_PARAMS and k != "pipeline"}
    settings = {k: v for k, v in values.items() if k not in own}
    params = Params(pipeline=next(iter(programs)), values={**live_values(chains), **settings},
                    **own)
    return LiveState(params, list(programs), live_entries(names), checks, choices)


def open_film() -> tuple[Capture, int, int]:
    """The film looping as a camera, once its first frame is in: (capture, height, width)."""
    capture = Capture(lambda: FileReader(film(), loop=True)).start()
    first = capture.mailbox.wait_newer(0, 10)
    return capture, *first.image.shape[:2]


def test_live_dream_deepens_on_a_still_scene_and_switches_layers_without_tracing() -> None:
    capture, height, width = open_film()
    programs = compile_programs(["dream"], {"step_size": 0.02}, height, width, [64], "/CPU:0",
                                False, "float32")
    dreamer = programs["dream"].built.sequential.effect.dreamer
    traced = len(dreamer._steps)
    state = program_state(programs, freeze=True, crossfade=0.0)
    switch = 6  # frames before the layer switch
    cues = {switch: {"layer": "block3_conv3", "step_size": 0.03}}
    show, shown = scripted_show(state, capture, programs, switch + 4, cues)
    try:
        show.run()
    finally:
        capture.stop()
    before, after = shown[:switch], [o for _, _, o in shown[switch + 1:]]
    change = [np.abs(o.astype(int) - i).mean() for _, i, o in before]
    # Frozen scene: each frame adds steps to the carried dream, so it departs further.
    assert change[-1] > 1.5 * change[0] > 0, change
    assert len(dreamer._steps) == traced  # no new graph for the switch
    # block3_conv3's finer patterns: the output after the switch differs from the one before.
    assert np.abs(after[-1].astype(int) - before[-1][2]).mean() > 3


def test_live_faces_walk_at_the_live_tempo_over_the_camera() -> None:
    """GAN faces as a live pipeline: the tempo sets how fast the faces change, the strength
    mixes them over the camera, a chain paints them, and nothing is traced during the show."""
    capture, height, width = open_film()
    programs = compile_programs(["faces", "faces,style"], {"style": "5", "seed": 3}, height,
                                width, [64], "/CPU:0", False, "float32")
    renderer = programs["faces"].renderers[0]
    traced = renderer._fn.experimental_get_tracing_count()
    state = program_state(programs, crossfade=0.0, tempo=300.0)
    # 25 frames a second of show time: 2 s at 300 bpm, 2 s at 20 bpm, painted, then the camera.
    cues = {50: {"tempo": 20.0}, 100: {"pipeline": "faces,style"},
            125: {"pipeline": "faces", "strength": 0.0}}
    show, shown = scripted_show(state, capture, programs, 140, cues)
    try:
        show.run()
    finally:
        capture.stop()

    def motion(frames: list[Shown]) -> float:
        """Mean absolute change of the output per second of show time."""
        outs = [o.astype(np.float32) for _, _, o in frames]
        change = sum(np.abs(b - a).mean() for a, b in zip(outs, outs[1:], strict=False))
        return change / (frames[-1][0] - frames[0][0])

    fast, slow = motion(shown[2:50]), motion(shown[52:100])
    print(f"change per second: {fast:.0f} at 300 bpm, {slow:.0f} at 20 bpm")
    assert fast > 3 * slow, (fast, slow)
    faces, painted, camera = shown[:100], shown[103:125], shown[127:]
    assert min(np.abs(o.astype(int) - i).mean() for _, i, o in faces) > 30  # faces, not the film
    assert saturation([o for _, _, o in faces]) > 15
    assert np.abs(painted[-1][2].astype(int) - faces[-1][2]).mean() > 10  # style 5 on the faces
    assert max(np.abs(o.astype(int) - i).mean() for _, i, o in camera) < 2  # strength 0: the film
    assert renderer._fn.experimental_get_tracing_count() == traced


def test_cli_records_a_show_steered_by_osc(tmp_path: Path) -> None:
    record = tmp_path / "show.mp4"
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-c", CLI, "live", "--source", str(film()), "--loop", "--size", "64",
           "--style", "0", "--crossfade", "0", "--no-preview", "--duration", "7",
           "--record", str(record), "--record-chroma", "444", "--osc", str(port), "--json",
           "--screenshots", str(tmp_path / "shots")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # compiled..., then "live ... -> recording": the show has begun
        lines.append(line)
        if line.startswith("dreamreel: live"):
            break
    time.sleep(2.0)  # the pauses only spread the changes out; the verdict reads frame order
    osc(port, "/dreamreel/style", 19)
    time.sleep(1.0)
    osc(port, "/dreamreel/screenshot", 1)
    time.sleep(1.0)
    osc(port, "/dreamreel/strength", 0.0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, "".join(lines) + err
    print("\n" + "".join(lines) + err.strip())

    with av.open(str(record)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) >= 10
    assert decoded[0].shape == (360, 640, 3)
    # Style 0, then style 19, then the plain gray film: three runs of frames, in that order.
    means = [f.mean(axis=(0, 1)) for f in decoded]
    plain = [saturation([f]) < 3 for f in decoded]
    first_plain = plain.index(True)
    assert not any(plain[:first_plain]) and all(plain[first_plain:])
    switched = next(i for i, m in enumerate(means) if np.abs(m - means[0]).max() > 10)
    assert 0 < switched < first_plain, (switched, first_plain)
    styled = decoded[switched:first_plain]
    assert saturation(styled) > 3
    assert '"frames"' in out
    shots = list((tmp_path / "shots").iterdir())
    assert [p.suffix for p in shots] == [".png"], shots  # one, whole (no .part left)
    shot = cv2.cvtColor(cv2.imread(str(shots[0])), cv2.COLOR_BGR2RGB)
    assert shot.shape == (360, 640, 3) and saturation([shot]) > 3  # the styled picture, no OSD


def test_cli_refuses_bad_shows_in_one_line(tmp_path: Path) -> None:
    """Exit 2, one line, no traceback, nothing written; the --source survives even with -y."""
    source = tmp_path / "set.mp4"
    shutil.copy(film(), source)
    before = source.read_bytes()
    common = ["live", "--no-preview", "--duration", "1"]
    cases = [
        (["--source", str(source), "--record", str(source), "-y"], "would overwrite the --source"),
        (["--source", str(source), "--setlist", str(tmp_path / "gig.txt")], "no such file"),
        (["--source", str(source), "--size", "0"], "--size must be at least 16"),
        (["--size", "64"], "--camera N or --source"),
        (["--source", str(source), "--size", "abc"], "invalid int value"),
    ]
    for args, message in cases:  # in this process: each is refused before a show starts
        result = cli(*common, *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, lines)
        assert "Traceback" not in result.stderr
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.mp4"]


# --- preview window -----------------------------------------------------------------------------

def test_preview_window_under_xvfb() -> None:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (apt-get install xvfb): cannot open a real window headless")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    pygame = pytest.importorskip("pygame")
    display = f":{free_port() % 1000 + 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "640x480x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        time.sleep(1.0)
        from dreamreel.engine.live.outputs import Preview

        preview = Preview(160, 120)
        image = np.zeros((120, 160, 3), np.uint8)
        image[:, :80] = (255, 0, 0)
        image[:, 80:] = (0, 0, 255)
        preview.write(Frame(image=image, index=0, pts=0.0))
        shown = pygame.surfarray.array3d(pygame.display.get_surface()).transpose(1, 0, 2)
        assert shown.shape == image.shape and np.array_equal(shown, image)
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RIGHT))
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        assert preview.poll() == ["right"] and preview.closed
        preview.close()
    finally:
        if saved is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = saved
        xvfb.terminate()
        try:
            xvfb.wait(timeout=5)
        except subprocess.TimeoutExpired:
            xvfb.kill()
            xvfb.wait()
