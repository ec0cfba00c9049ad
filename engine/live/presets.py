"""Presets and cues: the show's parameters saved under a name, recalled by key, OSC or MIDI,
and crossfaded in over a number of beats.

`save_preset NAME` keeps the pipeline, strength, stabiliser and every live setting as they are
now (written to `--presets FILE`, JSON, when given, so they outlast the show); `preset NAME`
or `preset "NAME 4"` recalls them, fading over 4 beats of the show's tempo (without a count,
over the current crossfade).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamreel.engine.live.params import MAX_CROSSFADE, LiveState
from dreamreel.engine.sinks.safety import write_atomically
from dreamreel.errors import SettingsError, UsageError

KEPT = ("pipeline", "strength", "temporal")


class Presets:
    def __init__(self, state: LiveState, path: Path | None = None,
                 tempo: Callable[[], float] = lambda: 120.0) -> None:
        self.state, self.path, self.tempo = state, path, tempo
        self._lock = threading.Lock()
        self.saved: dict[str, dict[str, Any]] = self._read(path) if path else {}

    @staticmethod
    def _read(path: Path) -> dict[str, dict[str, Any]]:
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UsageError(f"--presets {path}: not a presets file ({err})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise UsageError(f"--presets {path}: expected {{name: {{parameter: value}}}}")
        return data

    def save(self, name: Any) -> None:
        name = str(name).strip()
        if not name:
            raise SettingsError("a preset needs a name")
        params = self.state.snapshot()
        kept = {k: getattr(params, k) for k in KEPT}
        kept.update({k: v if isinstance(v, int | float | bool) else str(v)
                     for k, v in params.values.items() if v is not None})
        with self._lock:
            self.saved[name] = kept
            if self.path is not None:
                text = json.dumps(self.saved, indent=2) + "\n"
                write_atomically(self.path, lambda temp: temp.write_text(text), overwrite=True)

    def recall(self, spec: Any) -> None:
        """`NAME` or `NAME BEATS`: the saved parameters, faded in over BEATS beats (the show's
        crossfade stays at that length until it is changed)."""
        name, beats = _name_and_beats(str(spec).strip())
        with self._lock:
            preset = self.saved.get(name)
        if preset is None:
            known = ", ".join(self.saved) or "none saved yet"
            raise SettingsError(f"no preset '{name}' ({known})")
        if beats is not None:
            seconds = beats * 60.0 / self.tempo()
            self.state.set("crossfade", min(max(seconds, 0.0), MAX_CROSSFADE))
        for key, value in preset.items():
            if key in KEPT or key in self.state.entries:
                self.state.set(key, value)


def _name_and_beats(text: str) -> tuple[str, float | None]:
    """'chorus 4' -> ('chorus', 4.0); 'big drop' (no count) -> ('big drop', None)."""
    name, _, last = text.rpartition(" ")
    try:
        beats = float(last)
    except ValueError:
        return text, None
    return (name.strip(), beats) if name.strip() and beats >= 0 else (text, None)
