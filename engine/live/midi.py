"""MIDI control of a show: a mapping file binds control changes and notes to parameters.

A control change is spread from 0..127 over the parameter's range (or the mapping's min..max),
or over its steps (styles, the setlist's pipelines, the compiled layers); a note sets the
mapping's value, or without one steps to the next value or toggles a flag. `tap` and
`screenshot` act on a note or a control change of 64 and up (a button's press, not its
release). The parameters are the show's own and every live setting of its pipelines.
"""

from __future__ import annotations

import json
import logging
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamreel.engine.live.params import BUTTONS, SHOW_PARAMS, LiveState, OnceLog, live_entries
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines import registry

CLOCK_MESSAGES = ("clock", "start", "stop", "continue")
PRESS_WITH_VALUE = ("preset",)  # a note mapped with a value: {"note": 36, "param": "preset", "value": "1"}

log = logging.getLogger("dreamreel.live")


def midi_params() -> tuple[str, ...]:
    """What a MIDI control may drive, in --midi-learn's order."""
    settings = live_entries(p.name for p in registry.pipelines().values() if p.live)
    return (*SHOW_PARAMS, *settings, *BUTTONS)


@dataclass(frozen=True)
class MidiBinding:
    """One control: a control change spread over [low, high] (None: the parameter's range),
    or a note that sets `value` (or, without a value, steps or toggles the parameter)."""

    kind: str  # "cc" or "note"
    number: int
    param: str
    channel: int | None = None  # None: any channel
    low: float | None = None
    high: float | None = None
    value: str | None = None

    def matches(self, message: Any) -> bool:
        if self.channel is not None and getattr(message, "channel", None) != self.channel:
            return False
        if self.kind == "cc":
            return message.type == "control_change" and message.control == self.number
        return message.type == "note_on" and message.velocity > 0 and message.note == self.number


def load_midi_map(path: Path) -> list[MidiBinding]:
    """Read a mapping file (.json or .toml): {"map": [{"cc": 21, "param": "strength"}, ...]}."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        data = tomllib.loads(text) if Path(path).suffix.lower() == ".toml" else json.loads(text)
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not a MIDI mapping: not a text file (byte {err.start} is "
                         "not UTF-8)") from err
    except (OSError, ValueError) as err:
        raise UsageError(f"{path}: cannot read the MIDI mapping ({err})") from err
    entries = data.get("map", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"{path}: not a MIDI mapping: expected a list of controls under "
                         '"map", e.g. {"map": [{"cc": 21, "param": "strength"}]}')
    known = (*midi_params(), *PRESS_WITH_VALUE)
    bindings = []
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise TypeError("each control is a table of cc or note, param, ...")
            kind = "cc" if "cc" in entry else "note"
            param = entry["param"]
            if param not in known:
                raise ValueError(f"param must be one of {', '.join(known)}")
            value = entry.get("value")
            if param == "style_image" and value is None:
                raise ValueError("style_image takes a picture: give its path as value")
            low, high = (None if entry.get(k) is None else float(entry[k]) for k in ("min", "max"))
            channel = None if entry.get("channel") is None else _number(entry, "channel", 15)
            bindings.append(MidiBinding(kind, _number(entry, kind, 127), param, channel,
                                        low, high, None if value is None else str(value)))
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{path}: mapping entry {i + 1} is invalid ({err})") from err
    return bindings


def _number(entry: dict[str, Any], key: str, highest: int) -> int:
    """A MIDI number of a mapping entry: a whole number 0..highest (a controller never sends
    another, so a binding to one would silently never fire)."""
    number = entry[key]
    if (isinstance(number, bool) or not isinstance(number, int | float)
            or not 0 <= number <= highest or number % 1):
        raise ValueError(f"{key} must be a whole number 0..{highest}, not {number!r}")
    return int(number)


def save_midi_map(path: Path, bindings: Iterable[MidiBinding]) -> None:
    """Write the mapping as JSON (the format load_midi_map reads)."""
    entries = []
    for b in bindings:
        entry: dict[str, Any] = {b.kind: b.number, "param": b.param}
        if b.channel is not None:
            entry["channel"] = b.channel
        entries.append(entry)
    Path(path).write_text(json.dumps({"map": entries}, indent=2) + "\n")


class MidiHandler:
    """Turns mido messages into parameter changes through a mapping (mido's callback thread)."""

    def __init__(self, state: LiveState, bindings: list[MidiBinding]) -> None:
        self.state, self.bindings = state, bindings
        self.warn = OnceLog()

    def __call__(self, message: Any) -> None:
        if message.type in CLOCK_MESSAGES:  # 24 a beat from a sequencer: the show's tempo
            if self.state.on_clock is not None:
                self.state.on_clock(message.type, time.perf_counter())
            return
        for b in self.bindings:
            if b.matches(message):
                try:
                    self._apply(b, message)
                except (SettingsError, ValueError, KeyError, TypeError, ArithmeticError) as err:
                    self.warn(f"{b.kind}{b.number}", f"MIDI {b.kind} {b.number} -> {b.param}: {err}")

    def _apply(self, b: MidiBinding, message: Any) -> None:
        state = self.state
        if b.param in BUTTONS:  # a pad, or a button sending 127 when pressed and 0 when let go
            if b.kind == "note" or message.value >= 64:
                BUTTONS[b.param](state)
            return
        if b.kind == "note":
            if b.value is not None:
                state.set(b.param, b.value)
            elif isinstance(state.value(b.param), bool):
                state.toggle(b.param)
            else:
                state.step(b.param, 1)
            return
        fraction = message.value / 127.0
        if b.low is None and b.high is None:
            state.set_unit(b.param, fraction)
            return
        entry = state.entries.get(b.param)
        default = (0.0, 1.0) if entry is None else entry.knob.span or (entry.knob.low, entry.knob.high)
        low = default[0] if b.low is None else b.low
        high = default[1] if b.high is None else b.high
        value = low + fraction * (high - low)
        state.set(b.param, round(value) if entry is not None and entry.kind is int else value)


def midi_learn(messages: Iterable[Any], prompt: Callable[[str], None],
               params: Iterable[str] | None = None) -> list[MidiBinding]:
    """Ask for each parameter in turn and bind the first control change or note that arrives;
    Enter on the keyboard (a `None` message) skips one. Controls already bound are ignored."""
    bindings: list[MidiBinding] = []
    used: set[tuple[str, int]] = set()
    source = iter(messages)
    for param in midi_params() if params is None else params:
        prompt(f"move a fader/knob or hit a pad for '{param}' (Enter skips)")
        for message in source:
            if message is None:
                break
            kind = {"control_change": "cc", "note_on": "note"}.get(message.type)
            if kind is None or (kind == "note" and message.velocity == 0):
                continue
            number = message.control if kind == "cc" else message.note
            if (kind, number) in used:
                continue
            used.add((kind, number))
            bindings.append(MidiBinding(kind, number, param))
            prompt(f"  {param} <- {kind} {number}")
            break
    return bindings


def midi_inputs() -> tuple[Any, list[str]]:
    """The mido module and the names of the MIDI inputs. RuntimeError, saying what to install
    or load, when the packages or the system's MIDI (the ALSA sequencer on Linux) are missing."""
    try:
        import mido
    except ImportError as err:
        raise RuntimeError("MIDI unavailable: pip install mido python-rtmidi") from err
    try:
        return mido, mido.get_input_names()
    except Exception as err:  # rtmidi missing, or no MIDI system to talk to
        raise RuntimeError(f"MIDI unavailable ({err}); pip install python-rtmidi, and on Linux "
                           "load the ALSA sequencer (sudo modprobe snd-seq)") from err


def open_midi(name: str | None, handler: MidiHandler) -> Any:
    """Open a MIDI input (the first one when name is empty) calling handler per message; None
    with one logged line naming what to install when there is no MIDI backend or device."""
    try:
        mido, names = midi_inputs()
    except RuntimeError as err:
        log.error("%s", err)
        return None
    if not names:
        log.error("MIDI: no input devices found (plug in a controller, or check `aconnect -l`)")
        return None
    chosen = name or names[0]
    try:
        return mido.open_input(chosen, callback=handler)
    except Exception as err:
        log.error("MIDI: cannot open %r (%s); inputs: %s", chosen, err, ", ".join(names))
        return None
