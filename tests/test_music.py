"""Music: the sound's features and beats, and settings that follow them (`run --react`).

Beats are checked on click tracks at known tempi, muxed into real footage; envelopes on the
real soundtrack of Big Buck Bunny; and the end result as a user would: the output's change from
its input, frame by frame, against the feature it was mapped to.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import media
from music_helpers import clicks, mux
from run_helpers import FAST, dreamreel, probe

from dreamreel.engine.music import audio, features, react
from dreamreel.engine.music.reaction import live_settings
from dreamreel.engine.sampling import EvenSample
from dreamreel.engine.stages import stages

RATE = audio.RATE


def analysed(sound: np.ndarray, bpm: float | None = None) -> features.Features:
    return features.analyse(((i / RATE, sound[i: i + 4096]) for i in range(0, len(sound), 4096)),
                            bpm)


@pytest.mark.parametrize("bpm", [128.0, 100.0, 140.0, 87.0])
def test_a_click_track_gives_its_tempo_and_every_beat(bpm: float) -> None:
    sound, times = clicks(bpm, 16.0, first=0.4, rate=RATE)
    found = analysed(sound)
    assert abs(found.bpm - bpm) <= 1.0, found.bpm
    assert len(found.beats) == len(times)
    assert np.max(np.abs(found.beats - times)) < 0.025  # within a window or two of each click


def test_a_given_tempo_lands_its_grid_on_the_clicks() -> None:
    sound, times = clicks(120.0, 10.0, first=0.33, rate=RATE)
    found = analysed(sound, bpm=120.0)
    assert found.bpm == 120.0
    near = [np.min(np.abs(found.beats - t)) for t in times]
    assert np.max(near) < 0.025


def test_silence_has_no_beats_and_flat_envelopes() -> None:
    found = analysed(np.zeros(RATE * 4, np.float32))
    assert found.bpm is None and len(found.beats) == 0
    for curve in found.curves.values():
        assert not curve.any()


def test_real_music_envelopes_span_0_to_1_and_follow_the_trimmed_time() -> None:
    clip = media("audio/bbb_14s-19s_h264_aac.mp4")
    whole = features.analyse(audio.blocks(clip))
    assert 4.5 < whole.times[-1] < 5.2
    for name, curve in whole.curves.items():
        assert curve.min() >= 0.0 and curve.max() <= 1.0, name
        assert curve.max() > 0.9, name  # normalised to the loud end
        assert np.mean(curve > 0.1) > 0.2, name  # real sound, not one spike
    later = features.analyse(audio.blocks(clip, start=2.0, duration=2.0))
    assert later.times[0] < 0.05 and 1.9 < later.times[-1] < 2.0  # timed from --start
    t = np.linspace(0.2, 1.8, 200)
    ours = later.at("rms", t)
    same = np.corrcoef(ours, whole.at("rms", t + 2.0))[0, 1]
    shifted = np.corrcoef(ours, whole.at("rms", t + 2.3))[0, 1]
    assert same > 0.9 and same > shifted + 0.2, (same, shifted)


def test_mappings_read_sources_clip_to_range_and_step_on_events() -> None:
    live = {k: e for k, (e, _) in live_settings(stages("kernels", {})).items()}
    sound, _ = clicks(120.0, 6.0, first=0.5, rate=RATE)
    timeline = react.Timeline.make(analysed(sound), None, 6.0)
    beat_times = timeline.beats
    strength = react.parse("strength=0.2+0.8*bass", live)
    assert strength.sources == {"bass"}
    on, off = beat_times[2] + 0.02, beat_times[2] + 0.45
    assert strength.value(timeline, on) > 0.8 > 0.4 > strength.value(timeline, off)
    gain = react.parse("gain=100*beat", live)  # gain's range is 0..20
    assert gain.value(timeline, on) == 20.0
    kernel = react.parse("kernel=beat:sobel,blur", live)
    assert [kernel.value(timeline, b + 0.1) for b in beat_times[:4]] == ["sobel", "blur"] * 2
    cycle = react.parse("kernel=bar", live)  # a bare event steps through the choices
    assert cycle.value(timeline, beat_times[0] + 0.1) != cycle.value(timeline, beat_times[4] + 0.1)
    square = react.parse("strength=square(2)", live)
    assert [square.value(timeline, b + 0.1) for b in beat_times[:4]] == [1.0, 0.0, 1.0, 0.0]
    silent = react.Timeline.make(None, 120.0, 4.0)  # no sound: the --bpm grid from 0
    assert react.parse("strength=phase", live).value(silent, 0.75) == pytest.approx(0.5)
    bottom = {"strength": 0.0, "gain": live["gain"].knob.low}
    for undefined in ("strength=bass**-1", "gain=1e999-1e999", "gain=(phase*1e200)**2"):
        mapping = react.parse(undefined, live)  # no value: the bottom of the setting's range
        assert mapping.value(silent, 0.3) == bottom[mapping.setting]


def _bass_at_frames(clip: Path, times: np.ndarray) -> np.ndarray:
    return features.analyse(audio.blocks(clip)).at("bass", times)


def _change_from_input(output: Path, clip: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of the output: its time and its mean absolute change from the input frame."""
    made, given = probe(output, frames=True), probe(clip, frames=True)
    images = made["images"].astype(np.float32)
    change = np.abs(images - given["images"][: len(images)]).mean(axis=(1, 2, 3))
    return np.array(made["times"]), change


def test_a_long_runs_record_is_an_even_sample_of_bounded_size() -> None:
    """The per-frame record behind the summary and the plot: 100,000 frames kept as at most
    1,000 rows, evenly spaced from the first frame to the end."""
    record = EvenSample(1000)
    for frame in range(100_000):
        record.offer(lambda frame=frame: (frame / 24, 0.5, ()))
    times = np.array([row[0] for row in record]) * 24
    assert 500 <= len(times) < 1000
    assert times[0] == 0 and times[-1] > 100_000 - 2 * record.every
    assert set(np.diff(times)) == {record.every}


def test_a_music_video_pulses_with_its_own_bass(tmp_path: Path) -> None:
    sound, _ = clicks(128.0, 9.6)
    clip = mux(media("film/chaplin_silent.mp4"), sound, tmp_path / "chaplin_128.mp4")
    out, plot = tmp_path / "pulse.mp4", tmp_path / "pulse.png"
    result = dreamreel("run", clip, "-o", out, "--pipeline", "kernels", "--kernel", "sobel",
                       "--size", "180", "--temporal", "0", "--react", "strength=0.2+0.8*bass",
                       "--react-plot", plot, "--json", *FAST)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    facts = probe(out)
    assert facts["count"] == 241 and facts["size"] == (640, 360)
    assert facts["audio_codec"] == "aac" and facts["audio_seconds"] > 9.0
    music = summary["react"]
    assert music["sources"] == ["bass"] and music["sound"] is True
    assert abs(music["bpm"] - 128.0) < 1.0 and music["beats"] == 20
    times, change = _change_from_input(out, clip)
    r = np.corrcoef(change, _bass_at_frames(clip, times))[0, 1]
    assert r >= 0.6, r
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_lfo_on_a_silent_clip_follows_the_given_tempo(tmp_path: Path) -> None:
    clip, out = media("film/chaplin_silent.mp4"), tmp_path / "square.mp4"
    result = dreamreel("run", clip, "-o", out, "--pipeline", "kernels", "--kernel", "sobel",
                       "--size", "90", "--temporal", "0", "--duration", "4", "--bpm", "120",
                       "--react", "strength=square(2)", "--crf", "0", *FAST)
    assert result.returncode == 0, result.stderr
    times, change = _change_from_input(out, clip)
    on = (times % 1.0) < 0.5  # 120 BPM: a beat on, a beat off
    edge = np.abs((times % 0.5) - 0.25) > 0.2  # frames at a switch may round either way
    assert change[~on & ~edge].max() < 1.0  # left alone (the encoder's rounding only)
    assert change[on & ~edge].min() > 5.0


def test_beats_step_a_setting_on_the_frames_of_the_beat(tmp_path: Path) -> None:
    sound, beats = clicks(100.0, 6.0, first=0.5)
    clip = mux(media("film/chaplin_silent.mp4"), sound, tmp_path / "clip.mp4")
    out = tmp_path / "stepped.mp4"
    result = dreamreel("run", clip, "-o", out, "--pipeline", "kernels", "--size", "90",
                       "--temporal", "0", "--duration", "6", "--react",
                       "kernel=beat:sobel,emboss", *FAST)
    assert result.returncode == 0, result.stderr
    made = probe(out, frames=True)
    images, times = made["images"].astype(np.float32), np.array(made["times"])
    light = images.mean(axis=(1, 2, 3))  # emboss is mid-grey, Sobel's edges mostly black
    embossed = light > (light.min() + light.max()) / 2
    switches = np.flatnonzero(embossed[1:] != embossed[:-1]) + 1  # the first frame of each
    grid = np.arange(beats[0], times[-1], 0.6)  # the clicks, and the beat on after they stop
    landing = np.searchsorted(times, grid)  # the first frame at or after each beat
    assert len(switches) == len(landing), (switches, landing)
    assert np.all(np.abs(switches - landing) <= 1), (switches, landing)


@pytest.mark.parametrize("args, expected", [
    (("--react", "strength=0.4+0.6*bas"), "unknown source 'bas'"),
    (("--react", "colour=bass"), "'colour' is no live setting of this chain"),
    (("--react", "kernel=bass"), "'kernel' takes text: step it with EVENT:V1,V2"),
    (("--react", "strength=__import__('os')"), "is no function here"),
    (("--react", "strength=sine(100)"), "1/16 to 64 beats"),
    (("--react", "strength=sine(10**400)"), "is not an expression dreamreel can evaluate"),
    (("--react", "strength=" + "1+" * 300 + "1"), "is more than 400"),
    (("--react", "kernel=beat:sobel,nope"), "kernel"),
    (("--react", "strength"), "write SETTING=EXPRESSION"),
    (("--react", "strength=bass"), "has none (beat, bar, phase and LFOs work with --bpm)"),
    (("--react", "strength=beat"), "give --bpm"),
    (("--bpm", "120"), "--bpm, --react-plot and --react-fade go with --react"),
    (("--react", "strength=beat", "--bpm", "1000"), "--bpm must be within"),
    (("--react", "strength=beat", "--bpm", "120", "--ray"), "leave out --ray"),
    (("--react", "strength=beat", "--bpm", "120", "--react-plot", "p.txt"), "--react-plot must end in one of"),
])
def test_bad_mappings_exit_2_in_one_line(tmp_path: Path, args: tuple[str, ...],
                                         expected: str) -> None:
    out = tmp_path / "out.mp4"
    result = dreamreel("run", media("film/chaplin_silent.mp4"), "-o", out, "--pipeline",
                       "kernels", *(a if a != "p.txt" else tmp_path / a for a in args), *FAST)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("dreamreel: error: ") and expected in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_still_image_has_no_time_to_react_in(tmp_path: Path) -> None:
    result = dreamreel("run", media("content/coffee.png"), "-o", tmp_path / "out.png",
                       "--pipeline", "kernels", "--react", "strength=beat", "--bpm", "120", *FAST)
    assert result.returncode == 2 and "still image" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_sound_is_read_in_step_with_a_trimmed_clip(tmp_path: Path) -> None:
    sound, times = clicks(120.0, 9.0, first=0.25)
    clip = mux(media("film/chaplin_silent.mp4"), sound, tmp_path / "clip.mp4")
    found = features.analyse(audio.blocks(clip, start=3.0, duration=4.0))
    inside = times[(times > 3.05) & (times < 6.9)] - 3.0
    assert len(found.beats) == len(inside)
    assert np.max(np.abs(found.beats - inside)) < 0.03
    with av.open(str(clip)) as container:  # the clip really carries the clicks as AAC
        assert container.streams.audio[0].codec_context.codec.canonical_name == "aac"


def test_a_style_stepped_on_the_beat_crosses_over_during_the_fade(tmp_path: Path) -> None:
    clip = media("film/chaplin_silent.mp4")
    colours = {}
    for fade in ("0", "0.5"):  # at 60 BPM: at once, or over half a second (12.5 frames)
        out = tmp_path / f"fade{fade}.mp4"
        result = dreamreel("run", clip, "-o", out, "--size", "64", "--temporal", "0",
                           "--duration", "2", "--bpm", "60", "--react", "style=beat:3,19",
                           "--react-fade", fade, *FAST)
        assert result.returncode == 0, result.stderr
        colours[fade] = probe(out, frames=True)["images"].astype(np.float32).mean(axis=(1, 2))
    cut, faded = colours["0"], colours["0.5"]
    whole = np.linalg.norm(cut[30] - cut[20])  # style 3 -> 19 at the beat of 1 s (frame 25)
    assert np.linalg.norm(cut[25] - cut[24]) > 0.7 * whole
    steps = np.linalg.norm(np.diff(faded[22:42], axis=0), axis=1)
    assert steps.max() < 0.35 * whole, (steps, whole)  # spread over the fade's frames
    assert np.linalg.norm(faded[40] - cut[40]) < 0.1 * whole  # and then the same style
