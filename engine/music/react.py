"""Mappings from the music to settings: `--react strength=0.4+0.6*bass`, `--react style=beat:3,12`.

A mapping is `SETTING=EXPRESSION` or `SETTING=EVENT:V1,V2,...`:

- An expression is arithmetic (+ - * / **, parentheses, min, max) over numbers and sources:
  the sound's `rms`, `bass`, `mid`, `high` and `onset` (0..1 envelopes), the beat's `beat` (1 on
  each beat, falling to ~0 by the next), `bar` (the same on each bar's first beat) and `phase`
  (0..1 through each beat), and LFOs counted in beats: `sine(4)`, `saw(1/2)`, `square(1)`,
  `random(8)` (0..1; 1/16 to 64 beats; without a number, one beat). The value is clipped to the
  setting's range (an integer setting rounds it).
- `EVENT:V1,V2,...` steps through the values on every `beat`, `bar` or `onset`; a bare event
  name steps a text setting through its own choices (`kernel=bar`).

`strength` is the amount of the whole chain's change that reaches each frame; every other name
is a live setting of a stage in the chain (pipelines/settings.py), so it never recompiles.
"""

from __future__ import annotations

import ast
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from dreamreel.engine.music.features import Features
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines import settings

SOUND = ("rms", "bass", "mid", "high", "onset")
BEAT = ("beat", "bar", "phase")
LFOS = ("sine", "saw", "square", "random")
EVENTS = ("beat", "bar", "onset")
BEATS_PER_BAR = 4
LFO_BEATS = (1 / 16, 64.0)
STRENGTH = "strength"
TEMPO = (20.0, 400.0)  # BPM a --bpm may give
MAX_TEXT = 400  # characters in one mapping: room for any real one, none for a parser bomb
ONSET_EVENT = 0.5  # the onset envelope rising through this counts as one onset


class Music(Protocol):
    """What a mapping reads: a file's `Timeline`, or a live show's music."""

    def position(self, t: float) -> float:
        """Beats (fractional) at time t."""
        ...

    def source(self, name: str, t: float) -> float: ...

    def events(self, name: str, t: float) -> int:
        """How many beats, bars or onsets have come by time t."""
        ...


@dataclass(frozen=True)
class Timeline:
    """What sources read in a file: the sound's envelopes and the beats (seconds)."""

    features: Features | None
    beats: np.ndarray
    bpm: float | None

    @classmethod
    def make(cls, features: Features | None, bpm: float | None, seconds: float) -> Timeline:
        """The sound's own beats, or, without sound, a `bpm` grid from 0 over `seconds`."""
        if features is not None:
            return cls(features, features.beats, features.bpm)
        beats = np.arange(0.0, seconds + 60.0 / bpm, 60.0 / bpm) if bpm else np.zeros(0)
        return cls(None, beats, bpm)

    def position(self, t: float) -> float:
        """Beats since the first beat (fractional; the grid is extended at both ends)."""
        beats = self.beats
        if len(beats) < 2:
            period = 60.0 / (self.bpm or 120.0)
            return float(t - (beats[0] if len(beats) else 0.0)) / period
        k = int(np.searchsorted(beats, t, side="right")) - 1
        k = min(max(k, 0), len(beats) - 2)
        return float(k + (t - beats[k]) / (beats[k + 1] - beats[k]))

    def source(self, name: str, t: float) -> float:
        if name in SOUND:
            return float(self.features.at(name, t)) if self.features is not None else 0.0
        return beat_source(name, self.position(t))

    def events(self, name: str, t: float) -> int:
        """How many beats, bars or onsets have come by time t."""
        return self._onsets_by(t) if name == "onset" else beat_events(name, self.position(t))

    def _onsets_by(self, t: float) -> int:
        return int(np.searchsorted(self._onset_times, t, side="right"))

    @cached_property
    def _onset_times(self) -> np.ndarray:
        """When the onset envelope rises through ONSET_EVENT (found once, not every frame)."""
        if self.features is None:
            return np.zeros(0)
        times, curve = self.features.times, self.features.curves["onset"]
        rising = np.flatnonzero((curve[1:] >= ONSET_EVENT) & (curve[:-1] < ONSET_EVENT)) + 1
        return times[rising]


def beat_source(name: str, position: float) -> float:
    """`beat`, `bar` or `phase` where the beat count is `position`."""
    if name == "phase":
        return position % 1.0
    if name == "beat":
        return math.exp(-4.0 * (position % 1.0))  # 1 on the beat, 0.02 by the next
    return math.exp(-4.0 * (position % BEATS_PER_BAR))  # bar


def beat_events(name: str, position: float) -> int:
    """Beats (or bars) begun by beat count `position`."""
    return math.floor(position if name == "beat" else position / BEATS_PER_BAR) + 1


Reader = Callable[[Music, float], float]


@dataclass(frozen=True)
class Mapping:
    """One parsed `--react` mapping; `value(timeline, t)` is the setting's value at time t."""

    text: str
    setting: str
    entry: settings.Entry | None  # None for strength
    reader: Reader | None  # an expression
    event: str | None  # or a cycle stepped by an event
    values: tuple[Any, ...] = ()
    sources: frozenset[str] = frozenset()

    def value(self, timeline: Music, t: float, back: int = 0) -> Any:
        """The value at time t; a stepped one `back` steps earlier if asked (a fade's start)."""
        if self.event is not None:
            return self.values[(timeline.events(self.event, t) - 1 - back) % len(self.values)]
        low, high = (0.0, 1.0) if self.entry is None else (self.entry.knob.low, self.entry.knob.high)
        try:
            number = float(self.reader(timeline, t))
        except (ArithmeticError, ValueError):  # bass**-1 in silence, an overflow
            number = math.nan
        if not math.isfinite(number):  # no value: the bottom of the range
            number = 0.0 if low is None else low
        number = min(max(number, -math.inf if low is None else low), math.inf if high is None else high)
        kind = float if self.entry is None else self.entry.kind
        if kind is int:
            return round(number)
        if kind is bool:
            return number > 0.5
        return number


def quick(entries: dict[str, settings.Entry]) -> dict[str, settings.Entry]:
    """The settings music may move: not those that rebuild a network (a style image's)."""
    return {k: e for k, e in entries.items() if not e.knob.slow}


def parse(text: str, live: dict[str, settings.Entry]) -> Mapping:
    """A `--react` mapping against the chain's live settings (name -> Entry)."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"--react: a mapping of {len(text)} characters is more than "
                         f"{MAX_TEXT}; write a shorter one")
    name, sep, rule = text.partition("=")
    name, rule = name.strip(), rule.strip()
    if not sep or not name or not rule:
        raise UsageError(f"--react {text}: write SETTING=EXPRESSION, e.g. strength=0.4+0.6*bass")
    if name != STRENGTH and name not in live:
        names = ", ".join([STRENGTH, *sorted(live)])
        raise UsageError(f"--react {text}: '{name}' is no live setting of this chain "
                         f"(these are: {names})")
    entry = live.get(name) if name != STRENGTH else None
    event, colon, listed = rule.partition(":")
    if event.strip() in EVENTS and (colon or _is_text(entry)):
        values = _cycle(text, entry, listed) if colon else _choices(text, entry)
        return Mapping(text, name, entry, None, event.strip(), values,
                       frozenset({event.strip()}))
    if _is_text(entry):
        raise UsageError(f"--react {text}: '{name}' takes text: step it with EVENT:V1,V2 "
                         f"(events: {', '.join(EVENTS)})")
    reader, sources = _expression(text, rule)
    return Mapping(text, name, entry, reader, None, (), frozenset(sources))


def _is_text(entry: settings.Entry | None) -> bool:
    return entry is not None and entry.kind is str


def _cycle(text: str, entry: settings.Entry | None, listed: str) -> tuple[Any, ...]:
    values = [v.strip() for v in listed.split(",") if v.strip()]
    if not values:
        raise UsageError(f"--react {text}: no values after the ':'")
    try:
        if entry is None:
            return tuple(_unit_strength(text, v) for v in values)
        return tuple(entry.convert(v) for v in values)
    except SettingsError as err:
        raise UsageError(f"--react {text}: {err}") from None


def _unit_strength(text: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"--react {text}: strength {value} is not within 0..1")
    return number


def _choices(text: str, entry: settings.Entry) -> tuple[Any, ...]:
    steps = entry.knob.steps or entry.knob.choices
    if not steps:
        raise UsageError(f"--react {text}: '{entry.name}' has no list of values to step "
                         "through: name them, e.g. beat:3,12")
    return tuple(steps)


def _expression(text: str, rule: str) -> tuple[Reader, set[str]]:
    sources: set[str] = set()
    try:
        reader = _compile(text, ast.parse(rule, mode="eval").body, sources)
    except UsageError:
        raise
    except (SyntaxError, ArithmeticError, RecursionError, MemoryError, ValueError):
        raise UsageError(f"--react {text}: '{rule[:60]}' is not an expression dreamreel can "
                         "evaluate") from None
    return reader, sources


BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
          ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b if b else 0.0,
          ast.Pow: lambda a, b: abs(a) ** b}


def _compile(text: str, node: ast.AST, sources: set[str]) -> Reader:
    """The expression as a function of (timeline, t); anything but the grammar is refused."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        number = float(node.value)
        return lambda timeline, t: number
    if isinstance(node, ast.Name):
        if node.id in LFOS:
            return _lfo(node.id, 1.0, sources)
        if node.id not in SOUND + BEAT:
            raise UsageError(f"--react {text}: unknown source '{node.id}' (sources: "
                             f"{', '.join(SOUND + BEAT)}; LFOs: {', '.join(LFOS)})")
        sources.add(node.id)
        name = node.id
        return lambda timeline, t: timeline.source(name, t)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        op, left, right = BINARY[type(node.op)], _compile(text, node.left, sources), \
            _compile(text, node.right, sources)
        return lambda timeline, t: op(left(timeline, t), right(timeline, t))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner, sign = _compile(text, node.operand, sources), \
            -1.0 if isinstance(node.op, ast.USub) else 1.0
        return lambda timeline, t: sign * inner(timeline, t)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _call(text, node, sources)
    raise UsageError(f"--react {text}: '{ast.unparse(node)}' is not allowed here (numbers, "
                     "sources, + - * / **, min, max and LFOs)")


def _call(text: str, node: ast.Call, sources: set[str]) -> Reader:
    name = node.func.id
    if name in ("min", "max") and len(node.args) >= 2:
        parts = [_compile(text, a, sources) for a in node.args]
        pick = min if name == "min" else max
        return lambda timeline, t: pick(p(timeline, t) for p in parts)
    if name in LFOS and len(node.args) <= 1:
        beats = _constant(text, node.args[0]) if node.args else 1.0
        if not LFO_BEATS[0] <= beats <= LFO_BEATS[1]:
            raise UsageError(f"--react {text}: an LFO's period is 1/16 to 64 beats, not {beats:g}")
        return _lfo(name, beats, sources)
    raise UsageError(f"--react {text}: '{ast.unparse(node)}' is no function here "
                     f"(min, max, {', '.join(LFOS)} with a period in beats)")


def _constant(text: str, node: ast.AST) -> float:
    used: set[str] = set()
    reader = _compile(text, node, used)
    if used:
        raise UsageError(f"--react {text}: an LFO's period must be a number of beats, such "
                         "as 4 or 1/2")
    return reader(None, 0.0)


def _lfo(shape: str, beats: float, sources: set[str]) -> Reader:
    sources.add(f"{shape}({beats:g})")

    def read(timeline: Music, t: float) -> float:
        turns = timeline.position(t) / beats
        where = turns % 1.0
        if shape == "sine":
            return 0.5 - 0.5 * math.cos(2.0 * math.pi * where)  # 0 on the beat, 1 half way
        if shape == "saw":
            return where
        if shape == "square":
            return 1.0 if where < 0.5 else 0.0
        return (zlib.crc32(str(math.floor(turns)).encode()) % 10007) / 10006.0  # random

    return read
