"""The live show: newest captured frame -> compiled graph -> stabiliser -> crossfade -> outputs.

Nothing is compiled during the show. Every pipeline of the setlist is built and traced before
it starts, at every working size the frame-rate governor may pick (a FrameGraph has fixed
shapes, so each size is its own graph), and styles and strengths are graph inputs, so a
change from a controller costs nothing.

Crossfades: a change of a live setting whose controls are vectors (a style mixture, a
painting's style vector, the dream's layer weights) interpolates them over `crossfade`
seconds, which costs nothing and morphs through real blends (the style network is trained on
mixtures). A pipeline change cannot be interpolated, so for its fade both pipelines run and
their outputs are blended: the frame rate dips for that time. Numbers (strength, a step size,
a tempo) follow their controller at once, since a fader is already a fade.

`--target-fps` steps the working size down a ladder when a frame takes longer than the
frame budget and back up when the larger size would fit with room to spare.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

import cv2
import numpy as np

from dreamreel.engine.compute import working_size
from dreamreel.engine.live.capture import Capture, Captured
from dreamreel.engine.live.keys import handle_key
from dreamreel.engine.live.outputs import Preview, fit
from dreamreel.engine.live.params import CAMERA, LiveState, OnceLog, Params
from dreamreel.engine.live.programs import Inputs, Program
from dreamreel.engine.mask import Mask, composite, with_alpha
from dreamreel.engine.media import Frame, Writer
from dreamreel.engine.temporal import Stabiliser, stabilise_at_size
from dreamreel.errors import DreamreelError
from dreamreel.pipelines import settings

if TYPE_CHECKING:
    from dreamreel.engine.music.live import LiveMusic

log = logging.getLogger("dreamreel.live")

LADDER = (1.0, 0.75, 0.5)  # working sizes tried by --target-fps, as fractions of --size
STEP_DOWN_AFTER = 1.0  # seconds at a rung before stepping down again
STEP_UP_AFTER = 3.0  # seconds at a rung before trying the larger size
HEADROOM = 0.8  # step up only if the larger size is predicted to take < 80% of the budget
IDLE_WAIT = 0.1  # seconds to wait for a new frame before re-sending the last output


def ladder(size: int, target_fps: float | None) -> list[int]:
    """The working short sides to compile: just `size`, or LADDER's steps below it."""
    if not target_fps:
        return [size]
    return sorted({max(16, round(size * f)) for f in LADDER}, reverse=True)


class Governor:
    """Chooses the ladder rung (0 = largest working size) that holds the target frame rate.

    It watches the processing time per frame (not the loop rate, which a slow camera caps),
    steps down after STEP_DOWN_AFTER s over budget, and up after STEP_UP_AFTER s when the
    larger size, scaled by its pixel count, would take under HEADROOM of the budget.
    """

    def __init__(self, sizes: list[int], target_fps: float | None) -> None:
        self.sizes, self.target = sizes, target_fps
        self.rung = 0
        self._average: float | None = None
        self._since = time.perf_counter()

    def update(self, seconds: float) -> int:
        if not self.target or len(self.sizes) == 1:
            return self.rung
        a = self._average = seconds if self._average is None else 0.9 * self._average + 0.1 * seconds
        budget, held = 1.0 / self.target, time.perf_counter() - self._since
        if a > budget and self.rung < len(self.sizes) - 1 and held > STEP_DOWN_AFTER:
            self._move(+1)
        elif self.rung > 0 and held > STEP_UP_AFTER:
            larger = a * (self.sizes[self.rung - 1] / self.sizes[self.rung]) ** 2
            if larger < HEADROOM * budget:
                self._move(-1)
        return self.rung

    def _move(self, step: int) -> None:
        self.rung += step
        self._average, self._since = None, time.perf_counter()
        log.info("working size %d px to hold %g fps", self.sizes[self.rung], self.target)


@dataclass
class Fade:
    """A value moving from `start` to `end` over `seconds` from `began` (perf_counter)."""

    start: np.ndarray
    end: np.ndarray
    began: float = 0.0
    seconds: float = 0.0

    def at(self, now: float) -> np.ndarray:
        t = 1.0 if self.seconds <= 0 else min(1.0, (now - self.began) / self.seconds)
        return self.start + (self.end - self.start) * np.float32(t)

    def to(self, end: np.ndarray, now: float, seconds: float) -> None:
        self.start, self.end, self.began, self.seconds = self.at(now), end, now, seconds


LATENCY_FRAMES = 100_000  # about an hour at 30 fps


@dataclass
class ShowStats:
    frames: int = 0
    seconds: float = 0.0
    # capture -> outputs, seconds; the last LATENCY_FRAMES only, so a show of any length
    # keeps its memory flat
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_FRAMES))
    compile_seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        """The q-quantile (0.5 = median) of the capture->output latency, in milliseconds."""
        if len(self.latencies) < 2:
            return 1000 * self.latencies[0] if self.latencies else 0.0
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]


class Show:
    """Runs the show loop on the calling thread (pygame wants the main thread)."""

    def __init__(self, state: LiveState, capture: Capture,
                 programs: dict[str, Program],
                 sizes: list[int], outputs: list[Writer], preview: Preview | None = None,
                 target_fps: float | None = None, duration: float | None = None,
                 flow_preset: str = "ultrafast",
                 on_frame: Callable[[Captured, np.ndarray], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 music: LiveMusic | None = None, mask: Mask | None = None,
                 alpha: bool = False, out_size: tuple[int, int] | None = None) -> None:
        self.state, self.capture, self.programs = state, capture, programs
        self.music = music  # mappings, the beat clock, quantised changes (engine.music.live)
        self.mask = mask  # finds the performer, for the `mask` parameter (engine.mask)
        # With `alpha`, outputs that carry it (NDI) get the effect alone with the mask as its
        # alpha, for the mixer to lay over its own layers; the others get the composite.
        self.alpha = alpha
        self._layer: np.ndarray | None = None  # the last RGBA picture, with `alpha`
        self.out_size = out_size  # (width, height) every output gets, the picture fitted
        self.outputs, self.preview, self.duration = outputs, preview, duration
        self.on_frame = on_frame
        # The show's time: fades, beats, --duration and output timestamps follow it. A test
        # drives it frame by frame; the cost of a frame is always measured in real time.
        self.clock = clock
        self.governor = Governor(sizes, target_fps)
        self.stabiliser = Stabiliser(preset=flow_preset)  # runs at the working size
        self.stats = ShowStats()
        self.warn = OnceLog()
        params = state.snapshot()
        self._program = programs[params.pipeline]
        self._leaving: Program | None = None  # the pipeline fading out
        self._pipeline_fade = Fade(np.float32(0), np.float32(1))
        # Each program's controls, by stage and control, fading toward their targets.
        self._fades: dict[str, dict[str, dict[str, Fade]]] = {}
        self._applied: dict[str, dict] = {}  # the live values each program's fades aim at
        self._jobs: dict[str, tuple[dict, Future]] = {}  # slow controls being computed
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="controls")
        self._recent: list[float] = []  # output times of the last second, for the OSD fps
        self._readout = (time.perf_counter(), 0)  # (when, frames) at the last `readout`

    def run(self) -> ShowStats:
        """Until --duration, the end of a file, Esc/q, closing the window, or Ctrl-C, SIGTERM
        or SIGHUP (engine.signals raises them all as KeyboardInterrupt)."""
        began = self.clock()
        last: Captured | None = None
        output: np.ndarray | None = None
        try:
            while not self.state.quit.is_set():
                now = self.clock()
                if self._over(began):
                    break
                self._poll_keys()
                params = self.state.snapshot()
                if self.music is not None:  # changes land on the beat as the output shows it
                    params = self.music.apply(params, now, self._recent_latency())
                if params.freeze and last is not None:
                    captured = last
                else:
                    captured = self.capture.mailbox.wait_newer(last.seq if last else 0,
                                                               self._wait(began, now))
                    if self._over(began):  # the wait reached the end: not one frame more
                        break
                if captured is None:
                    if self.capture.ended.is_set():
                        break
                    if output is not None:  # camera lost or slow: keep showing the last frame
                        self._send(output, now - began, params, live_only=True)
                    continue
                last = captured
                start = time.perf_counter()
                output = self._render(captured.image, params, now)
                self.governor.update(time.perf_counter() - start)
                self._send(output, now - began, params)
                done = time.perf_counter()
                self.stats.frames += 1
                if not params.freeze:
                    self.stats.latencies.append(done - captured.time)
                if self.on_frame is not None:
                    self.on_frame(captured, output)
        except KeyboardInterrupt:  # later signals are ignored while the outputs are closed
            log.info("interrupted: ending the show")
        finally:
            self.stats.seconds = self.clock() - began
            self._worker.shutdown(wait=False, cancel_futures=True)
        return self.stats

    def _over(self, began: float) -> bool:
        return self.duration is not None and self.clock() - began >= self.duration

    def _wait(self, began: float, now: float) -> float:
        """How long to wait for the camera: IDLE_WAIT, or less when --duration ends sooner
        (a 12 fps camera would otherwise carry the show 80 ms past it)."""
        if self.duration is None:
            return IDLE_WAIT
        return min(IDLE_WAIT, max(0.0, began + self.duration - now))

    def readout(self) -> dict[str, float]:
        """Frames a second since the last readout and the recent median latency, for the
        web page."""
        now, frames = time.perf_counter(), self.stats.frames
        then, before = self._readout
        self._readout = (now, frames)
        return {"fps": round((frames - before) / max(now - then, 1e-6), 2),
                "latency_ms": round(1000 * self._recent_latency(), 1)}

    def _recent_latency(self) -> float:
        """The median capture-to-output latency of the last 30 frames, seconds."""
        recent = list(islice(reversed(self.stats.latencies), 30))
        return statistics.median(recent) if recent else 0.0

    def _poll_keys(self) -> None:
        if self.preview is None:
            return
        for key in self.preview.poll():
            try:
                handle_key(self.state, key)
            except ValueError as err:  # e.g. a number key past the setlist
                log.warning("key %s: %s", key, err)
        if self.preview.closed:
            self.state.quit.set()

    def _render(self, image: np.ndarray, params: Params, now: float) -> np.ndarray:
        """One frame through the current pipeline(s), stabiliser and fades: HxWx3 uint8."""
        height, width = self._program.frame_shape
        if image.shape[:2] != (height, width):  # a camera reopened at another size
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if params.pipeline != self._program.name:
            self._leaving = self._program
            self._program = self.programs[params.pipeline]
            self._pipeline_fade = Fade(np.float32(0), np.float32(1), now, params.crossfade)
        rung = self.governor.rung
        out = self._program.render(image, rung, self._inputs(self._program, params, now))
        if self._leaving is not None:
            t = float(self._pipeline_fade.at(now))
            if t >= 1.0:
                self._leaving = None
            else:
                old = self._leaving.render(image, rung, self._inputs(self._leaving, params, now))
                out = cv2.addWeighted(old, 1.0 - t, out, t, 0.0)
        if self._program.stabilises:
            self.stabiliser.reset()  # the program stabilises itself
        elif params.temporal > 0:
            self.stabiliser.weight = params.temporal
            work = working_size(height, width, self.governor.sizes[rung])
            out = stabilise_at_size(self.stabiliser, image, out, work)
        else:
            self.stabiliser.reset()
        return self._mix(self._stage(image, params, now), out, params)

    def _stage(self, image: np.ndarray, params: Params, now: float) -> np.ndarray:
        """What shows where the effect does not: the camera's picture, or (`stage`, with a
        mask) another pipeline of the setlist, e.g. the performer painted, the stage dreaming."""
        if params.stage == CAMERA or params.mask == "off" or self.mask is None:
            return image
        program = self.programs[params.stage]
        return program.render(image, self.governor.rung, self._inputs(program, params, now))

    def _mix(self, image: np.ndarray, out: np.ndarray, params: Params) -> np.ndarray:
        """The effect over the camera's picture: where the mask says, at the wet fader's
        share; black in a blackout. With `alpha`, the RGBA layer is kept for `_send`."""
        masking = params.mask != "off" and self.mask is not None
        if not masking and self.mask is not None:
            self.mask.reset()  # a mask switched on again starts from the picture it sees
        if params.blackout:
            alpha = np.zeros(out.shape[:2], np.float32)
        elif masking:
            alpha = self.mask.alpha(image, params.mask) * np.float32(params.wet)
        else:
            alpha = None
        if self.alpha:
            cover = np.full(out.shape[:2], params.wet, np.float32) if alpha is None else alpha
            self._layer = with_alpha(out, cover)
        if params.blackout:
            return np.zeros_like(out)
        if alpha is not None:
            return composite(image, out, alpha)
        if params.wet >= 1.0:
            return out
        return cv2.addWeighted(image, 1.0 - params.wet, out, params.wet, 0.0)

    def _inputs(self, program: Program, params: Params, now: float) -> Inputs:
        """The program's controls for the live values, faded, with strength and time."""
        self._follow(program, params, now)
        controls = {stage: {key: fade.at(now) for key, fade in fades.items()}
                    for stage, fades in self._fades[program.name].items()}
        return Inputs(controls, params.strength, params.temporal, now)

    def _follow(self, program: Program, params: Params, now: float) -> None:
        """Aim the program's fades at the controls of the live values whenever they change;
        a slow change (a painting to read and predict) is computed on the worker thread and
        fades in once it is ready."""
        values = dict(params.values)
        name = program.name
        if name not in self._fades:  # first use: the controls as they are, no fade
            self._fades[name] = {stage: {key: Fade(v, v) for key, v in controls.items()}
                                 for stage, controls in program.controls(values).items()}
            self._applied[name] = values
        job = self._jobs.get(name)
        if job is not None and job[1].done():
            del self._jobs[name]
            try:
                self._aim(name, job[1].result(), now, params.crossfade)
                self._applied[name] = job[0]
            except Exception as err:  # an unreadable picture: keep the current controls
                self.warn(f"controls:{name}", f"{name}: {err}")
                self._applied[name] = job[0]
        applied = self._applied[name]
        if values == applied or (job is not None and job[0] == values):
            return
        changed = {k for k in values if values[k] != applied.get(k)}
        slow = any(e.knob.slow for k, e in self.state.entries.items() if k in changed)
        if slow:
            self._jobs[name] = (values, self._worker.submit(program.controls, values))
            return
        try:
            self._aim(name, program.controls(values), now, params.crossfade)
        except DreamreelError as err:  # e.g. a setting this program cannot take
            self.warn(f"controls:{name}:{err}", f"{name}: {err}")
        self._applied[name] = values

    def _aim(self, name: str, targets: dict[str, dict[str, np.ndarray]], now: float,
             seconds: float) -> None:
        """Vectors fade over `seconds`; numbers jump."""
        for stage, controls in targets.items():
            for key, value in controls.items():
                fade = self._fades[name][stage][key]
                fade.to(value, now, seconds if np.ndim(value) else 0.0)

    def _send(self, image: np.ndarray, pts: float, params: Params, live_only: bool = False) -> None:
        image = self._sized(image)
        frame = Frame(image=image, index=self.stats.frames, pts=pts)
        layer = None if self._layer is None else Frame(self._sized(self._layer), frame.index, pts)
        for output in self.outputs:
            if not (live_only and output.name == "recording"):
                output.write(layer if layer is not None and getattr(output, "alpha", False)
                             else frame)
        if self.preview is not None:
            lines = self._osd_lines(params) if params.osd else []
            if self.capture.lost:  # shown even with the OSD off: the performer must know
                lines.append(f"{self.capture.name} lost, retrying")
            if lines:
                frame = Frame(image=write_lines(image, lines), index=frame.index, pts=pts)
            self.preview.write(frame)

    def _sized(self, picture: np.ndarray) -> np.ndarray:
        return picture if self.out_size is None else fit(picture, self.out_size)

    def _osd_lines(self, params: Params) -> list[str]:
        """Fps, latency and parameters, for the on-screen display."""
        now = self.clock()
        self._recent = [t for t in self._recent if now - t < 1.0] + [now]
        latency = 1000 * self.stats.latencies[-1] if self.stats.latencies else 0.0
        size = self.governor.sizes[self.governor.rung]
        own = {e.name for s in self._program.chain for e in settings.entries(s.options)}
        live = "  ".join(f"{k} {v}" for k, v in params.values.items() if k in own and v is not None)
        lines = [f"{len(self._recent)} fps  {latency:.0f} ms  {size} px",
                 f"{params.pipeline}  strength {params.strength:.2f}",
                 f"temporal {params.temporal:.2f}  fade {params.crossfade:.1f} s"
                 + ("  FROZEN" if params.freeze else "")]
        music = [] if self.music is None or not self.music.active else [self.music.osd(now)]
        return lines + ([live] if live else []) + music


def write_lines(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """A copy of the picture with the lines written top left, white on a black outline."""
    out = image.copy()
    scale = max(0.4, image.shape[0] / 720)
    for i, text in enumerate(lines):
        y = round((22 + 22 * i) * scale * 1.4)
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(out, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return out
