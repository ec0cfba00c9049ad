"""Music in a live show: the room's sound as envelopes, a beat clock, mappings a performer
edits mid-show, changes that land on the beat, and presets.

- `Envelopes`: the windows of `features.Analyser` as they arrive, normalised by a running loud
  end (the peak of the last ~10 s) instead of the whole clip's, and followed as in a file.
- A sound input is pumped once a frame with the show's time: `FileSound` plays a file (a
  stand-in for a microphone, in step with the show's clock, so a test is exact), `MicSound`
  takes a sound card through sounddevice (the `music` extra) on its own thread.
- `BeatClock`: tempo and phase from `--bpm`, tap tempo, MIDI clock (24 pulses a beat; Start
  puts the downbeat there), or, when none of those spoke in the last while, the sound's own
  onsets (the autocorrelation tempo of the last 8 s, phase on the strongest onsets).
- `LiveMusic`: the `--react` mappings (set and cleared by OSC), applied to each frame's
  parameters; with `quantise`, a change of pipeline or of a text setting (a style, a layer)
  waits for the next beat or bar, taken early by the capture-to-output latency, so it is on
  screen on the beat.
"""

from __future__ import annotations

import math
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dreamreel.engine.music import audio, beats, features, react
from dreamreel.engine.music.link import LinkSession
from dreamreel.errors import UsageError
from dreamreel.pipelines import settings

LOUD_MEMORY = 10.0  # seconds over which the running loud end forgets a peak
TEMPO_MEMORY = 8.0  # seconds of onsets the sound's own tempo is estimated from
PINNED = 8.0  # seconds a tap or MIDI clock keeps the sound from moving the tempo
CLOCK_PULSES = 24  # MIDI clock pulses per beat
BEATS_PER_BAR = react.BEATS_PER_BAR
QUANTISE = ("off", "beat", "bar")


class Envelopes:
    """The sound's envelopes, causal: each value is known once its window has been heard."""

    def __init__(self, rate: int = audio.RATE) -> None:
        self.analyser = features.Analyser(rate)
        self.window_rate = rate / features.HOP
        self._peaks = dict.fromkeys((*features.BANDS, "rms", "onset"), 1e-4)
        self._levels = dict.fromkeys(self._peaks, 0.0)
        self._baseline = 0.0  # the flux's running mean: what the noise floor gives every window
        self._forget = math.exp(-1.0 / (self.window_rate * LOUD_MEMORY))
        self._decay = {k: math.exp(-1.0 / (self.window_rate * r))
                       for k, r in features.RELEASE.items()}
        self.flux: deque[float] = deque(maxlen=round(TEMPO_MEMORY * self.window_rate))
        self.heard = 0.0  # the time of the newest window
        self.onsets = 0  # onset envelope rises through react.ONSET_EVENT so far
        self._lock = threading.Lock()

    def feed(self, when: float, samples: np.ndarray) -> None:
        self.analyser.feed(when, samples)
        raw = self.analyser.take()
        with self._lock:
            for i in range(len(raw["time"])):
                flux = float(raw["flux"][i])
                self._baseline += 0.01 * (flux - self._baseline)
                self.flux.append(flux)
                values = {k: float(raw[k][i]) for k in ("rms", *features.BANDS)}
                values["onset"] = max(flux - self._baseline, 0.0)
                for name, value in values.items():
                    self._update(name, value)
                self.heard = float(raw["time"][i])

    def _update(self, name: str, value: float) -> None:
        peak = self._peaks[name] = max(value, self._peaks[name] * self._forget, 1e-4)
        before = self._levels[name]
        level = self._levels[name] = max(min(value / peak, 1.0), before * self._decay[name])
        if name == "onset" and before < react.ONSET_EVENT <= level:
            self.onsets += 1

    def level(self, name: str) -> float:
        with self._lock:
            return self._levels[name]

    def recent_flux(self) -> np.ndarray:
        with self._lock:
            return np.array(self.flux)


class SoundInput(Protocol):
    name: str

    def pump(self, now: float, envelopes: Envelopes) -> None:
        """Hand the envelopes what has been heard by show time `now`."""
        ...

    def close(self) -> None: ...


class FileSound:
    """A sound file played in step with the show's clock (looping), instead of a microphone."""

    def __init__(self, path: Path, loop: bool = True) -> None:
        if not audio.has_sound(path):
            raise UsageError(f"--audio-in {path}: has no sound to listen to")
        self.path, self.loop, self.name = path, loop, Path(path).name
        self._started: float | None = None
        self._offset = 0.0  # show time of the current pass's start
        self._blocks: Iterator[tuple[float, np.ndarray]] = iter(())
        self._pending: tuple[float, np.ndarray] | None = None
        self._length = 0.0

    def pump(self, now: float, envelopes: Envelopes) -> None:
        if self._started is None:
            self._started = self._offset = now
            self._blocks = audio.blocks(self.path)
        while True:
            block = self._pending or next(self._blocks, None)
            self._pending = None
            if block is None:
                if not self.loop or self._length <= 0:
                    return
                self._offset += self._length
                self._blocks, self._length = audio.blocks(self.path), 0.0
                continue
            when, samples = block
            self._length = max(self._length, when + len(samples) / audio.RATE)
            if self._offset + when > now:
                self._pending = block
                return
            envelopes.feed(self._offset + when, samples)

    def close(self) -> None:
        self._blocks = iter(())


class MicSound:
    """A sound card's input through sounddevice (pip install 'dreamreel[music]'), read on its
    own thread; blocks are timed by the samples counted since the stream began."""

    def __init__(self, device: str | None) -> None:
        sounddevice = sound_library()
        self.name = f"mic {device or 'default'}"
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._samples = 0
        try:
            self._stream = sounddevice.InputStream(
                device=int(device) if device and device.isdigit() else device,
                channels=1, samplerate=audio.RATE, dtype="float32", callback=self._heard)
            self._began = time.perf_counter()  # the show's clock: blocks are timed on it
            self._stream.start()
        except Exception as err:  # PortAudioError, ValueError: no such device
            raise UsageError(f"--audio-in {self.name}: cannot open it ({err})") from None

    def _heard(self, data: np.ndarray, frames: int, when: Any, status: Any) -> None:
        self._queue.put((self._began + self._samples / audio.RATE, data[:, 0].copy()))
        self._samples += frames

    def pump(self, now: float, envelopes: Envelopes) -> None:
        while True:
            try:
                when, samples = self._queue.get_nowait()
            except queue.Empty:
                return
            envelopes.feed(when, samples)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def sound_library() -> Any:
    """sounddevice, or a UsageError saying how to install it."""
    try:
        import sounddevice
    except (ImportError, OSError) as err:  # OSError: no PortAudio library
        raise UsageError(f"--audio-in mic needs sounddevice ({err}): "
                         "pip install 'dreamreel[music]'") from None
    return sounddevice


def sound_file(spec: str) -> Path | None:
    """`--audio-in`'s file, None for `mic` or `mic:DEVICE`; a missing file is a UsageError."""
    if spec == "mic" or spec.startswith("mic:"):
        return None
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UsageError(f"--audio-in {spec}: no such file (or say mic, or mic:DEVICE)")
    return path


def open_sound(spec: str | None) -> SoundInput | None:
    """`--audio-in`: `mic`, `mic:DEVICE`, or a file standing in for one."""
    if spec is None:
        return None
    path = sound_file(spec)
    return MicSound(spec[4:] or None) if path is None else FileSound(path)


class BeatClock:
    """Where the beat is: position(t) counts beats (fractional) since the clock's anchor,
    or, joined to an Ableton Link session, where the session says."""

    def __init__(self, bpm: float = 120.0, anchor: float = 0.0, fixed: bool = False,
                 link: LinkSession | None = None) -> None:
        self._bpm, self.anchor, self.fixed, self.link = bpm, anchor, fixed, link
        self._source = "--bpm" if fixed else "default"
        self._pinned_until = -math.inf
        self._taps: list[float] = []
        self._pulses: deque[float] = deque(maxlen=CLOCK_PULSES + 1)
        self._count = 0
        self._lock = threading.Lock()

    @property
    def bpm(self) -> float:
        return self.link.tempo if self.link is not None else self._bpm

    @property
    def source(self) -> str:
        if self.link is not None:
            return f"Link, {self.link.peers} peer(s)"
        return self._source

    def position(self, t: float) -> float:
        with self._lock:
            return self._beats(t)

    def _beats(self, t: float) -> float:
        if self.link is not None:
            return self.link.position(t)
        return (t - self.anchor) * self._bpm / 60.0

    def _set(self, bpm: float, t: float, position: float | None = None) -> None:
        """A new tempo from time t, where the count of beats is `position` (a tap: the nearest
        whole beat; MIDI: the pulses counted), else where it was; proposed to Link if joined."""
        bpm = min(max(bpm, react.TEMPO[0]), react.TEMPO[1])
        if self.link is not None:
            self.link.set(bpm, t, position)
            return
        if position is None:
            position = self._beats(t)
        self.anchor, self._bpm = t - position * 60.0 / bpm, bpm

    def tap(self, t: float) -> None:
        """Tap tempo: each tap is a beat; two or more within 3 s set the tempo."""
        with self._lock:
            self._taps = [x for x in self._taps if t - x < 3.0][-7:] + [t]
            bpm = self.bpm
            if len(self._taps) >= 2:
                bpm = 60.0 / statistics.median(b - a for a, b in zip(self._taps, self._taps[1:],
                                                                         strict=False))
            self._set(bpm, t, round(self._beats(t)))
            self._source, self._pinned_until = "tap", t + PINNED

    def midi(self, kind: str, t: float) -> None:
        """MIDI clock: `start` (the downbeat is now), `clock` pulses (the beats are counted
        in them: 24 a beat), `stop`."""
        with self._lock:
            if kind == "start":
                self._pulses.clear()
                self._count = 0
                self.anchor = t
            elif kind == "clock":
                self._pulses.append(t)
                self._count += 1
                if len(self._pulses) > CLOCK_PULSES // 2:
                    gaps = np.diff(np.array(self._pulses))
                    bpm = 60.0 / (float(np.median(gaps)) * CLOCK_PULSES)
                    self._set(bpm, t, (self._count - 1) / CLOCK_PULSES)  # the first is beat 0
                self._source, self._pinned_until = "MIDI clock", t + PINNED

    def follow(self, envelopes: Envelopes, t: float) -> None:
        """Tempo and phase from the sound, unless a tap, MIDI, --bpm or Link has it."""
        with self._lock:
            if self.fixed or self.link is not None or t < self._pinned_until:
                return
        flux = envelopes.recent_flux()
        if len(flux) < 4 * envelopes.window_rate:
            return
        envelope = beats.standardised(flux)
        period = beats.tempo_period(envelope, envelopes.window_rate)
        if period is None:
            return
        grid = beats.grid(envelope, period)
        if not len(grid):
            return
        last = envelopes.heard - (len(flux) - 1 - grid[-1]) / envelopes.window_rate
        with self._lock:
            if t < self._pinned_until:  # a tap or a MIDI pulse came meanwhile: it wins
                return
            count = round(self._beats(last))  # the beat keeps its number: bars go on counting
            self._bpm = 60.0 * envelopes.window_rate / period
            self.anchor, self._source = last - count * 60.0 / self._bpm, "sound"


class LiveMusic:
    """The show's music: sources for the mappings (react.Music), the mappings, quantised
    changes."""

    FOLLOW_EVERY = 1.0  # seconds between re-estimates of the sound's tempo

    def __init__(self, entries: Mapping[str, settings.Entry], clock: BeatClock,
                 sound: SoundInput | None = None, mappings: tuple[str, ...] = (),
                 quantise: str = "off") -> None:
        self.entries, self.clock, self.sound = dict(entries), clock, sound
        self.envelopes = Envelopes()
        self.quantise = quantise
        self._mappings: dict[str, react.Mapping] = {}
        self._lock = threading.Lock()
        self._shown: dict[str, Any] | None = None  # the quantised parameters on screen
        self._asked_at: float | None = None
        self._followed = -math.inf
        for text in mappings:
            self.set(text)

    # --- the performer's ---
    def set(self, text: str) -> None:
        """Add a mapping, or replace the one for the same setting (UsageError if bad)."""
        mapping = react.parse(str(text), self.entries)
        if mapping.sources & set(react.SOUND) and self.sound is None:
            raise UsageError(f"--react {text}: reads the sound, but the show has no "
                             "--audio-in")
        with self._lock:
            self._mappings[mapping.setting] = mapping

    def clear(self, setting: str | None = None) -> None:
        with self._lock:
            if setting:
                self._mappings.pop(str(setting), None)
            else:
                self._mappings.clear()

    @property
    def active(self) -> bool:
        """Whether the music does anything (worth a line on the display)."""
        return bool(self._mappings) or self.sound is not None or self.quantise != "off"

    @property
    def mappings(self) -> list[str]:
        with self._lock:
            return [m.text for m in self._mappings.values()]

    # --- the show's, once a frame ---
    def apply(self, params: Any, now: float, lead: float = 0.0) -> Any:
        """The frame's parameters: quantised changes held back until the beat, then the
        mappings' values for time `now`."""
        if self.sound is not None:
            self.sound.pump(now, self.envelopes)
            if now - self._followed >= self.FOLLOW_EVERY:
                self.clock.follow(self.envelopes, now)
                self._followed = now
        params = self._quantised(params, now, lead)
        with self._lock:
            mappings = list(self._mappings.values())
        if not mappings:
            return params
        values = dict(params.values)
        strength = params.strength
        for m in mappings:
            value = m.value(self, now)
            if m.setting == react.STRENGTH:
                strength = float(value)
            else:
                values[m.setting] = value
        return replace(params, strength=strength, values=values)

    def _quantised(self, params: Any, now: float, lead: float) -> Any:
        if self.quantise == "off":
            return params
        asked = _text_parameters(params, self.entries)
        if self._shown is None or asked == self._shown:
            self._shown, self._asked_at = asked, None
            return _with(params, asked)
        if self._asked_at is None:
            self._asked_at = now
        unit = 1.0 if self.quantise == "beat" else float(BEATS_PER_BAR)
        if math.floor(self.position(now + lead) / unit) > math.floor(
                self.position(self._asked_at + lead) / unit):
            self._shown, self._asked_at = asked, None
        return _with(params, self._shown)

    # --- the Music protocol the mappings read ---
    def position(self, t: float) -> float:
        return self.clock.position(t)

    def source(self, name: str, t: float) -> float:
        if name in react.SOUND:
            return self.envelopes.level(name)
        return react.beat_source(name, self.position(t))

    def events(self, name: str, t: float) -> int:
        if name == "onset":
            return self.envelopes.onsets
        return react.beat_events(name, self.position(t))

    def osd(self, t: float) -> str:
        """One line for the on-screen display: tempo, its source, the beat in the bar."""
        beat = math.floor(self.position(t)) % BEATS_PER_BAR + 1
        line = f"{self.clock.bpm:.1f} BPM ({self.clock.source})  beat {beat}/{BEATS_PER_BAR}"
        if self.sound is not None:
            line += f"  bass {self.envelopes.level('bass'):.2f}"
        return line

    def close(self) -> None:
        if self.sound is not None:
            self.sound.close()
        if self.clock.link is not None:
            self.clock.link.close()


def _text_parameters(params: Any, entries: Mapping[str, settings.Entry]) -> dict[str, Any]:
    """What quantising holds back: the pipeline and the text settings (styles, layers)."""
    held = {"pipeline": params.pipeline}
    held.update({k: v for k, v in params.values.items()
                 if k in entries and entries[k].kind is str})
    return held


def _with(params: Any, held: dict[str, Any]) -> Any:
    values = {**params.values, **{k: v for k, v in held.items() if k != "pipeline"}}
    return replace(params, pipeline=held["pipeline"], values=values)

