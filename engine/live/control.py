"""Live parameters and the three ways to change them mid-show: keys, OSC and MIDI.

Everything a performer can touch lives in one `LiveState`. Keys (from the preview window),
OSC (a UDP thread) and MIDI (mido's callback thread) all go through `LiveState.set`, `step`
and `toggle`, which validate under one lock and bump a version number; the show loop takes a
`snapshot()` once per frame, so it never waits on a controller and never sees half an update.

A controller must never stop the show: a malformed or unknown OSC message or MIDI event is
logged once per address (so a flood cannot fill the terminal) and ignored.
"""

from __future__ import annotations

import json
import logging
import socket
import statistics
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines.dream import parse_layers
from dreamreel.pipelines.style.effects import parse_style_spec
from dreamreel.pipelines.style.multistyle import NUM_STYLES

log = logging.getLogger("dreamreel.live")

OSC_PREFIX = "/dreamreel/"
MAX_CROSSFADE = 30.0  # seconds; a longer fade is a mistake, not a performance
TEMPORAL_ON = 0.5  # the weight the `t` key switches the stabiliser on to
MAX_STEP_SIZE = 0.1  # a dream step beyond this only saturates the picture
TEMPO_RANGE = (20.0, 300.0)  # faces: beats per minute
TAP_WINDOW = 3.0  # seconds: taps further apart start a new tap-tempo count
# Parameter -> (increment of one key press or `step`, lower limit, upper limit).
NUDGES = {"crossfade": (0.1, 0.0, MAX_CROSSFADE), "step_size": (0.002, 0.002, MAX_STEP_SIZE),
          "tempo": (5.0, *TEMPO_RANGE), "seed": (1, 0, 2**31 - 1)}


@dataclass(frozen=True)
class Params:
    """One consistent set of live parameters (a snapshot; change them through LiveState)."""

    pipeline: str = "style"
    style: str = "0"  # a built-in style index or a blend spec "3:0.5,12:0.5"
    style_image: str | None = None  # a painting, for pipelines built with --style-image
    strength: float = 1.0
    temporal: float = 0.0  # Stabilizer weight, 0 = off
    crossfade: float = 0.5  # seconds over which a style or pipeline change fades in
    freeze: bool = False  # keep stylizing the last captured frame
    osd: bool = True
    layer: str = "block4_conv3"  # dream: a layer or mix of the show's live layers
    step_size: float = 0.008  # dream: ascent step, 0..1 image units
    seed: int = 0  # faces: which faces walk by
    tempo: float = 120.0  # faces: beats per minute, a new face on each beat


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


def _style(value: Any) -> str:
    spec = str(value).strip()
    parse_style_spec(spec)  # raises SettingsError with the reason
    return spec


def _step_size(value: Any) -> float:
    number = float(value)
    if not 0.0 < number <= MAX_STEP_SIZE:
        raise SettingsError(f"step size {number} is not within (0, {MAX_STEP_SIZE:g}]")
    return number


def _seed(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise SettingsError(f"seed {value} is not a whole number")
    number = int(value)
    if not 0 <= number < 2**31:
        raise SettingsError(f"seed {number} is not within 0..{2**31 - 1}")
    return number


def _tempo(value: Any) -> float:
    number = float(value)
    if not TEMPO_RANGE[0] <= number <= TEMPO_RANGE[1]:
        raise SettingsError(f"tempo {number:g} bpm is not within {TEMPO_RANGE[0]:g}..{TEMPO_RANGE[1]:g}")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(int(value))


def _painting(value: Any) -> str:
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise SettingsError(f"{path}: no such image file")
    return str(path)


class LiveState:
    """The thread-safe home of every live parameter.

    pipelines: the pipelines the show has compiled; only these can be switched to.
    layers: the dream layers the show has compiled (empty: no dream in the setlist).
    """

    def __init__(self, params: Params, pipelines: list[str], layers: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._params = params
        self.pipelines = list(pipelines)
        self.layers = list(layers)
        self.version = 0
        self.quit = threading.Event()
        self.screenshots = 0  # screenshots asked for so far; the show takes one per new request
        self._taps: list[float] = []
        self._parsers: dict[str, Callable[[Any], Any]] = {
            "pipeline": self._pipeline, "style": _style, "style_image": _painting,
            "strength": _unit, "temporal": _unit, "crossfade": _seconds,
            "freeze": _flag, "osd": _flag, "layer": self._layer, "step_size": _step_size,
            "seed": _seed, "tempo": _tempo,
        }

    @property
    def names(self) -> list[str]:
        return [f.name for f in fields(Params)]

    def snapshot(self) -> Params:
        with self._lock:
            return self._params

    def set(self, name: str, value: Any) -> Params:
        """Validate and set one parameter; raises SettingsError (bad value) or KeyError (name)."""
        parsed = self._parsers[name](value)
        with self._lock:
            self._params = replace(self._params, **{name: parsed})
            self.version += 1
            return self._params

    def toggle(self, name: str) -> Params:
        """Flip a flag; for `temporal`, switch the stabiliser between off and TEMPORAL_ON."""
        with self._lock:
            current = getattr(self._params, name)
        if name == "temporal":
            return self.set(name, 0.0 if current else TEMPORAL_ON)
        return self.set(name, not current)

    def step(self, name: str, delta: int) -> Params:
        """Next/previous style (a blend steps from its strongest style) or pipeline, or nudge a
        number by delta tenths."""
        current = getattr(self.snapshot(), name)
        if name == "style":
            index = int(parse_style_spec(current).argmax())
            return self.set(name, str((index + delta) % NUM_STYLES))
        if name in ("pipeline", "layer"):
            choices = self.pipelines if name == "pipeline" else self.layers
            if not choices:
                raise SettingsError("no dream in this show's setlist")
            if name == "layer":  # a mix steps from its strongest layer
                layers = parse_layers(current)
                current = max(layers, key=layers.get)
            index = choices.index(current) if current in choices else -1
            return self.set(name, choices[(index + delta) % len(choices)])
        increment, lowest, highest = NUDGES.get(name, (0.1, 0.0, 1.0))
        return self.set(name, min(highest, max(lowest, round(current + increment * delta, 3))))

    def tap(self, now: float | None = None) -> Params | None:
        """Tap tempo: the median interval of the taps of the last TAP_WINDOW seconds sets the
        tempo (from the second tap on); None until then."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            taps = self._taps = [t for t in self._taps if now - t < TAP_WINDOW][-7:] + [now]
        if len(taps) < 2:
            return None
        bpm = 60.0 / statistics.median(b - a for a, b in zip(taps, taps[1:], strict=False))
        return self.set("tempo", min(TEMPO_RANGE[1], max(TEMPO_RANGE[0], round(bpm, 1))))

    def screenshot(self) -> None:
        """Ask the show to save the next frame it sends out."""
        with self._lock:
            self.screenshots += 1

    def _layer(self, value: Any) -> str:
        spec = str(value).strip()
        if not self.layers:
            raise SettingsError("no dream in this show's setlist")
        unknown = [key for key in parse_layers(spec) if key not in self.layers]
        if unknown:
            raise SettingsError(f"layer {', '.join(unknown)} was not compiled for this show; "
                                f"live layers: {', '.join(self.layers)}")
        return spec

    def _pipeline(self, value: Any) -> str:
        name = str(value).strip()
        if name not in self.pipelines:
            raise SettingsError(f"pipeline '{name}' was not compiled for this show; "
                                f"available: {', '.join(self.pipelines)} (add it with --setlist)")
        return name


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


# --- keyboard -------------------------------------------------------------------------------

# Key names as pygame.key.name() gives them -> what they do.
KEYS: dict[str, tuple[str, str, int]] = {
    "right": ("step", "style", 1),
    "left": ("step", "style", -1),
    "up": ("step", "strength", 1),
    "down": ("step", "strength", -1),
    "page down": ("step", "pipeline", 1),
    "page up": ("step", "pipeline", -1),
    "]": ("step", "crossfade", 1),
    "[": ("step", "crossfade", -1),
    "space": ("toggle", "freeze", 0),
    "o": ("toggle", "osd", 0),
    "t": ("toggle", "temporal", 0),
    "l": ("step", "layer", 1),
    "k": ("step", "layer", -1),
    ".": ("step", "step_size", 1),
    ",": ("step", "step_size", -1),
    "n": ("step", "seed", 1),
    "b": ("step", "seed", -1),
    "=": ("step", "tempo", 1),
    "-": ("step", "tempo", -1),
}
QUIT_KEYS = ("escape", "q")
TAP_KEY = "return"
SCREENSHOT_KEY = "s"


def handle_key(state: LiveState, key: str) -> None:
    """Apply one key press: digits pick styles 0-9, KEYS the rest, Enter taps the tempo, s
    takes a screenshot, Esc/q end the show."""
    if key in QUIT_KEYS:
        state.quit.set()
    elif key == TAP_KEY:
        params = state.tap()
        if params is not None:
            log.info("tempo = %g bpm", params.tempo)
    elif key == SCREENSHOT_KEY:
        state.screenshot()
    elif key.isdigit():
        state.set("style", key)
    elif key in KEYS:
        action, name, delta = KEYS[key]
        params = state.step(name, delta) if action == "step" else state.toggle(name)
        log.info("%s = %s", name, getattr(params, name))


# --- OSC --------------------------------------------------------------------------------------

# address (after /dreamreel/) -> (parameter, what the argument means)
OSC_ADDRESSES: dict[str, tuple[str, str]] = {
    "style": ("style", "i: built-in style 0..25"),
    "blend": ("style", 's: a blend "3:0.5,12:0.5"'),
    "strength": ("strength", "f: 0..1"),
    "pipeline": ("pipeline", "s: a pipeline of the setlist"),
    "style_image": ("style_image", "s: path of a painting"),
    "temporal": ("temporal", "f: stabiliser weight 0..1 (0 = off)"),
    "crossfade": ("crossfade", "f: seconds"),
    "freeze": ("freeze", "i: 1 = freeze the input, 0 = run"),
    "osd": ("osd", "i: 1 = show the on-screen display"),
    "layer": ("layer", 's: dream layer or mix, e.g. "block5_conv1" or "block3_conv3=0.5,block4_conv3=1"'),
    "step_size": ("step_size", f"f: dream step size, 0..{MAX_STEP_SIZE:g} (default 0.008)"),
    "seed": ("seed", "i: faces: which faces (0 and up)"),
    "tempo": ("tempo", f"f: faces: beats per minute, {TEMPO_RANGE[0]:g}..{TEMPO_RANGE[1]:g}"),
    "tap": ("tempo", "none or 1: a tap-tempo beat (from the second tap, sets the tempo)"),
    "screenshot": ("", "none or 1: save the next output frame as a PNG"),
}
# Addresses and MIDI params that act when pressed rather than set a value.
BUTTONS: dict[str, Callable[[LiveState], Any]] = {"tap": LiveState.tap, "screenshot": LiveState.screenshot}


def osc_apply(state: LiveState, address: str, args: list[Any], warn: OnceLog) -> bool:
    """Apply one OSC message; a malformed or unknown one is warned about once and ignored."""
    key = address[len(OSC_PREFIX):] if address.startswith(OSC_PREFIX) else None
    if key not in OSC_ADDRESSES:
        warn(address, f"OSC: unknown address {address!r}")
        return False
    if key in BUTTONS:  # a press sends no argument or 1; the release (0) is ignored
        if not args or args[0]:
            BUTTONS[key](state)
        return True
    if len(args) != 1:
        warn(address, f"OSC {address}: expects one argument ({OSC_ADDRESSES[key][1]}), got {args!r}")
        return False
    value = args[0]
    if key == "style" and not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        warn(address, f"OSC {address}: expects an integer style, got {value!r}")
        return False
    try:
        state.set(OSC_ADDRESSES[key][0], int(value) if key == "style" else value)
    except (SettingsError, ValueError, TypeError) as err:
        warn(address, f"OSC {address} {value!r}: {err}")
        return False
    return True


class OscServer:
    """A UDP OSC listener on its own thread, parsing with python-osc.

    A plain socket loop rather than python-osc's server, so that a datagram that is not OSC
    at all is logged (once) too, and stopping is prompt.
    """

    def __init__(self, state: LiveState, port: int, host: str = "127.0.0.1") -> None:
        self.state = state
        self.warn = OnceLog()
        self.received = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as err:
            self._sock.close()
            raise UsageError(f"--osc {port}: cannot listen on {host}:{port} ({err.strerror})") from err
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc", daemon=True)

    def start(self) -> OscServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def _run(self) -> None:
        from pythonosc.osc_packet import OscPacket, ParseError

        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            try:
                messages = OscPacket(data).messages
            except (ParseError, ValueError, IndexError, UnicodeDecodeError) as err:
                self.warn("<not OSC>", f"OSC: ignored a packet that is not OSC ({err})")
                continue
            for timed in messages:
                osc_apply(self.state, timed.message.address, list(timed.message.params), self.warn)


# --- MIDI ----------------------------------------------------------------------------------

# Parameters a MIDI control can drive, in --midi-learn's order.
MIDI_PARAMS = ("strength", "style", "pipeline", "temporal", "crossfade", "freeze", "osd",
               "layer", "step_size", "seed", "tempo", "tap", "screenshot")
# A control change's range where the mapping gives no min/max: 0..1, except these.
MIDI_RANGES = {"step_size": (0.001, 0.05), "seed": (0, 127), "tempo": (60.0, 180.0)}


@dataclass(frozen=True)
class MidiBinding:
    """One control: a control change scaled onto [low, high], or a note that sets `value`
    (or, without a value, steps the style/pipeline or toggles a flag)."""

    kind: str  # "cc" or "note"
    number: int
    param: str
    channel: int | None = None  # None: any channel
    low: float | None = None  # None: MIDI_RANGES or 0..1
    high: float | None = None
    value: str | None = None

    @property
    def span(self) -> tuple[float, float]:
        default = MIDI_RANGES.get(self.param, (0.0, 1.0))
        return (default[0] if self.low is None else self.low,
                default[1] if self.high is None else self.high)

    def matches(self, message: Any) -> bool:
        if self.channel is not None and getattr(message, "channel", None) != self.channel:
            return False
        if self.kind == "cc":
            return message.type == "control_change" and message.control == self.number
        return message.type == "note_on" and message.velocity > 0 and message.note == self.number


def load_midi_map(path: Path) -> list[MidiBinding]:
    """Read a mapping file (.json or .toml): {"map": [{"cc": 21, "param": "strength"}, ...]}."""
    try:
        text = Path(path).read_text()
        data = tomllib.loads(text) if Path(path).suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as err:
        raise UsageError(f"{path}: cannot read the MIDI mapping ({err})") from err
    bindings = []
    for i, entry in enumerate(data.get("map", [])):
        try:
            kind = "cc" if "cc" in entry else "note"
            param = entry["param"]
            if param not in MIDI_PARAMS:
                raise ValueError(f"param must be one of {', '.join(MIDI_PARAMS)}")
            value = entry.get("value")
            low, high = (None if entry.get(k) is None else float(entry[k]) for k in ("min", "max"))
            bindings.append(MidiBinding(kind, int(entry[kind]), param, entry.get("channel"),
                                        low, high, None if value is None else str(value)))
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{path}: mapping entry {i + 1} is invalid ({err})") from err
    return bindings


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
        for b in self.bindings:
            if b.matches(message):
                try:
                    self._apply(b, message)
                except (SettingsError, ValueError) as err:
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
            elif b.param in ("style", "pipeline", "layer", "seed"):
                state.step(b.param, 1)
            else:
                state.toggle(b.param)
            return
        fraction = message.value / 127.0
        if b.param == "style":
            state.set("style", round(fraction * (NUM_STYLES - 1)))
        elif b.param in ("pipeline", "layer"):
            choices = state.pipelines if b.param == "pipeline" else state.layers
            if not choices:
                raise SettingsError("no dream in this show's setlist")
            state.set(b.param, choices[round(fraction * (len(choices) - 1))])
        elif b.param in ("freeze", "osd"):
            state.set(b.param, message.value >= 64)
        elif b.param == "seed":
            low, high = b.span
            state.set("seed", round(low + fraction * (high - low)))
        else:
            low, high = b.span
            state.set(b.param, low + fraction * (high - low))


def midi_learn(messages: Iterable[Any], prompt: Callable[[str], None],
               params: Iterable[str] = MIDI_PARAMS) -> list[MidiBinding]:
    """Ask for each parameter in turn and bind the first control change or note that arrives;
    Enter on the keyboard (a `None` message) skips one. Controls already bound are ignored."""
    bindings: list[MidiBinding] = []
    used: set[tuple[str, int]] = set()
    source = iter(messages)
    for param in params:
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
