"""Onsets, loudness and band energies of a sound, in NumPy, as 0..1 envelopes over time.

The sound is cut into windows of N_FFT samples every HOP (11.6 ms at 22.05 kHz); each window
gives its RMS, the energy of three bands (bass 20-250 Hz, mid 250-4000 Hz, high above) and its
spectral flux (how much the log spectrum rose since the window before: an onset). Only those
numbers are kept, so an hour of sound holds a few megabytes. `finish` then normalises each one
by its loud end (the 99th percentile), so a quiet film and a loud club track both span 0..1,
and follows it with a fast attack and a slower release, so a kick reads as a pulse a frame can
see rather than a one-window spike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from dreamreel.engine.music import beats as beat_tracking
from dreamreel.engine.music.audio import RATE

N_FFT = 1024
HOP = 256
BANDS = {"bass": (20.0, 250.0), "mid": (250.0, 4000.0), "high": (4000.0, RATE / 2)}
RELEASE = {"rms": 0.25, "bass": 0.2, "mid": 0.2, "high": 0.15, "onset": 0.12}  # seconds
LOUD_END = 99.0  # percentile that counts as 1


@dataclass
class Analyser:
    """Feeds on sample blocks (in order, gaps allowed) and keeps the per-window numbers."""

    rate: int = RATE
    _tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _tail_time: float = 0.0
    _previous: np.ndarray | None = None  # the last window's log spectrum, for the flux
    _raw: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._window = np.hanning(N_FFT).astype(np.float32)
        freqs = np.fft.rfftfreq(N_FFT, 1.0 / self.rate)
        self._bands = {name: (freqs >= lo) & (freqs < hi) for name, (lo, hi) in BANDS.items()}
        self._raw = {name: [] for name in ("time", "rms", *BANDS, "flux")}

    def feed(self, when: float, samples: np.ndarray) -> None:
        """Samples starting at `when` seconds; a jump in time starts the windows afresh."""
        expected = self._tail_time + len(self._tail) / self.rate
        if len(self._tail) and abs(when - expected) > 1.5 / self.rate:
            self._tail = np.zeros(0, np.float32)
        if not len(self._tail):
            self._tail_time = when
        buffer = np.concatenate([self._tail, samples.astype(np.float32)])
        count = (len(buffer) - N_FFT) // HOP + 1
        if count > 0:
            self._windows(buffer, count)
            self._tail_time += count * HOP / self.rate
            buffer = buffer[count * HOP:]
        self._tail = buffer

    def _windows(self, buffer: np.ndarray, count: int) -> None:
        frames = np.lib.stride_tricks.sliding_window_view(buffer, N_FFT)[::HOP][:count]
        power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        log = np.log1p(100.0 * np.sqrt(power))
        before = np.concatenate([log[:1] if self._previous is None else self._previous[None],
                                 log[:-1]])
        self._previous = log[-1]
        raw = self._raw
        raw["time"].append(self._tail_time + (np.arange(count) * HOP + N_FFT / 2) / self.rate)
        raw["rms"].append(np.sqrt(np.mean(frames ** 2, axis=1)))
        for name, mask in self._bands.items():
            raw[name].append(np.sqrt(power[:, mask].sum(axis=1)) / N_FFT)
        raw["flux"].append(np.maximum(log - before, 0.0).mean(axis=1))

    def take(self) -> dict[str, np.ndarray]:
        """The windows computed since the last take: time (the window's centre, seconds), rms,
        bass, mid, high and flux, raw; a live show takes them as they come."""
        raw = {k: np.concatenate(v) if v else np.zeros(0) for k, v in self._raw.items()}
        self._raw = {k: [] for k in self._raw}
        return raw

    def finish(self, bpm: float | None = None) -> Features:
        """The envelopes, normalised and smoothed, with the beats (at `bpm` if given)."""
        raw = self.take()
        times = raw.pop("time")
        flux = raw.pop("flux")
        rate = self.rate / HOP
        curves = {name: follow(normalise(values), rate, RELEASE[name])
                  for name, values in raw.items()}
        curves["onset"] = follow(normalise(flux - np.median(flux) if len(flux) else flux),
                                 rate, RELEASE["onset"])
        found = beat_tracking.track(flux, rate, bpm)
        beats = np.interp(found.beats, np.arange(len(times)), times) if len(times) else found.beats
        return Features(times, curves, beats, found.bpm)


@dataclass(frozen=True)
class Features:
    """Envelopes in 0..1 at `times` (seconds), the beats found (seconds) and the tempo."""

    times: np.ndarray
    curves: dict[str, np.ndarray]
    beats: np.ndarray
    bpm: float | None

    def at(self, name: str, t: float | np.ndarray) -> float | np.ndarray:
        """An envelope at time(s) `t`, linearly interpolated (0 before and after the sound)."""
        if not len(self.times):
            return np.zeros_like(np.asarray(t, dtype=np.float64)) if np.ndim(t) else 0.0
        return np.interp(t, self.times, self.curves[name], left=0.0, right=0.0)


def analyse(blocks: Iterable[tuple[float, np.ndarray]], bpm: float | None = None,
            rate: int = RATE) -> Features:
    """The features of a whole sound, read block by block (see engine.music.audio.blocks)."""
    analyser = Analyser(rate)
    for when, samples in _coalesced(blocks, rate):
        analyser.feed(when, samples)
    return analyser.finish(bpm)


def _coalesced(blocks: Iterable[tuple[float, np.ndarray]], rate: int, size: int = 1 << 16
               ) -> Iterable[tuple[float, np.ndarray]]:
    """Consecutive blocks joined into ~3 s pieces: a codec's frames are a few hundred samples,
    and each feed has a fixed cost."""
    start, parts, count = 0.0, [], 0
    for when, samples in blocks:
        if parts and (count >= size or abs(when - (start + count / rate)) > 1.5 / rate):
            yield start, np.concatenate(parts)
            parts, count = [], 0
        if not parts:
            start = when
        parts.append(samples)
        count += len(samples)
    if parts:
        yield start, np.concatenate(parts)


def normalise(values: np.ndarray) -> np.ndarray:
    """0..1 with the loud end (LOUD_END percentile) at 1; silence stays 0."""
    if not len(values):
        return values
    top = np.percentile(values, LOUD_END)
    if top <= 1e-9:
        return np.zeros_like(values)
    return np.clip(values / top, 0.0, 1.0)


def follow(values: np.ndarray, rate: float, release: float) -> np.ndarray:
    """An envelope follower: it rises at once with the input and falls by e every `release`
    seconds, so a short hit lasts long enough to be seen."""
    if not len(values):
        return values
    decay = float(np.exp(-1.0 / (rate * release)))
    out = np.empty_like(values)
    level = 0.0
    for i, value in enumerate(values):  # ~90 windows a second: a minute is 5k steps
        level = max(float(value), level * decay)
        out[i] = level
    return out
