"""The tempo and the beats of an onset envelope.

Tempo: the autocorrelation of the envelope, weighted towards 120 BPM (a log-normal prior one
octave wide, as in Ellis 2007 and librosa), peaks at the beat period. Beats: dynamic programming
picks the onset-strong windows spaced near that period (Ellis, "Beat Tracking by Dynamic
Programming", 2007), each refined between windows, and the reported tempo is the slope of a line
fitted through them, which is far finer than the window spacing. With a given BPM the grid is
fixed and only its phase is chosen: the one that lands on the most onset strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEMPO_RANGE = (40.0, 240.0)  # BPM
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
TIGHTNESS = 100.0  # how dearly the DP pays for a beat off the period


@dataclass(frozen=True)
class Beats:
    """beats: positions in windows (fractional); bpm: the tempo (None without beats)."""

    beats: np.ndarray
    bpm: float | None


def track(flux: np.ndarray, rate: float, bpm: float | None = None) -> Beats:
    """The beats of an onset envelope sampled `rate` times a second (at `bpm` if given)."""
    envelope = standardised(flux)
    if bpm is not None:
        return Beats(grid(envelope, rate * 60.0 / bpm), bpm)
    if not len(envelope) or not envelope.any():
        return Beats(np.zeros(0), None)
    period = tempo_period(envelope, rate)
    if period is None:
        return Beats(np.zeros(0), None)
    beats = _refined(envelope, _trimmed(envelope, _dynamic(envelope, period)))
    if len(beats) < 4:
        return Beats(beats, 60.0 * rate / period)
    slope = np.polyfit(np.arange(len(beats)), beats, 1)[0]
    return Beats(beats, float(60.0 * rate / slope))


def tempo_period(envelope: np.ndarray, rate: float) -> float | None:
    """The beat period in windows: the prior-weighted autocorrelation's peak, refined."""
    lags = np.arange(len(envelope))
    size = 1 << int(np.ceil(np.log2(2 * len(envelope))))
    spectrum = np.fft.rfft(envelope - envelope.mean(), size)
    auto = np.fft.irfft(np.abs(spectrum) ** 2, size)[: len(envelope)]
    low, high = 60.0 * rate / TEMPO_RANGE[1], 60.0 * rate / TEMPO_RANGE[0]
    usable = (lags >= low) & (lags <= min(high, len(envelope) / 2))
    if not usable.any():
        return None
    bpm = 60.0 * rate / np.maximum(lags, 1)
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    weighted = np.where(usable, np.maximum(auto, 0) * prior, -np.inf)
    peak = int(np.argmax(weighted))
    if not np.isfinite(weighted[peak]) or weighted[peak] <= 0:
        return None
    return peak + _vertex(auto, peak)


def _dynamic(envelope: np.ndarray, period: float) -> np.ndarray:
    """Window indices of the best beat sequence: onset strength gained minus the squared log
    deviation of each gap from the period."""
    n = len(envelope)
    gaps = np.arange(max(1, round(period / 2)), round(2 * period) + 1)
    penalty = -TIGHTNESS * np.log(gaps / period) ** 2
    score = envelope.copy()
    back = np.full(n, -1)
    for t in range(gaps[0], n):
        reach = t - gaps
        ok = reach >= 0
        candidates = score[reach[ok]] + penalty[ok]
        best = int(np.argmax(candidates))
        if candidates[best] > 0:
            score[t] += candidates[best]
            back[t] = reach[ok][best]
    peaks = np.flatnonzero((score[1:-1] >= score[:-2]) & (score[1:-1] > score[2:])) + 1
    if not len(peaks):
        return np.zeros(0, int)
    # the last beat: the last such peak that is an onset itself (the cumulative score only
    # grows, so a quiet window a period after the music ends would outscore any real beat)
    onset = envelope[peaks] > envelope.mean() + 1.0
    strong = peaks[(score[peaks] > 0.5 * np.median(score[peaks])) & onset]
    beat = int(strong[-1]) if len(strong) else int(np.argmax(score))
    near = slice(max(0, beat - round(period / 4)), beat + round(period / 4) + 1)
    beat = near.start + int(np.argmax(envelope[near]))  # on the onset, not the score's bump
    found = [beat]
    while back[found[-1]] >= 0:
        found.append(int(back[found[-1]]))
    return np.array(found[::-1])


def _trimmed(envelope: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Without the beats that the DP laid over near silence before the music starts or after
    it ends: a leading or trailing beat whose onset is under a third of the typical beat's."""
    if not len(beats):
        return beats
    local = np.array([envelope[max(0, b - 2): b + 3].max() for b in beats])
    loud = np.flatnonzero(local >= np.median(local) / 3.0)
    return beats[loud[0]: loud[-1] + 1] if len(loud) else beats[:0]


def _refined(envelope: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Each beat moved to the vertex of a parabola through its window and its neighbours."""
    return np.array([b + _vertex(envelope, int(b)) for b in beats], dtype=np.float64)


def _vertex(values: np.ndarray, i: int) -> float:
    """The offset (-0.5..0.5) of the peak of a parabola through values[i-1..i+1]."""
    if i <= 0 or i >= len(values) - 1:
        return 0.0
    a, b, c = values[i - 1], values[i], values[i + 1]
    bend = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / bend, -0.5, 0.5)) if bend < 0 else 0.0


def grid(envelope: np.ndarray, period: float) -> np.ndarray:
    """Every `period` windows, at the phase that collects the most onset strength."""
    n = len(envelope)
    if n == 0:
        return np.zeros(0)
    phases = np.arange(max(1, int(np.ceil(period))))
    strength = [envelope[np.arange(p, n, period).round().astype(int).clip(0, n - 1)].sum()
                for p in phases]
    return np.arange(phases[int(np.argmax(strength))], n, period)


def standardised(flux: np.ndarray) -> np.ndarray:
    """The flux above its median (the steady rise that noise gives every window), in units
    of its spread."""
    if not len(flux):
        return flux.astype(np.float64)
    above = np.maximum(flux - np.median(flux), 0.0)
    spread = above.std()
    return (above / spread).astype(np.float64) if spread > 0 else np.zeros(len(flux))
