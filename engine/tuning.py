"""`auto` means measured here: the tuner picks how a pipeline runs on this machine.

CPUs differ too much for any fixed rule (TensorFlow runs oneDNN kernels on some and generic
Eigen ones on others; bfloat16 is native on some and emulated, 3x slower, on others), so the
first time a chain runs at a working size on a device, each candidate way of running it is
timed briefly on random frames: the backend (TensorFlow, or the graph converted to TF Lite and
run by XNNPACK), the compute type, XLA on or off, the batch size where the chain batches.
Each candidate's output is checked against float32 TensorFlow, and the fastest that agrees
within the pipeline's tolerance is kept in `$DREAMREEL_HOME/tuning.json` under this machine's
fingerprint (CPU model and flags, GPU, TensorFlow version), the way FFTW keeps its wisdom.
Later runs reuse it without timing. `--precision`, `--jit`, `--batch` and `--backend` force a
choice instead.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from filelock import FileLock

from dreamreel import weights
from dreamreel.engine import compute, stages
from dreamreel.engine.graph import FrameGraph, LiteGraph
from dreamreel.engine.stages import Built, StageSpec
from dreamreel.errors import SettingsError
from dreamreel.pipelines import registry, settings

BACKENDS = ("tf", "lite")
TIMED_CALLS = 2  # at most, after a warm-up call that traces
TIMED_SECONDS = 0.5  # enough timing for one candidate: a slow graph is timed once
BATCHES = (1, 4)
NEAR_CLASSES = 2  # a choice also serves sizes up to 4x smaller or larger, when none is nearer
VERSION = 1  # of the candidates and their timing; a new one forgets older choices


@dataclass(frozen=True)
class Choice:
    """How a chain runs: backend, compute type, XLA and frames per call."""

    backend: str = "tf"
    precision: str = "float32"
    jit: bool = False
    batch: int = 1

    def describe(self) -> str:
        return (f"{'TF Lite/XNNPACK' if self.backend == 'lite' else 'TensorFlow'}, "
                f"{self.precision}, XLA {'on' if self.jit else 'off'}, batch {self.batch}")


@dataclass
class Trial:
    """One candidate's measurement."""

    choice: Choice
    ms_per_frame: float
    difference: float  # mean absolute difference from float32 TensorFlow, levels of 255
    agrees: bool
    note: str = ""


@dataclass(frozen=True)
class Request:
    """What is being tuned, and what the user forced (None: the tuner decides)."""

    chain: tuple[StageSpec, ...]
    height: int  # the working size
    width: int
    device: str
    backend: str | None = None
    precision: str | None = None
    jit: bool | None = None
    batch: int | None = None
    batches: bool = True  # the chain may take several frames a call (a file, not a show)

    @property
    def kind(self) -> str:
        """What is timed: a sequential stage, else the frame stages' graph, else a source."""
        kinds = {registry.get(s.name).kind for s in self.chain}
        return next(k for k in ("sequential", "frame", "source") if k in kinds)

    def key(self) -> str:
        """What a choice is kept under: the chain and the size class (pixels rounded to a
        power of two: which way is fastest changes slowly with the size)."""
        chain = ",".join(_stage_key(s) for s in self.chain)
        pixels = 2 ** round(math.log2(self.height * self.width))
        return f"{chain}|{self.kind}|{pixels}px|{self.device}|batches {self.batches}"


def _stage_key(stage: StageSpec) -> str:
    """'style', or 'style[upsampling=bilinear]' where a setting that builds another graph is
    not at its default."""
    shaping = [f"{e.name}={getattr(stage.options, e.name)}"
               for e in settings.entries(type(stage.options))
               if e.knob.graph and getattr(stage.options, e.name) != e.default]
    return stage.name + (f"[{';'.join(shaping)}]" if shaping else "")


def machine() -> str:
    """This machine as far as speed goes: CPU model and vector units, GPUs, TensorFlow."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("model name")), "unknown CPU")
    gpus = ",".join(d.name for d in tf.config.list_physical_devices("GPU")) or "no GPU"
    return f"{model} ({compute.cpu_features()}), {os.cpu_count()} cores, {gpus}, TF {tf.__version__}"


def _cache_path() -> Path:
    return weights.home() / "tuning.json"


def _load() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == VERSION else {}


def _save(machine_name: str, key: str, trials: list[Trial]) -> None:
    """Keep `trials` under `key`, beside the ways timed before and not timed again (a job
    that forced a choice times only its own), with the fastest agreeing one as the choice.
    Read, merged and replaced under a lock, so two jobs tuning at once both keep theirs."""
    path = _cache_path()
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        (path.parent / "locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.parent / "locks" / "tuning.lock")):
            data = _load() or {"version": VERSION}
            entry = data.setdefault(machine_name, {})
            entry[key] = _merged(entry.get(key, {}), trials)
            temp.write_text(json.dumps(data, indent=1))
            temp.replace(path)
    except OSError as err:  # a read-only or full cache: the run goes on, measured again next time
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        print(f"dreamreel: cannot keep the measured choice in {path} ({err.strerror or err})",
              file=sys.stderr)


def _merged(entry: dict[str, Any], trials: list[Trial]) -> dict[str, Any]:
    """A key's entry with `trials` replacing the same ways' earlier rows, and its choice."""
    rows = {Choice(r["backend"], r["precision"], r["jit"], r["batch"]): r
            for r in entry.get("trials", [])}
    rows.update({t.choice: {**asdict(t.choice), "ms_per_frame": round(t.ms_per_frame, 2),
                            "difference": round(t.difference, 3), "agrees": t.agrees,
                            "note": t.note} for t in trials})
    best = min((r for r in rows.values() if r["agrees"]), key=lambda r: r["ms_per_frame"],
               default=next(iter(rows.values())))
    return {"choice": {f: best[f] for f in ("backend", "precision", "jit", "batch")},
            "trials": list(rows.values())}


def cached(request: Request) -> Choice | None:
    """The fastest agreeing way measured earlier on this machine for this chain, within what
    the user forced: at this size class, else at the nearest one within NEAR_CLASSES (a short
    job is not worth timing, and the fastest way changes slowly with the size), else None."""
    chain, kind, pixels, device, _ = request.key().split("|")
    near = []
    for key, found in _load().get(machine(), {}).items():
        k_chain, k_kind, k_pixels, k_device, _ = key.split("|")
        if (k_chain, k_kind, k_device) != (chain, kind, device):
            continue
        steps = abs(math.log2(int(k_pixels[:-2]) / int(pixels[:-2])))
        timed = [(t["ms_per_frame"], Choice(t["backend"], t["precision"], t["jit"], t["batch"]))
                 for t in found["trials"] if t["agrees"]]
        allowed = [t for t in timed if _allowed(t[1], request)
                   and (request.batches or t[1].batch == 1)]
        if steps <= NEAR_CLASSES and allowed:
            near.append((steps, min(allowed, key=lambda t: t[0])[1]))
    return min(near, key=lambda n: n[0])[1] if near else None


def default(request: Request) -> Choice:
    """The choice without measuring: bfloat16 only where it is native, XLA on a GPU; TF
    Lite/XNNPACK float32 for a chain whose pipelines all measured faster that way on a CPU
    where TensorFlow leaves oneDNN off (one frame a call), else TensorFlow with four frames a
    call for a frame chain on a file (the rules `auto` falls back on)."""
    names = {s.name for s in request.chain}
    native = set.intersection(*(set(registry.get(n).precisions) for n in names))
    precision = compute.resolve_precision(request.precision or "auto", names, request.device,
                                          tuple(native))
    on_gpu = "GPU" in request.device.upper()
    jit = request.jit if request.jit is not None else on_gpu
    lite = (request.kind == "frame" and precision == "float32" and not jit and not on_gpu
            and not compute.onednn_enabled()
            and all(registry.get(n).lite_without_onednn for n in names))
    backend = request.backend or ("lite" if lite else "tf")
    batch = request.batch or (4 if backend == "tf" and request.kind == "frame"
                              and request.batches else 1)
    return Choice(backend, precision, jit, batch)


def candidates(request: Request) -> list[Choice]:
    """Every way the request may run, within what the user forced."""
    names = {s.name for s in request.chain}
    precisions = set.intersection(*(set(registry.get(n).precisions) for n in names))
    on_gpu = "GPU" in request.device.upper()
    if request.kind == "source":  # a generator alone: nothing of its own to tune here
        return [default(request)]
    frame = request.kind == "frame"
    backends = ("tf",) if on_gpu or not frame else BACKENDS
    jits = (True, False) if frame or on_gpu else (False,)
    batches = BATCHES if frame and request.batches else (1,)
    found = []
    for backend in backends:
        for precision in sorted(precisions):
            for jit in jits:
                if backend == "lite" and (jit or precision != "float32"):
                    continue  # the converted graph is float32, without XLA
                # XNNPACK takes the frames of a batch one by one: batching only costs tracing
                for batch in batches if backend == "tf" else (1,):
                    choice = Choice(backend, precision, jit, batch)
                    if _allowed(choice, request):
                        found.append(choice)
    return found


def _allowed(choice: Choice, request: Request) -> bool:
    forced = {"backend": request.backend, "precision": request.precision, "jit": request.jit,
              "batch": request.batch}
    return all(value is None or getattr(choice, name) == value for name, value in forced.items())


def tune(request: Request, ctx_args: dict[str, Any] | None = None,
         say: Callable[[str], None] | None = None, force: bool = False) -> tuple[Choice, list[Trial]]:
    """The fastest agreeing candidate for `request`: from the cache, or measured now (and
    cached). `say` is told that tuning happens, and what was chosen."""
    options = candidates(request)
    if len(options) == 1:
        return options[0], []
    if not force:
        choice = cached(request)
        if choice is not None and request.key() in _load().get(machine(), {}):
            return choice, []
    if say:
        say(f"dreamreel: tuning {','.join(s.name for s in request.chain)} at "
            f"{request.width}x{request.height} for this machine ({len(options)} ways, once)")
    trials = measure(request, options, ctx_args or {})
    agreeing = [t for t in trials if t.agrees] or trials
    best = min(agreeing, key=lambda t: t.ms_per_frame)
    _save(machine(), request.key(), trials)
    if say:
        say(f"dreamreel: tuned: {best.choice.describe()} ({best.ms_per_frame:.0f} ms a frame)")
    return best.choice, trials


def measure(request: Request, options: list[Choice], ctx_args: dict[str, Any]) -> list[Trial]:
    """Time the candidates on the same random frames, float32 TensorFlow first (the reference
    for agreement): every way at one frame a call, then the fastest agreeing one at its
    larger batches. A candidate that is already twice as slow as the best is not timed again."""
    frames = np.random.default_rng(0).integers(
        0, 256, (max(c.batch for c in options), request.height, request.width, 3), np.uint8)
    tolerance = max(registry.get(s.name).tolerance for s in request.chain)
    tf.get_logger().setLevel("ERROR")  # each candidate traces anew, on purpose
    built: dict[tuple[str, bool], Built] = {}
    trials: list[Trial] = []
    reference: list[np.ndarray] = []  # float32 TensorFlow's output, once it is measured

    def trial(choice: Choice) -> Trial:
        # XLA is the graph's own setting for frame chains, the effect's for sequential ones
        key = (choice.precision, choice.jit and request.kind == "sequential")
        if key not in built:
            built[key] = stages.build(request.chain, stages.context(*key, **ctx_args))
        try:
            call = _runner(built[key], request, choice, frames[: choice.batch])
        except SettingsError as err:  # e.g. an op TF Lite has no kernel for
            return Trial(choice, float("inf"), float("inf"), False, str(err))
        output = np.asarray(call())[0].astype(np.float32)  # traces and compiles
        if not reference:
            reference.append(output)
        best = min((t.ms_per_frame for t in trials if t.agrees), default=float("inf"))
        times = []
        for _ in range(TIMED_CALLS):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
            if sum(times) > TIMED_SECONDS or 1000 * times[-1] / choice.batch > 2 * best:
                break
        difference = float(np.abs(output - reference[0]).mean())
        return Trial(choice, 1000 * statistics.median(times) / choice.batch, difference,
                     difference <= tolerance)

    first = sorted((c for c in options if c.batch == min(o.batch for o in options)),
                   key=lambda c: c != Choice(batch=c.batch))
    for choice in first:
        trials.append(trial(choice))
    agreeing = [t for t in trials if t.agrees] or trials
    winner = min(agreeing, key=lambda t: t.ms_per_frame).choice
    for choice in options:
        if choice not in first and choice == Choice(winner.backend, winner.precision,
                                                    winner.jit, choice.batch):
            trials.append(trial(choice))
    return trials


def _runner(built: Built, request: Request, choice: Choice,
            frames: np.ndarray) -> Callable[[], np.ndarray]:
    """One call of the candidate on `frames` (a batch for a frame chain, one frame's probe
    for a sequential one)."""
    if request.kind == "sequential":
        effect = built.sequential
        probe = getattr(effect, "probe", None)
        return probe(frames[0]) if probe is not None else (lambda: effect(frames[0], None, 0)[None])
    graph = FrameGraph(built.graph, choice.batch, request.height, request.width,
                       jit=choice.jit, device=request.device)
    if choice.backend == "lite":
        graph = LiteGraph(graph)
    controls = built.graph_controls(1.0)
    return lambda: graph(frames, controls)
