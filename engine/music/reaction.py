"""A job's `--react` mappings made concrete: the clip's sound analysed once, then each frame's
setting values, controls and strength by its timestamp, and a record of what came out.

The record (per frame: time, the mapped values, and the stylisation amount: the mean change
from the input, 0..1) feeds the JSON summary's correlations and `--react-plot`. It keeps an
even sample of at most RECORD_ROWS frames, so a two-hour film costs no more memory than a clip.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dreamreel.engine.media import MediaInfo
from dreamreel.engine.music import audio, features, plot, react
from dreamreel.engine.sampling import EvenSample
from dreamreel.engine.stages import Built, StageSpec
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines import registry, settings

RECORD_ROWS = 20_000  # frames the record keeps (an even sample past that)


def live_settings(stages: tuple[StageSpec, ...]) -> dict[str, tuple[settings.Entry, tuple[str, ...]]]:
    """The chain's live settings that change quickly (not a style image's network), each with
    the stages that declare it."""
    found: dict[str, tuple[settings.Entry, tuple[str, ...]]] = {}
    for stage in stages:
        for entry in settings.entries(registry.get(stage.name).settings):
            if entry.knob.live and not entry.knob.slow:
                known = found.get(entry.name)
                found[entry.name] = (entry, (*known[1], stage.name) if known else (stage.name,))
    return found


@dataclass
class Reaction:
    mappings: tuple[react.Mapping, ...]
    timeline: react.Timeline
    stages: tuple[StageSpec, ...]
    owners: dict[str, tuple[str, ...]]  # setting -> the stages it changes
    fade: float = 0.0  # beats over which a value stepped on a beat or bar crosses over
    record: EvenSample[tuple[float, float, tuple[Any, ...]]] = field(
        default_factory=lambda: EvenSample(RECORD_ROWS))

    @property
    def moves(self) -> dict[str, tuple[Any, ...]]:
        """The values each stepped setting takes (for the effects to prepare)."""
        return {m.setting: m.values for m in self.mappings
                if m.event is not None and m.setting != react.STRENGTH}

    def check(self, built: Built) -> None:
        """Each stepped value turned into its stage's controls once, before the first frame,
        so a value the effect cannot take stops the run in one line, not halfway."""
        parts = dict(zip((s.name for s in built.frame_stages), built.frame_effects, strict=True))
        if built.sequential is not None:
            parts[built.stages[-1].name] = built.sequential
        for m in self.mappings:
            for value in m.values if m.setting != react.STRENGTH else ():
                for stage in self.stages:
                    if stage.name in self.owners.get(m.setting, ()):
                        try:
                            parts[stage.name].controls(dataclasses.replace(
                                stage.options, **{m.setting: value}))
                        except SettingsError as err:
                            raise UsageError(f"--react {m.text}: {err}") from None

    @property
    def changes_settings(self) -> bool:
        """Whether a stage's settings move (then each frame needs its own graph call)."""
        return any(m.setting != react.STRENGTH for m in self.mappings)

    def values(self, t: float, back: int = 0) -> dict[str, Any]:
        return {m.setting: m.value(self.timeline, t, back) for m in self.mappings}

    def options(self, t: float, back: int = 0) -> dict[str, Any]:
        """Each stage's settings at time t (stepped values `back` steps earlier), by stage."""
        values = self.values(t, back)
        out = {}
        for stage in self.stages:
            own = {k: v for k, v in values.items() if stage.name in self.owners.get(k, ())}
            out[stage.name] = dataclasses.replace(stage.options, **own) if own else stage.options
        return out

    def graph_controls(self, built: Built, strength: float, t: float) -> dict[str, np.ndarray]:
        return self._faded(lambda back: built.graph_controls(strength, self.options(t, back)), t)

    def effect_controls(self, built: Built, t: float) -> dict[str, np.ndarray]:
        """The sequential stage's controls at time t."""
        name = built.stages[-1].name
        return self._faded(lambda back: built.sequential.controls(self.options(t, back)[name]), t)

    def _faded(self, controls: Callable[[int], dict[str, np.ndarray]], t: float
               ) -> dict[str, np.ndarray]:
        """The controls at time t; within `fade` beats of a step, the vector ones (a style
        mixture) part of the way from the value before, so a style crosses over."""
        now = controls(0)
        since = self._beats_since_step(t)
        if since is None or since >= self.fade:
            return now
        before, share = controls(1), since / self.fade
        return {k: (before[k] + share * (v - before[k])).astype(v.dtype) if np.ndim(v) else v
                for k, v in now.items()}

    def _beats_since_step(self, t: float) -> float | None:
        """Beats since the latest beat or bar that stepped a value (None: nothing steps)."""
        position = self.timeline.position(t)
        spans = [1.0 if m.event == "beat" else float(react.BEATS_PER_BAR)
                 for m in self.mappings if m.event in ("beat", "bar")
                 and m.setting != react.STRENGTH]
        return min(position % span for span in spans) if spans and self.fade > 0 else None

    def apply(self, t: float, image: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The frame at time t: `strength` of the way from the input `image` to `out`, noted
        with its stylisation amount."""
        values = self.values(t)
        amount = float(values.get(react.STRENGTH, 1.0))
        if amount < 1.0:  # OpenCV's saturating uint8 arithmetic: 4 ms a 720p frame, not 30
            out = cv2.addWeighted(out, amount, image, 1.0 - amount, 0.0)
        change = float(np.mean(cv2.mean(cv2.absdiff(out, image))[:3])) / 255.0
        self.record.offer(lambda: (t, change, tuple(values[m.setting] for m in self.mappings)))
        return out

    def summary(self) -> dict[str, Any]:
        """For the JSON summary: what was used, the tempo, and how well the stylisation
        amount followed each numeric mapping (Pearson r over the frames)."""
        timeline = self.timeline
        sources = sorted(set().union(*(m.sources for m in self.mappings)))
        follows = {}
        if len(self.record) > 2:
            amounts = np.array([r[1] for r in self.record])
            for i, m in enumerate(self.mappings):
                if m.event is None:
                    follows[m.text] = _pearson(amounts, np.array([float(r[2][i])
                                                                  for r in self.record]))
        return {"mappings": [m.text for m in self.mappings], "sources": sources,
                "sound": timeline.features is not None,
                "bpm": None if timeline.bpm is None else round(timeline.bpm, 2),
                "beats": int(len(timeline.beats)), "amount_follows": follows,
                "mean_amount": round(float(np.mean([r[1] for r in self.record])), 4)
                if self.record else None}

    def plot(self, path: Path, overwrite: bool) -> None:
        """The mapped values and the stylisation amount over time, one panel each."""
        times = np.array([r[0] for r in self.record])
        panels = [(m.text, [r[2][i] for r in self.record]) for i, m in enumerate(self.mappings)
                  if m.event is None]
        panels.append(("stylisation amount (mean change from the input)",
                       [r[1] for r in self.record]))
        plot.save(path, times, panels, self.timeline.beats, overwrite)


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def build(spec_react: tuple[str, ...], bpm: float | None, stages: tuple[StageSpec, ...],
          info: MediaInfo, start: float | None, duration: float | None,
          say: Callable[[str], None] | None = None, fade: float = 0.0) -> Reaction:
    """Parse the mappings against the chain, then read the sound they need."""
    if info.kind == "image":
        raise UsageError(f"--react needs a clip with time in it; {info.path} is a still image")
    if bpm is not None and not react.TEMPO[0] <= bpm <= react.TEMPO[1]:
        raise UsageError(f"--bpm must be within {react.TEMPO[0]:g}..{react.TEMPO[1]:g}")
    live = live_settings(stages)
    mappings = tuple(react.parse(text, {k: e for k, (e, _) in live.items()}) for text in spec_react)
    used = set().union(*(m.sources for m in mappings))
    sound = sorted(used & set(react.SOUND))
    if not info.has_audio and sound:
        raise UsageError(f"--react reads {', '.join(sound)} from the sound, but {info.path} has "
                         "none (beat, bar, phase and LFOs work with --bpm)")
    if not info.has_audio and bpm is None:
        raise UsageError(f"{info.path} has no sound to find the beat in: give --bpm")
    found = None
    if info.has_audio:
        began = time.perf_counter()
        found = features.analyse(audio.blocks(info.path, start, duration), bpm)
        if say is not None:
            tempo = f"{found.bpm:.1f} BPM" if found.bpm else "no steady beat"
            say(f"music: {tempo}, {len(found.beats)} beats in the sound "
                f"({time.perf_counter() - began:.1f} s)")
    timeline = react.Timeline.make(found, bpm, info.duration or 0.0)
    return Reaction(mappings, timeline, stages, {k: owners for k, (_, owners) in live.items()},
                    fade)
