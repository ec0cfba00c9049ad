"""The typed job API: `RunSpec` says what to make, `stylize` makes it.

    import dreamreel
    stats = dreamreel.stylize(input="clip.mp4", output="out.mp4", pipeline="style", style="7")
    spec = dreamreel.RunSpec.make("clip.mp4", "dream.mp4", pipeline="dream", layer="block5_conv1")
    dreamreel.stylize(spec)

The command line only turns its arguments into a RunSpec; `demo`, `bench` and Python callers
build one directly. Every output keeps the input's size, frames, timestamps and sound; nothing
is written under the output's name until it is complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from dreamreel.engine import compute, learning, processing, stages, tuning
from dreamreel.engine.checkpoint import Checkpoint, fingerprint
from dreamreel.engine.cluster import ClusterOptions
from dreamreel.engine.mask import Mask, MaskSpec
from dreamreel.engine.media import MediaInfo
from dreamreel.engine.music import reaction as music
from dreamreel.engine.runner import RunStats, run_stream
from dreamreel.engine.sinks import open_sink
from dreamreel.engine.sinks.base import takes_alpha
from dreamreel.engine.sinks.safety import check_plot
from dreamreel.engine.sinks.video import CHROMA
from dreamreel.engine.sources import open_source
from dreamreel.engine.stages import StageSpec
from dreamreel.engine.temporal import DEFAULT_PRESET, FlowMemo
from dreamreel.engine.timing import resample
from dreamreel.engine.two_way import MEMO, BackwardPass
from dreamreel.errors import UsageError
from dreamreel.pipelines import registry
from dreamreel.pipelines.style.effects import style_terms
from dreamreel.pipelines.style.layout import STEADY
from dreamreel.weights import learned, steady


@dataclass
class RunSpec:
    """One job: what to read, what to make of it, and how to write it.

    stages: the chain, each stage with its settings (see `RunSpec.make` to build them from
      a chain text and setting values).
    strength: 0..1, how much of each stage's effect (a stage's own `@S` wins).
    size: the short side the networks see (None: the input's); the output keeps the input's.
    temporal: the stabiliser's weight (None: on for video at the pipeline's default; 0: off).
    checkpoint: a folder where a sequential stage saves finished frames (under `ray`: where
      finished chunks are kept), so the same job resumes after an interruption.
    ray: render on a Ray cluster, in chunks (engine.cluster); None: in this process.
    react: settings that follow the clip's sound, frame by frame (see engine.music.react).
    """

    input: str | Path
    output: str | Path
    stages: tuple[StageSpec, ...]
    strength: float = 1.0
    preserve_color: bool = False
    size: int | None = None
    batch: int | None = None  # None: measured (tuning)
    temporal: float | None = None
    two_way: bool | None = None  # the stabilised frames smoothed backward too; None: see
    # `smooths_backward`
    flow_preset: str = DEFAULT_PRESET
    backend: str = "auto"
    jit: str = "auto"
    precision: str = "auto"
    device: str | None = None
    offline: bool = False
    start: float | None = None
    duration: float | None = None
    fps: float | None = None
    crf: int = 18
    preset: str = "medium"
    chroma: str = "420"  # H.264/VP9 colour resolution (engine.sinks.video.CHROMA)
    audio: bool = True
    dither: bool = True
    overwrite: bool = False
    montage: bool = False  # the output is one picture tiling every frame
    checkpoint: Path | None = None
    ray: ClusterOptions | None = None
    react: tuple[str, ...] = ()  # music mappings, e.g. "strength=0.4+0.6*bass" (engine.music)
    bpm: float | None = None  # the music's tempo, instead of the beats found in the sound
    react_plot: Path | None = None  # where to draw the mapped values against the result
    react_fade: float = 0.0  # beats over which a value stepped on a beat or bar crosses over
    mask: MaskSpec | None = None  # the effect on the performer or the stage only (engine.mask)
    stage: tuple[StageSpec, ...] = ()  # with a mask: the chain shown where the effect is not

    def smooths_backward(self, frame: tuple[int, int]) -> bool:
        """Whether the stabilised frames of an input of `frame` (height, width) are smoothed
        backward as well (engine.two_way): as `two_way` says, else where the engine
        stabilises effects that paint each frame on their own, at the frame's own size. There
        the backward pass reuses the forward one's flows: half the flicker left for 11-16%
        more time on 2-core AMD EPYCs (RESULTS.md, "Two-way"). A smaller `size` asks for
        speed, and the backward pass would solve flows at the frame's size too; an effect that
        carries its own past, a feedback dream or film mode, stays one way unless asked, and
        so does `react`, whose pulse is mixed in after the stabiliser so that it is not
        smoothed away. An effect that keeps itself steady has no blend to smooth unless
        --temporal adds one."""
        if self.temporal == 0 or self.temporal is None and self._keeps_steady():
            return False
        if self.two_way is not None:
            return self.two_way
        own_size = compute.working_size(*frame, self.size) == tuple(frame)
        return own_size and not self.react and all(registry.get(s.name).kind == "frame"
                                                   for s in (*self.stages, *self.stage))

    def _keeps_steady(self) -> str | None:
        """The name of a stage that keeps itself steady, with no blend of its own."""
        return next((s.name for s in self.stages if registry.get(s.name).keeps_steady), None)

    @classmethod
    def make(cls, input: str | Path, output: str | Path, pipeline: str = "style",
             **values: Any) -> RunSpec:
        """A spec from a chain text ('vintage@0.6,style') and keyword values: RunSpec fields
        (size=360, temporal=0, ...), any stage's settings (style="7", layer="block5_conv1"),
        and `stage`, the chain text of what shows around a mask."""
        own = {f.name for f in fields(cls)} - {"input", "output", "stages", "stage"}
        job = {k: v for k, v in values.items() if k in own}
        given = {k: v for k, v in values.items() if k not in own and k != "stage"}
        chain = stages.stages(pipeline, given)
        around = stages.stages(values["stage"], given) if values.get("stage") else ()
        settings = {k for s in (*chain, *around) for k in _names(s)}
        unknown = sorted(set(values) - own - settings - {"stage"})
        if unknown:
            raise UsageError(f"unknown option(s) {', '.join(unknown)} for pipeline '{pipeline}'")
        return cls(input, output, chain, **job, stage=around)

    def check(self) -> None:
        """Raise UsageError for numbers that cannot work, before anything is opened."""
        checks = [
            (self.batch is None or self.batch >= 1, "--batch must be at least 1"),
            (self.backend in ("auto", *tuning.BACKENDS),
             f"backend must be one of auto, {', '.join(tuning.BACKENDS)}"),
            (self.size is None or self.size >= 16, "--size must be at least 16 pixels"),
            (self.temporal is None or 0 <= self.temporal <= 1, "--temporal must be within 0..1"),
            (self.fps is None or self.fps > 0, "--fps must be positive"),
            (0.0 <= self.strength <= 1.0, f"--strength must be within 0..1, not {self.strength}"),
            (self.jit in compute.JIT_CHOICES, f"jit must be one of {compute.JIT_CHOICES}"),
            (self.precision in compute.PRECISION_CHOICES,
             f"precision must be one of {compute.PRECISION_CHOICES}"),
        ]
        if self.ray is not None:
            checks += [
                (self.ray.workers is None or self.ray.workers >= 1, "--workers must be at least 1"),
                (self.ray.worker_cpus >= 1, "--worker-cpus must be at least 1"),
                (self.ray.warmup is None or self.ray.warmup >= 0, "--warmup must be 0 or more"),
                (self.ray.chunk is None or self.ray.chunk > 0, "--chunk must be positive"),
            ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        if self.react and self.ray is not None:
            raise UsageError("--react runs in one process: leave out --ray")
        if self.two_way and self.temporal == 0:
            raise UsageError("--two-way smooths the stabiliser's result: leave out --temporal 0")
        steady_stage = self._keeps_steady()
        if self.two_way and self.temporal is None and steady_stage:
            raise UsageError("--two-way smooths the stabiliser's result, and "
                             f"{steady_stage} has none: add --temporal W to give it one")
        if self.chroma not in CHROMA:
            raise UsageError(f"--chroma must be one of {', '.join(CHROMA)}, not {self.chroma!r}")
        if runs_steady((*self.stages, *self.stage)):  # before tuning or fetching, not after
            steady.require()
        if self.mask is not None:
            self.mask.check()
            if self.mask.alpha and (self.montage or not takes_alpha(Path(self.output))
                                    or Path(self.output).suffix.lower() == ".gif"):
                raise UsageError(f"--alpha: {self.output} cannot hold an alpha channel; name "
                                 "a .mov (ProRes 4444), .webm (VP9), .png or folder output")
            if self.ray is not None:
                raise UsageError("--mask follows the performer from frame to frame in one "
                                 "process: leave out --ray")
        elif self.stage:
            raise UsageError("--stage is what shows around the masked effect: add --mask")
        if (self.bpm is not None or self.react_plot is not None or self.react_fade) \
                and not self.react:
            raise UsageError("--bpm, --react-plot and --react-fade go with --react")
        if not 0 <= self.react_fade <= 64:
            raise UsageError("--react-fade must be within 0..64 beats")
        kinds = [registry.get(s.name).kind for s in self.stages]
        if "source" in kinds:
            raise UsageError(f"{self.stages[0].name} makes the picture: use `dreamreel generate`")


def _names(stage: StageSpec) -> set[str]:
    return {f.name for f in fields(stage.options)}


def stylize(spec: RunSpec | None = None, /, *,
            progress: Callable[[int, int | None], None] | None = None,
            report: Callable[[str], None] | None = None,
            say: Callable[[str], None] | None = None, **values: Any) -> RunStats:
    """Run a job (a RunSpec, or the keywords of `RunSpec.make`) and return its figures.

    `progress(frames_done, frames_expected)` is called after every frame; `report(line)` gets
    what a long job has to say (a film frame's losses), `say(line)` what the engine decides
    (tuning for this machine). Ctrl-C (and, under the command line, SIGTERM and SIGHUP) keeps
    the frames finished so far in a playable output (`stats.interrupted`).
    """
    if spec is None:
        spec = RunSpec.make(**values)
    elif values:
        raise UsageError("give a RunSpec or keywords, not both")
    spec.check()
    if spec.ray is not None:
        try:
            from dreamreel.engine.cluster.driver import run_on_ray
        except ImportError as err:  # Ray is an optional extra
            raise UsageError(f"--ray needs Ray ({err}): pip install 'dreamreel[cluster]'"
                             ) from None
        return run_on_ray(spec, progress=progress, say=say)
    with open_source(spec.input, start=spec.start, duration=spec.duration) as source:
        info = source.info
        reaction = None
        if spec.react:
            if spec.react_plot is not None:
                check_plot(spec.react_plot, [Path(spec.input), Path(spec.output)], spec.overwrite,
                           "--react-plot")
            reaction = music.build(spec.react, spec.bpm, spec.stages, info, spec.start,
                                   spec.duration, say, spec.react_fade)
        sink = open_sink(spec.output, info, crf=spec.crf, preset=spec.preset, chroma=spec.chroma,
                         audio_from=info if spec.audio and info.has_audio else None,
                         start=spec.start, duration=spec.duration, gif_dither=spec.dither,
                         overwrite=spec.overwrite, montage=spec.montage)
        try:
            with sink:
                job = prepare(spec, info, say=say, reaction=reaction)
                stage = None if not spec.stage else prepare(
                    dataclasses.replace(spec, stages=spec.stage, stage=(), mask=None, react=(),
                                        batch=1),  # in step with the masked chain
                    info, say=say)
                processor, backward = job.passes(report=report, reaction=reaction, stage=stage)
                frames = resample(source, spec.fps) if spec.fps else source
                on_frame = None if progress is None else (
                    lambda done: progress(done, info.frame_count))
                stats = run_stream(frames, processor.process, processor.batch, sink.write,
                                   processor.prepare, processor.finish, on_frame, backward)
                if stats.interrupted:
                    stats.kept = sink.keep_finished()
        except KeyboardInterrupt:  # it came as the file was being finished: that file is whole
            if not sink.published:
                raise
            stats.interrupted, stats.kept = True, sink.frames_written
    choice, device = job.choice, job.device
    stats.lost_frames = source.lost_frames
    stats.summary = {"input": str(spec.input), "output": str(spec.output),
                     "width": info.width, "height": info.height, "batch": processor.batch,
                     "device": device, "backend": choice.backend, "jit": choice.jit,
                     "precision": choice.precision, "temporal": processor.temporal,
                     "two_way": backward is not None,
                     "stage_seconds": {k: round(v, 3) for k, v in stats.stage_seconds.items()},
                     "stages": [{"name": s.name, "strength": s.strength, **_plain(s.options)}
                                for s in spec.stages]}
    if processor.mask is not None:
        stats.summary["mask"] = processor.mask.summary()
        if spec.stage:
            stats.summary["mask"]["around"] = ",".join(s.name for s in spec.stage)
    if reaction is not None:
        stats.summary["react"] = reaction.summary()
        if spec.react_plot is not None and reaction.record:
            reaction.plot(spec.react_plot, spec.overwrite)
    return stats


@dataclass
class Prepared:
    """A job's chain built for one source: what `processor` needs to make a fresh pipeline
    (one per run, or one per chunk of a film on a cluster worker, sharing compiled graphs)."""

    spec: RunSpec
    info: MediaInfo
    choice: tuning.Choice
    device: str
    built: stages.Built
    work: tuple[int, int]

    def passes(self, **options: Any) -> tuple[processing.Processor, BackwardPass | None]:
        """A fresh `processor(**options)` and, where the spec smooths backward too, the
        backward pass that follows its stabiliser, the two sharing their flows."""
        frame = (self.info.height, self.info.width)
        smooths = self.spec.smooths_backward(frame)
        memo = FlowMemo(MEMO) if smooths else None
        processor = self.processor(**options, memo=memo)
        if not (smooths and processor.temporal):
            return processor, None
        return processor, BackwardPass(processing.flow_scale(frame), self.spec.flow_preset, memo)

    def processor(self, report: Callable[[str], None] | None = None, first: int = 0,
                  reaction: music.Reaction | None = None, stage: Prepared | None = None,
                  memo: FlowMemo | None = None) -> processing.Processor:
        """A pipeline with no past (`first`: the index of the first frame it will see;
        `reaction`: settings that follow the music; `stage`: the chain shown where the mask
        keeps the effect out, instead of the camera; `memo`: where its stabiliser keeps its
        flows for two-way `run`)."""
        spec, still = self.spec, self.info.kind == "image"
        common = dict(built=self.built, frame=(self.info.height, self.info.width),
                      work=self.work, strength=spec.strength,
                      temporal=0.0 if still else spec.temporal, flow_preset=spec.flow_preset,
                      jit=self.choice.jit, device=self.device,
                      preserve_color=spec.preserve_color, reaction=reaction, memo=memo)
        if self.built.sequential is not None:
            checkpoint = None if spec.checkpoint is None or spec.ray is not None else Checkpoint(
                spec.checkpoint, fingerprint(spec.input, describe(spec)))
            made = processing.sequential(**common, checkpoint=checkpoint, report=report,
                                         first=first)
        else:
            made = processing.batched(**common, batch=self.choice.batch,
                                      backend=self.choice.backend)
        if spec.mask is None:
            return made
        mask = Mask(spec.mask, gpu="GPU" in self.device)
        return processing.masked(made, mask, None if stage is None else stage.processor(report))


def prepare(spec: RunSpec, info: MediaInfo, choice: tuning.Choice | None = None,
            say: Callable[[str], None] | None = None,
            reaction: music.Reaction | None = None) -> Prepared:
    """Decide how the job runs (unless `choice` says) and build its chain (ready for every
    value the music will move its settings to)."""
    still = info.kind == "image"
    work = compute.working_size(info.height, info.width, spec.size)
    device = spec.device or compute.default_device()
    if choice is None:
        # a frame at a time: its own controls (music), or in step with a second chain (--stage)
        one_by_one = bool(spec.stage) or (reaction is not None and reaction.changes_settings)
        choice = decide(spec, work, device, 1 if still else info.frame_count, say, one_by_one)
    ctx = stages.context(choice.precision, choice.jit, video=not still, offline=spec.offline,
                         moves=None if reaction is None else reaction.moves)
    built = stages.build(spec.stages, ctx)
    if reaction is not None:
        reaction.check(built)
    learning.teach(built, spec.input, work, spec.start, spec.duration, say)
    return Prepared(spec, info, choice, device, built, work)


# Tuning takes seconds (a trace and a few timed calls per candidate), so it runs when a job
# is long enough to repay it: about this many pixels through the network (150 frames at
# 640x360). Shorter jobs take an earlier measurement of this machine, or the rules.
TUNE_PIXELS = 150 * 640 * 360


def decide(spec: RunSpec, work: tuple[int, int], device: str, frames: int | None,
           say: Callable[[str], None] | None = None, one_by_one: bool = False) -> tuning.Choice:
    """How the job runs: what the user forced, and for the rest the tuner's choice for this
    machine (measured now when the job is long enough to repay it); `one_by_one`: batches of
    one frame."""
    still = frames == 1
    request = tuning.Request(
        spec.stages, *work, device, batches=not still,
        backend=None if spec.backend == "auto" else spec.backend,
        precision=None if spec.precision == "auto" else spec.precision,
        jit=None if spec.jit == "auto" else spec.jit == "on",
        batch=1 if still or one_by_one else spec.batch)
    if (frames or 0) * work[0] * work[1] >= TUNE_PIXELS:
        return tuning.tune(request, {"video": True, "offline": spec.offline}, say=say)[0]
    return tuning.cached(request) or tuning.default(request)


def describe(spec: RunSpec) -> str:
    """Everything that decides a sequential job's frames, as text (files by their contents)."""
    job = {k: _plain_value(v) for k, v in dataclasses.asdict(spec).items()
           if k in ("strength", "preserve_color", "size", "start", "duration", "fps", "react",
                    "bpm", "react_fade")}
    chain = [{"name": s.name, "strength": s.strength, **_plain(s.options, contents=True)}
             for s in spec.stages]
    named = {name for s in spec.stages if isinstance(getattr(s.options, "style", None), str)
             for name, _ in style_terms(s.options.style)}
    job["learned_styles"] = {name: hashlib.sha256(learned.path_of(name).read_bytes()).hexdigest()
                             for name in sorted(named & set(learned.names()))}
    if steady.path().exists() and runs_steady(spec.stages):
        job["steady_network"] = hashlib.sha256(steady.path().read_bytes()).hexdigest()
    return json.dumps({"job": job, "stages": chain}, sort_keys=True)


def runs_steady(stages: tuple[StageSpec, ...]) -> bool:
    """Whether a stage paints with the steady network (`--upsampling steady`)."""
    return any(getattr(s.options, "upsampling", None) == STEADY for s in stages)


def _plain(options: Any, contents: bool = False) -> dict[str, Any]:
    return {f.name: _plain_value(getattr(options, f.name), contents) for f in fields(options)}


def _plain_value(value: Any, contents: bool = False) -> Any:
    """JSON-ready; a file path, with `contents`, as the digest of the file."""
    if isinstance(value, Path):
        if contents and value.is_file():
            return hashlib.sha256(value.read_bytes()).hexdigest()
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain_value(v, contents) for v in value]
    if isinstance(value, Fraction):
        return float(value)
    return value

