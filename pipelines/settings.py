"""A pipeline's settings: one dataclass whose fields say what they are, for every front end.

Each field is declared with `setting(default, help, ...)`: its type (from the annotation),
default, range, choices and help. From that one declaration the engine makes the command-line
flag (`--step-size`), and, for fields marked `live=True`, the live control: the OSC address
`/dreamreel/step_size` (a value, or `/dreamreel/step_size/unit` with 0..1 spread over the
range), the MIDI parameter and the preview-window keys. A pipeline never parses arguments.

    @dataclass
    class InvertSettings:
        amount: float = setting(1.0, "how far to invert", low=0.0, high=1.0, live=True)
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamreel.errors import SettingsError

KNOB = "dreamreel"  # the field metadata key


@dataclass(frozen=True)
class Knob:
    """What the engine needs to know of one setting beyond its type and default.

    help: one line for --help and the OSC reference.
    low, high: the inclusive range of a number (None: unbounded on that side); a MIDI
      control or a normalised OSC float is spread over it.
    choices: the values a text setting may take.
    flag: the command-line spelling when it is not `--field-name` (e.g. "--first-steps").
    live: a live control (OSC, MIDI, keys); changing it must never recompile a graph.
    keys: (up, down) keys of the live preview that nudge or step it.
    nudge: one key press's change of a number.
    parse: checks and normalises a value (e.g. a style spec), raising SettingsError.
    many: the flag may be repeated, each one adding to a tuple.
    span: the range a MIDI control or a normalised OSC float is spread over, where it should be
      narrower than low..high.
    slow: turning a new value into the effect's controls takes long (a painting's style is
      predicted by a network): a live show does it on a worker thread.
    steps: the values keys, MIDI notes and faders move a text setting through (a show may
      give others, e.g. the layers it compiled); `nearest(value)` is the step a value (a blend)
      counts as when stepping from it.
    aliases: other OSC addresses for it.
    graph: another value builds another graph (not a live control), so the tuner times it on
      its own instead of reusing the default's choice.
    """

    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    flag: str | None = None
    live: bool = False
    keys: tuple[str, str] | None = None
    nudge: float | None = None
    parse: Callable[[Any], Any] | None = None
    many: bool = False
    span: tuple[float, float] | None = None
    slow: bool = False
    steps: tuple[str, ...] | None = None
    nearest: Callable[[str], str] | None = None
    aliases: tuple[str, ...] = ()
    graph: bool = False


def setting(default: Any, help: str, **knob: Any) -> Any:
    """A settings field with its Knob (see the module docstring)."""
    meta = {KNOB: Knob(help, **knob)}
    if isinstance(default, list | dict | set):
        raise TypeError("mutable defaults are not settings; use a tuple")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Entry:
    """One setting of a settings class: its name, type, default and Knob."""

    name: str
    kind: type  # int, float, str, bool, Path, or tuple (many)
    optional: bool  # None is allowed (and means "the pipeline decides")
    default: Any
    knob: Knob

    @property
    def flag(self) -> str:
        return self.knob.flag or "--" + self.name.replace("_", "-")

    def convert(self, value: Any) -> Any:
        """A value from a command line, OSC or MIDI as this setting's type, range checked."""
        if value is None:
            if self.optional:
                return None
            raise SettingsError(f"{self.name} needs a value")
        try:
            if self.knob.many:
                converted = tuple(value) if isinstance(value, list | tuple) else (str(value),)
            elif self.kind is bool:
                converted = _flag(value)
            elif self.kind is int:
                converted = _whole(value)
            elif self.kind is float:
                converted = float(value)
            elif self.kind is Path:
                converted = Path(str(value)).expanduser()
            else:
                converted = str(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{self.name}: {value!r} is not {_article(self.kind)}") from None
        self.check(converted)
        return self.knob.parse(converted) if self.knob.parse else converted

    def check(self, value: Any) -> None:
        """Raise SettingsError for a number out of range or a text not among the choices."""
        knob = self.knob
        if self.kind in (int, float) and value is not None:
            if not math.isfinite(value):
                raise SettingsError(f"{self.name} must be a finite number, not {value}")
            if (knob.low is not None and value < knob.low) or (
                    knob.high is not None and value > knob.high):
                raise SettingsError(f"{self.name} {value:g} is not within {_span(knob)}")
        if knob.choices is not None and value is not None and value not in knob.choices:
            raise SettingsError(f"{self.name} '{value}' is not one of {', '.join(knob.choices)}")

    def from_unit(self, fraction: float) -> float | int:
        """0..1 spread over the range (a MIDI control, a normalised OSC float)."""
        low, high = self.knob.span or (self.knob.low, self.knob.high)
        if low is None or high is None:
            raise SettingsError(f"{self.name} has no range to spread 0..1 over")
        if not 0.0 <= fraction <= 1.0:
            raise SettingsError(f"{fraction} is not within 0..1")
        value = low + fraction * (high - low)
        return round(value) if self.kind is int else value

    def to_unit(self, value: Any) -> float | None:
        """Where `value` sits on the 0..1 of `from_unit` (None: no range, or not a number)."""
        low, high = self.knob.span or (self.knob.low, self.knob.high)
        if low is None or high is None or high == low or not isinstance(value, int | float):
            return None
        return min(1.0, max(0.0, (float(value) - low) / (high - low)))


def entries(settings: type | object) -> list[Entry]:
    """The declared settings of a settings class (or instance), in field order."""
    cls = settings if isinstance(settings, type) else type(settings)
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        knob = f.metadata.get(KNOB)
        if knob is None:
            continue
        kind, optional = _kind(hints[f.name])
        found.append(Entry(f.name, kind, optional, f.default, knob))
    return found


def build(settings: type, values: dict[str, Any]) -> Any:
    """An instance of `settings` from named values (converted and checked); unknown names are
    a SettingsError, missing ones take their defaults."""
    known = {e.name: e for e in entries(settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; "
                            f"known: {', '.join(known) or 'none'}")
    converted = {name: known[name].convert(value) for name, value in values.items()}
    return settings(**converted)


def replace(settings: Any, **values: Any) -> Any:
    """A copy of a settings instance with some values changed (converted and checked)."""
    known = {e.name: e for e in entries(settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
    return dataclasses.replace(settings, **{k: known[k].convert(v) for k, v in values.items()})


def _kind(hint: Any) -> tuple[type, bool]:
    """(the base type, whether None is allowed) of an annotation such as `float | None`."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if args and typing.get_origin(hint) is not tuple:
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple, optional
    return hint, optional


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "on", "yes"):
            return True
        if text in ("0", "false", "off", "no"):
            return False
        raise ValueError(value)
    return bool(int(value))


def _whole(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _article(kind: type) -> str:
    return {int: "a whole number", float: "a number", bool: "on/off (1/0)"}.get(kind, "text")


def _span(knob: Knob) -> str:
    low = "-inf" if knob.low is None else f"{knob.low:g}"
    high = "inf" if knob.high is None else f"{knob.high:g}"
    return f"{low}..{high}"
