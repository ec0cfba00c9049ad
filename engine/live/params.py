"""Live parameters: the show's own and every compiled pipeline's live settings, in one place.

Everything a performer can touch lives in one `LiveState`. Keys (from the preview window), OSC
(a UDP thread) and MIDI (mido's callback thread) all go through `LiveState.set`, `step`,
`toggle` and `set_unit`, which validate under one lock and bump a version number; the show
loop takes a `snapshot()` once per frame, so it never waits on a controller and never sees half
an update.

The show's own parameters (pipeline, strength, temporal, crossfade, freeze, osd, wet,
blackout, mask, stage) are fixed here; the others come from the settings the compiled pipelines
declare `live` (a style, a dream layer, a tempo), each with its type, range, keys and OSC
address from its declaration.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from dreamreel.errors import SettingsError
from dreamreel.pipelines import registry, settings

log = logging.getLogger("dreamreel.live")

MAX_CROSSFADE = 30.0  # seconds; a longer fade is a mistake, not a performance
TEMPORAL_ON = 0.5  # the weight the `t` key switches the stabiliser on to
TAP_WINDOW = 3.0  # seconds: taps further apart start a new tap-tempo count
TEMPO = "tempo"  # the live setting tap tempo sets
SHOW_PARAMS = ("pipeline", "strength", "temporal", "crossfade", "freeze", "osd", "wet",
               "blackout", "mask", "stage")
CAMERA = "camera"  # the `stage` that is the camera's own picture
SWITCHES = ("freeze", "osd", "blackout")  # the show's on/off parameters
MASKS = ("off", "person", "background")  # where the effect shows (engine.mask)


@dataclass(frozen=True)
class Params:
    """One consistent set of live parameters (a snapshot; change them through LiveState).

    values: the pipelines' live settings by name (style, layer, tempo, ...); `params.style`
    reads one of them.
    """

    pipeline: str = "style"
    strength: float = 1.0
    temporal: float = 0.0  # Stabiliser weight, 0 = off
    crossfade: float = 0.5  # seconds over which a style or pipeline change fades in
    freeze: bool = False  # keep stylizing the last captured frame
    osd: bool = True
    wet: float = 1.0  # the dry/wet fader: 0 sends the camera's picture, 1 the effect
    blackout: bool = False  # send black (and, with a mask's alpha, nothing)
    mask: str = "off"  # the effect on the performer (person), the stage (background) or all
    stage: str = CAMERA  # what shows where the effect does not: the camera, or another pipeline
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)


def live_entries(pipeline_names: Iterable[str]) -> dict[str, settings.Entry]:
    """The live settings the named pipelines declare, by name (the first declaration wins)."""
    found: dict[str, settings.Entry] = {}
    for name in pipeline_names:
        for entry in settings.entries(registry.get(name).settings):
            if entry.knob.live and entry.name not in SHOW_PARAMS:
                found.setdefault(entry.name, entry)
    return found


def _unit(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise SettingsError(f"{number} is not within 0..1")
    return number


def _seconds(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= MAX_CROSSFADE:
        raise SettingsError(f"{number} is not within 0..{MAX_CROSSFADE:g} seconds")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    if not math.isfinite(value):
        raise SettingsError(f"a switch takes 0 or 1, not {value}")
    return bool(int(value))


class LiveState:
    """The thread-safe home of every live parameter.

    pipelines: the setlist's pipelines; only these can be switched to.
    entries: the live settings of the compiled pipelines (`live_entries`).
    checks: a show's own test of a value it alone can judge (a layer it compiled), by name.
    choices: the steps of a text setting that the show defines (the compiled layers).
    commands: names that act on a value rather than hold one (`react`, `preset`), reached
      like parameters: `set(name, value)`, OSC `/dreamreel/<name>`, a MIDI note's value.
    can_mask: whether the show loaded a person mask (`--mask`), so `mask` can leave "off".
    on_change: who hears each parameter's new value (name, value) once it is set: OSC echo.
    on_tap, on_clock: who else hears a tap (time) and MIDI clock messages (kind, time): the
      show's beat clock.
    """

    def __init__(self, params: Params, pipelines: list[str],
                 entries: Mapping[str, settings.Entry] | None = None,
                 checks: Mapping[str, Callable[[Any], Any]] | None = None,
                 choices: Mapping[str, list[str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._params = params
        self.pipelines = list(pipelines)
        self.entries = dict(entries or {})
        self.checks = dict(checks or {})
        self.choices = {name: list(c) for name, c in (choices or {}).items()}
        self.version = 0
        self.quit = threading.Event()
        self.screenshots = 0  # screenshots asked for so far; the show takes one per new request
        self._taps: list[float] = []
        self.commands: dict[str, Callable[[Any], Any]] = {}
        self.on_tap: Callable[[float], None] | None = None
        self.on_clock: Callable[[str, float], None] | None = None
        self.can_mask = False
        self.on_change: list[Callable[[str, Any], None]] = []
        self._show: dict[str, Callable[[Any], Any]] = {
            "pipeline": self._pipeline, "strength": _unit, "temporal": _unit,
            "crossfade": _seconds, "freeze": _flag, "osd": _flag, "wet": _unit,
            "blackout": _flag, "mask": self._mask, "stage": self._stage,
        }

    @property
    def names(self) -> list[str]:
        return [*SHOW_PARAMS, *self.entries, *self.commands]

    def snapshot(self) -> Params:
        with self._lock:
            return self._params

    def value(self, name: str) -> Any:
        params = self.snapshot()
        return getattr(params, name) if name in SHOW_PARAMS else params.values[name]

    def set(self, name: str, value: Any) -> Params:
        """Validate and set one parameter (or run a command); raises SettingsError or
        UsageError (bad value) or KeyError (name)."""
        if name in self.commands:
            self.commands[name](value)
            return self.snapshot()
        if name in self._show:
            parsed = self._show[name](value)
            change: dict[str, Any] = {name: parsed}
        else:
            parsed = self.entries[name].convert(value)
            if name in self.checks:
                self.checks[name](parsed)
            change = {}
        with self._lock:
            if not change:
                change = {"values": {**self._params.values, name: parsed}}
            self._params = replace(self._params, **change)
            self.version += 1
            params = self._params
        for listener in self.on_change:
            listener(name, parsed)
        return params

    def set_unit(self, name: str, fraction: float) -> Params:
        """0..1 spread over a setting's range (a MIDI fader, a normalised OSC float), or over
        its steps (a style, the pipelines of the setlist)."""
        if not 0.0 <= fraction <= 1.0:
            raise SettingsError(f"{fraction} is not within 0..1")
        steps = self.steps(name)
        if steps:
            return self.set(name, steps[round(fraction * (len(steps) - 1))])
        if name in ("strength", "temporal", "crossfade", "wet"):  # a crossfade fader: 0..1 s
            return self.set(name, fraction)
        if name in SWITCHES:
            return self.set(name, fraction >= 0.5)
        return self.set(name, self.entries[name].from_unit(fraction))

    def unit(self, name: str, value: Any) -> float | None:
        """`set_unit`'s 0..1 for a value of `name` (None where no fader can show it): what a
        controller's fader is moved to when the value changes elsewhere."""
        steps = self.steps(name)
        if steps:
            return steps.index(value) / max(1, len(steps) - 1) if value in steps else None
        if name in ("strength", "temporal", "crossfade", "wet"):
            return min(1.0, float(value))
        if name in SWITCHES:
            return float(bool(value))
        entry = self.entries.get(name)
        return None if entry is None else entry.to_unit(value)

    def toggle(self, name: str) -> Params:
        """Flip a flag; for `temporal`, switch the stabiliser between off and TEMPORAL_ON."""
        current = self.value(name)
        if name == "temporal":
            return self.set(name, 0.0 if current else TEMPORAL_ON)
        return self.set(name, not current)

    def step(self, name: str, delta: int) -> Params:
        """The next/previous step of a text setting (a blend steps from its strongest part),
        pipeline or layer, or a number nudged by delta increments."""
        current = self.value(name)
        steps = self.steps(name)
        if steps is not None:
            if not steps:
                raise SettingsError(f"no {name} to step through in this show")
            entry = self.entries.get(name)
            if entry is not None and entry.knob.nearest is not None:
                current = entry.knob.nearest(current)
            index = steps.index(current) if current in steps else -1
            return self.set(name, steps[(index + delta) % len(steps)])
        if name in self._show:
            increment, lowest, highest = {"crossfade": (0.1, 0.0, MAX_CROSSFADE)}.get(
                name, (0.1, 0.0, 1.0))
        else:
            knob = self.entries[name].knob
            increment = knob.nudge or 0.1
            lowest = -float("inf") if knob.low is None else knob.low
            highest = float("inf") if knob.high is None else knob.high
        value = min(highest, max(lowest, round(current + increment * delta, 3)))
        return self.set(name, value)

    def steps(self, name: str) -> list[str] | None:
        """The values a parameter steps through (pipelines, styles, layers, masks), or None."""
        if name == "pipeline":
            return self.pipelines
        if name == "mask":
            return list(MASKS) if self.can_mask else ["off"]
        if name == "stage":
            return [CAMERA, *self.pipelines]
        if name in self.choices:
            return self.choices[name]
        entry = self.entries.get(name)
        return None if entry is None or entry.knob.steps is None else list(entry.knob.steps)

    def tap(self, now: float | None = None) -> Params | None:
        """Tap tempo: the median interval of the taps of the last TAP_WINDOW seconds sets the
        tempo (from the second tap on); None until then or without a tempo in the show."""
        now = time.perf_counter() if now is None else now
        if self.on_tap is not None:
            self.on_tap(now)
        with self._lock:
            taps = self._taps = [t for t in self._taps if now - t < TAP_WINDOW][-7:] + [now]
        if len(taps) < 2 or TEMPO not in self.entries:
            return None
        bpm = 60.0 / statistics.median(b - a for a, b in zip(taps, taps[1:], strict=False))
        knob = self.entries[TEMPO].knob
        return self.set(TEMPO, min(knob.high, max(knob.low, round(bpm, 1))))

    def screenshot(self) -> None:
        """Ask the show to save the next frame it sends out."""
        with self._lock:
            self.screenshots += 1

    def _mask(self, value: Any) -> str:
        choice = str(value).strip().lower()
        if choice not in MASKS:
            raise SettingsError(f"mask '{choice}': choose one of {', '.join(MASKS)}")
        if choice != "off" and not self.can_mask:
            raise SettingsError("mask: start the show with --mask to find the performer")
        return choice

    def _stage(self, value: Any) -> str:
        name = str(value).strip()
        return CAMERA if name == CAMERA else self._pipeline(name)

    def _pipeline(self, value: Any) -> str:
        name = str(value).strip()
        if name not in self.pipelines:
            raise SettingsError(f"pipeline '{name}' was not compiled for this show; "
                                f"available: {', '.join(self.pipelines)} (add it with --setlist)")
        return name


# Parameters that act when pressed rather than set a value: OSC addresses and MIDI params.
BUTTONS: dict[str, Callable[[LiveState], Any]] = {"tap": LiveState.tap,
                                                  "screenshot": LiveState.screenshot}


class OnceLog:
    """Warn once per key (an OSC address, a MIDI control): a flood of one bad message costs
    one line, and a different mistake still gets its own."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        log.warning("%s (further messages like this are ignored silently)", message)
