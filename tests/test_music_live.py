"""Music in a live show: the beat clock (tap, MIDI clock, the sound's own tempo), mappings
edited over real OSC, changes held to the beat, presets, and a show whose picture pulses with
a sound file standing in for the microphone, frame for frame on the show's clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import cli, media
from music_helpers import clicks, mux
from test_live import CLI, free_port, open_film, osc, program_state, scripted_show, wait_for

from dreamreel.engine.live.midi import MidiHandler
from dreamreel.engine.live.osc import OscServer
from dreamreel.engine.live.params import LiveState, Params, live_entries
from dreamreel.engine.live.presets import Presets
from dreamreel.engine.live.programs import compile_programs
from dreamreel.engine.music.live import BeatClock, Envelopes, FileSound, LiveMusic
from dreamreel.errors import SettingsError, UsageError


def kernel_state() -> LiveState:
    entries = live_entries(["kernels"])
    return LiveState(Params(pipeline="kernels", values={"kernel": "sobel", "gain": 1.0}),
                     ["kernels"], entries)


@pytest.fixture(scope="module")
def click_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sound, _ = clicks(128.0, 9.6, first=0.25)
    return mux(media("film/chaplin_silent.mp4"), sound,
               tmp_path_factory.mktemp("music") / "chaplin_128.mp4")


def test_tap_tempo_sets_tempo_and_puts_the_beat_on_the_tap() -> None:
    clock = BeatClock(120.0)
    for t in (10.0, 10.6, 11.2, 11.8):  # 100 BPM
        clock.tap(t)
    assert clock.bpm == pytest.approx(100.0) and clock.source == "tap"
    assert clock.position(11.8) % 1.0 == pytest.approx(0.0)  # a tap is a beat (counted on)
    assert clock.position(12.1) - clock.position(11.8) == pytest.approx(0.5)


def test_midi_clock_sets_tempo_and_start_sets_the_downbeat() -> None:
    state, calls = kernel_state(), []
    clock = BeatClock(120.0)
    state.on_clock = lambda kind, t: calls.append(kind)
    handler = MidiHandler(state, [])
    for kind in ("start", "clock", "stop"):  # the handler passes the transport on, unmapped
        handler(mido.Message(kind))
    assert calls == ["start", "clock", "stop"]
    clock.midi("start", 5.0)
    pulse = 60.0 / 96.0 / 24  # 96 BPM
    for n in range(72):  # the first pulse after Start is the downbeat
        clock.midi("clock", 5.0 + n * pulse)
    assert clock.bpm == pytest.approx(96.0, abs=0.01) and clock.source == "MIDI clock"
    assert clock.position(5.0 + 72 * pulse) == pytest.approx(3.0, abs=0.01)  # beat 3 after start


def test_the_sound_sets_the_tempo_when_nothing_else_does(click_clip: Path) -> None:
    clock, envelopes = BeatClock(120.0), Envelopes()
    sound = FileSound(click_clip, loop=False)
    for frame in range(0, 25 * 9):
        t = frame / 25
        sound.pump(t, envelopes)
        if frame % 25 == 0:
            clock.follow(envelopes, t)
    assert clock.source == "sound" and abs(clock.bpm - 128.0) < 1.5, clock.bpm
    counted = clock.position(9.0) - clock.position(1.0)  # re-estimates keep counting beats
    assert abs(counted - 8.0 * 128.0 / 60.0) < 1.0, counted
    beat = 60.0 / 128.0
    clicks_at = 0.25 + beat * np.arange(18)
    phase = [clock.position(t) % 1.0 for t in clicks_at[-6:]]  # the grid sits on the clicks
    assert all(min(p, 1 - p) < 0.1 for p in phase), phase
    pinned = BeatClock(90.0, fixed=True)  # --bpm: the sound never moves it
    pinned.follow(envelopes, 9.0)
    assert pinned.bpm == 90.0


def test_a_style_change_waits_for_the_next_beat() -> None:
    state = kernel_state()
    music = LiveMusic(state.entries, BeatClock(60.0, 0.0, fixed=True), quantise="beat")
    shown = [music.apply(state.snapshot(), 0.1).kernel]
    state.set("kernel", "emboss")
    state.set("gain", 3.0)  # numbers follow their fader at once
    for t in (0.3, 0.6, 0.95):
        params = music.apply(state.snapshot(), t)
        shown.append(params.kernel)
        assert params.gain == 3.0
    shown.append(music.apply(state.snapshot(), 1.0).kernel)
    assert shown == ["sobel", "sobel", "sobel", "sobel", "emboss"]
    bar = LiveMusic(state.entries, BeatClock(60.0, 0.0, fixed=True), quantise="bar")
    bar.apply(state.snapshot(), 0.1)
    state.set("kernel", "blur")
    assert bar.apply(state.snapshot(), 2.0).kernel == "emboss"
    assert bar.apply(state.snapshot(), 3.9, lead=0.2).kernel == "blur"  # early by the latency


def test_presets_are_saved_kept_in_a_file_and_recalled_over_beats(tmp_path: Path) -> None:
    state, path = kernel_state(), tmp_path / "presets.json"
    presets = Presets(state, path, tempo=lambda: 120.0)
    state.set("strength", 0.4)
    presets.save("verse")
    state.set("kernel", "emboss")
    state.set("strength", 1.0)
    state.commands["preset"] = presets.recall
    state.set("preset", "verse 4")  # over 4 beats at 120 BPM
    params = state.snapshot()
    assert (params.kernel, params.strength, params.crossfade) == ("sobel", 0.4, 2.0)
    assert json.loads(path.read_text())["verse"]["kernel"] == "sobel"
    assert Presets(kernel_state(), path).saved.keys() == {"verse"}  # kept for the next show
    state.set("kernel", "blur")
    presets.save("big drop")  # a name with a space, recalled whole
    state.set("kernel", "emboss")
    presets.recall("big drop")
    assert state.snapshot().kernel == "blur"
    with pytest.raises(SettingsError, match="no preset 'chorus'"):
        presets.recall("chorus 2")
    path.write_text("not json")
    with pytest.raises(UsageError, match="not a presets file"):
        Presets(state, path)


def test_mappings_are_set_and_cleared_over_osc(caplog: pytest.LogCaptureFixture) -> None:
    state = kernel_state()
    music = LiveMusic(state.entries, BeatClock(120.0, 0.0, fixed=True))
    state.commands.update(react=music.set, react_clear=music.clear)
    server = OscServer(state, free_port()).start()
    try:
        osc(server.port, "/dreamreel/react", "strength=square(1)")
        osc(server.port, "/dreamreel/react", "gain=1+beat*4")
        osc(server.port, "/dreamreel/react", "strength=bas")  # refused, the show goes on
        wait_for(lambda: server.received >= 3, "three OSC packets")
        assert sorted(music.mappings) == ["gain=1+beat*4", "strength=square(1)"]
        on, off = music.apply(state.snapshot(), 0.02), music.apply(state.snapshot(), 0.3)
        assert (on.strength, off.strength) == (1.0, 0.0)
        assert on.gain > 4.0 > off.gain
        osc(server.port, "/dreamreel/react_clear", "gain")
        wait_for(lambda: music.mappings == ["strength=square(1)"], "gain's mapping cleared")
    finally:
        server.stop()
    assert "unknown source 'bas'" in caplog.text


def test_a_show_pulses_with_the_sound_standing_in_for_the_microphone(click_clip: Path) -> None:
    capture, height, width = open_film()
    programs = compile_programs(["kernels"], {"kernel": "sobel"}, height, width, [64],
                                "/CPU:0", False, "float32")
    state = program_state(programs, crossfade=0.0)
    music = LiveMusic(state.entries, BeatClock(120.0), FileSound(click_clip),
                      ("strength=0.1+0.9*bass",))
    levels: list[float] = []  # the bass each frame was drawn with
    show, shown = scripted_show(state, capture, programs, 150, music=music)
    keep = show.on_frame

    def noting(captured, output: np.ndarray) -> None:
        levels.append(music.envelopes.level("bass"))
        keep(captured, output)

    show.on_frame = noting
    try:
        show.run()
    finally:
        capture.stop()
        music.close()
    change = np.array([np.abs(o.astype(np.float32) - i).mean() for _, i, o in shown])
    r = np.corrcoef(change, np.array(levels[: len(change)]))[0, 1]
    assert r >= 0.6, r
    assert abs(music.clock.bpm - 128.0) < 1.5 and music.clock.source == "sound"


def test_cli_show_reacts_and_says_its_tempo(tmp_path: Path, click_clip: Path) -> None:
    record = tmp_path / "show.mp4"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-c", CLI, "live", "--source", str(click_clip), "--loop", "--size",
           "64", "--pipeline", "kernels", "--kernel", "sobel", "--no-preview", "--duration",
           "6", "--record", str(record), "--audio-in", str(click_clip), "--react",
           "strength=0.1+0.9*bass", "--quantise", "beat", "--json"]
    began = time.perf_counter()
    done = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    music = json.loads(done.stdout.splitlines()[-1])["music"]
    assert music["mappings"] == ["strength=0.1+0.9*bass"] and music["quantise"] == "beat"
    assert music["tempo_from"] == "sound" and abs(music["bpm"] - 128.0) < 2.0
    assert record.stat().st_size > 0 and time.perf_counter() - began < 300


@pytest.mark.parametrize("args, expected", [
    (("--react", "strength=bass"), "add --audio-in"),
    (("--react", "colour=beat"), "'colour' is no live setting"),
    (("--audio-in", "nothing.wav"), "no such file"),
    (("--audio-in", "mic"), "--audio-in mic needs sounddevice"),  # not among the test extras
])
def test_cli_refuses_bad_music_in_one_line(tmp_path: Path, args: tuple[str, ...],
                                           expected: str) -> None:
    done = cli("live", "--source", media("film/chaplin_silent.mp4"), "--pipeline", "kernels",
               "--no-preview", "--duration", "1", "--record", tmp_path / "show.mp4", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("dreamreel: error: ") and expected in done.stderr
    assert list(tmp_path.iterdir()) == []
