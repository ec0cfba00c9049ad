"""`dreamreel run --ray`: a film rendered in chunks by Ray workers and joined by packet copy.

The driver demuxes the film (nothing decoded), has the workers find its scene cuts, plans
chunks (engine.cluster.plan), hands each chunk's packets to a worker, longest first, and
keeps every encoded part as it arrives, so the same command resumes after Ctrl-C or a crash.
A worker or node that dies has its chunk redone by another (three tries at most). The parts
are joined in order by packet copy and the input's sound added once, as a single run would.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import ray

from dreamreel.engine import signals, two_way
from dreamreel.engine.checkpoint import fingerprint
from dreamreel.engine.cluster import ClusterOptions, packets, plan
from dreamreel.engine.cluster.parts import Parts, part_suffix
from dreamreel.engine.cluster.worker import Renderer
from dreamreel.engine.media import MediaInfo
from dreamreel.engine.runner import RunStats
from dreamreel.engine.sinks import open_sink
from dreamreel.engine.sinks.images import IMAGE_EXTENSIONS
from dreamreel.engine.sinks.video import _VideoSink
from dreamreel.engine.sources import open_source
from dreamreel.errors import MediaError, UsageError
from dreamreel.pipelines import registry

TRIES = 3  # renders of one chunk before the run gives up on it
POLL = 0.5  # seconds between progress reports from the workers
START_WAIT = 300.0  # seconds without a live worker before the run gives up
FOLDER_BYTES = 512 * 2**20  # a chunk's frames as raw RGB, for a folder output
LOST = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
        ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError)


def run_on_ray(spec, progress: Callable[[int, int | None], None] | None = None,
               say: Callable[[str], None] | None = None) -> RunStats:
    """Render `spec` (a RunSpec whose `ray` says how) on a Ray cluster."""
    from dreamreel.engine.job import describe

    options: ClusterOptions = spec.ray
    _refuse(spec)
    with open_source(spec.input, start=spec.start, duration=spec.duration) as source:
        info = source.info
    if info.kind != "video":
        raise UsageError(f"{spec.input}: --ray renders video files; a {info.kind} is rendered "
                         "without it")
    index = packets.scan(info, spec.start, spec.duration)
    info = replace(info, frame_count=index.frames)
    sink = open_sink(spec.output, info, crf=spec.crf, preset=spec.preset, chroma=spec.chroma,
                     audio_from=info if spec.audio and info.has_audio else None,
                     start=spec.start, duration=spec.duration, overwrite=spec.overwrite)
    folder = not isinstance(sink, _VideoSink)
    smooths = spec.smooths_backward((info.height, info.width))
    shaping = (spec.temporal, spec.flow_preset, spec.backend, spec.jit, spec.precision,
               spec.device, spec.batch, spec.crf, spec.preset, spec.chroma, folder,
               Path(spec.output).suffix, options.warmup, options.chunk,
               smooths)  # besides what `describe` says
    try:
        parts = Parts(spec.checkpoint or Path(f"{spec.output}".rstrip("/") + ".parts"),
                      fingerprint(spec.input, describe(spec) + repr(shaping)),
                      part_suffix(spec.output, folder))
    except BaseException:
        sink.abort()
        raise
    with sink, _Cluster(options) as cluster:
        run = _Run(spec, info, index, parts, cluster, folder, smooths, progress, say)
        stats = run.render()
        if stats.interrupted:
            sink.abort()
            return stats
        with signals.shielded():  # a signal now waits: the parts are joined whole or not
            for chunk in parts.plan:
                sink.adopt(parts.path(chunk), index.frame_pts[chunk.lo] - index.origin)
    if spec.checkpoint is None:
        parts.remove()
    return stats


def _refuse(spec) -> None:
    suffix = Path(spec.output).suffix.lower()
    if suffix == ".gif":
        raise UsageError("--ray cannot make a GIF (each frame's palette and the loop are made "
                         "whole); render an .mp4 with --ray, or the GIF without it")
    if suffix in IMAGE_EXTENSIONS:
        raise UsageError("--ray makes a video or a folder of frames, not one image")
    if spec.fps is not None:
        raise UsageError("--ray keeps every frame and timestamp; --fps is for a run without it")
    if spec.montage:
        raise UsageError("--ray makes a video or a folder of frames, not a montage")
    learners = [s.name for s in spec.stages if registry.get(s.name).learns]
    if learners:
        raise UsageError(f"--ray: {', '.join(learners)} learns from the whole clip before the "
                         "first frame; render it without --ray")


class _Cluster:
    """Ray joined (ADDRESS) or started on this machine, and the workers' shape on it."""

    def __init__(self, options: ClusterOptions) -> None:
        self.options = options
        self.started = False

    def __enter__(self) -> _Cluster:
        address = self.options.address
        local = address in (None, "local")
        if not local:
            _check_reachable(address)
        if ray.is_initialized():  # a caller's own Ray (a test's cluster, a notebook's)
            return self
        handlers = {s: signal.getsignal(s) for s in signals.HANDLED}
        try:
            ray.init(address="local" if local else address, include_dashboard=False,
                     num_cpus=_local_cpus(self.options) if local else None,
                     logging_level=logging.WARNING, log_to_driver=False,
                     configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UsageError(f"--ray {address}: cannot join the cluster ({err})") from None
        finally:  # Ray sets its own SIGTERM handler: TERM and HUP stay like Ctrl-C
            for signum, handler in handlers.items():
                if handler is not None:
                    signal.signal(signum, handler)
        self.started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            ray.shutdown()

    def workers(self) -> tuple[int, dict[str, float]]:
        """How many renderers, and what each holds."""
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        cpus = self.options.worker_cpus
        gpus = sum(int(n.get("GPU", 0)) for n in nodes)
        slots = gpus or sum(int(n.get("CPU", 0)) // cpus for n in nodes)  # whole slots a node
        count = self.options.workers or max(1, slots)
        return count, {"num_cpus": cpus, "num_gpus": 1 if gpus else 0}


def _check_reachable(address: str) -> None:
    """A head that does not answer is one line now, not minutes of Ray's retries."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():  # "auto" and the like: Ray finds it
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as err:
        raise UsageError(f"--ray {address}: nothing answers there ({err.strerror or err}); "
                         "start the head with `ray start --head`") from None


def _local_cpus(options: ClusterOptions) -> int:
    wanted = (options.workers or 0) * options.worker_cpus
    return max(wanted, os.cpu_count() or 1)


class _Run:
    """One film on the cluster: its workers, its plan, its parts and its progress."""

    def __init__(self, spec, info: MediaInfo, index: packets.Index, parts: Parts,
                 cluster: _Cluster, folder: bool, smooths: bool, progress, say) -> None:
        self.spec, self.info, self.index, self.parts = spec, info, index, parts
        self.folder, self.progress, self.say = folder, progress, say or (lambda line: None)
        self.smooths = smooths  # two-way: each chunk renders LOOKAHEAD frames past its end
        self.count, self.resources = cluster.workers()
        self.choice = None  # how every renderer runs the chain: the first one's tuning
        self.records: dict[int, dict[str, object]] = {}
        self.tries: dict[object, int] = {}
        # Renderers take work once they answer: one the cluster has no room for never does.
        self.renderers: list = []
        self.starting: dict[ray.ObjectRef, object] = {}
        for _ in range(self.count):
            self._start()

    def _start(self) -> None:
        renderer = Renderer.options(**self.resources).remote(self.spec, self.info,
                                                             self.resources["num_cpus"])
        self.starting[renderer.progress.remote()] = renderer

    def render(self) -> RunStats:
        began = time.perf_counter()
        stats = RunStats()
        try:
            self.choice = self._call(lambda r: r.choose.remote(), "tuning")
            if self.parts.plan is None:
                self._plan()
            todo = [c for c in self.parts.plan if not self.parts.done(c)]
            kept = len(self.parts.plan) - len(todo)
            if kept:
                self.say(f"dreamreel: resuming: {kept} of {len(self.parts.plan)} chunks are "
                         f"already in {self.parts.folder}")
            self._render_all(sorted(todo, key=lambda c: -c.frames))
        except KeyboardInterrupt:  # the finished chunks stay in the parts folder
            stats.interrupted = True
        stats.seconds = time.perf_counter() - began
        stats.frames = self.index.frames
        stats.summary = self._summary(stats)
        return stats

    def _call(self, submit, what: str):
        """One answer from the first renderer free (another, if that one dies)."""
        return next(self._spread([what], lambda renderer, _: submit(renderer), what))

    def _plan(self) -> None:
        """Find the cuts (when the stabiliser would see them), cut the film into chunks and
        keep the plan, so that a resumed run renders the same chunks."""
        from dreamreel.engine import compute
        from dreamreel.engine.processing import flow_scale

        spec, index = self.spec, self.index
        kinds = [registry.get(s.name).kind for s in spec.stages]
        sequential = "sequential" in kinds
        exact = not sequential and spec.temporal == 0  # no past: every edge matches
        work = compute.working_size(self.info.height, self.info.width, spec.size)
        cuts: list[int] = []
        if not exact and not (sequential and len(kinds) > 1):  # cuts as the stabiliser sees
            cuts = self._find_cuts(work, flow_scale(work))
        options = self.spec.ray
        warmup = plan.DEFAULT_WARMUP if options.warmup is None else options.warmup
        fps = float(self.info.fps or 25)
        length = plan.chunk_length(index.frames, fps, self.count, warmup, options.chunk)
        if self.folder:  # its PNGs come back whole: a chunk's raw size at most FOLDER_BYTES
            length = min(length, max(1, FOLDER_BYTES // (self.info.width * self.info.height * 3)))
        frame_of = {packet: frame for frame, packet in enumerate(index.frame_packet)}
        keyframes = sorted(frame_of[p] for p in index.access if p in frame_of)
        warmdown = two_way.LOOKAHEAD if self.smooths else 0
        chunks = plan.chunks(index.frames, length, cuts, keyframes, warmup, exact, warmdown)
        self.parts.keep_plan(chunks, {"frames": index.frames, "cuts": cuts, "warmup": warmup,
                                      "warmdown": warmdown})

    def _find_cuts(self, work: tuple[int, int], scale: float) -> list[int]:
        spans = max(1, min(self.count * plan.CHUNKS_PER_WORKER, self.index.frames // 50))
        bounds = [round(i * self.index.frames / spans) for i in range(spans + 1)]
        # each span from the frame before it, to compare its first frame with
        jobs = [(max(lo - 1, 0), hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]
        found: list[int] = []
        for result in self._spread(jobs, lambda r, job: r.cuts.remote(
                self.index.codec, *self._piece(*job), job[0], self.index.origin,
                work, scale), "finding scene cuts"):
            found.extend(result)
        return sorted(found)

    def _piece(self, lo: int, hi: int) -> tuple[ray.ObjectRef, list[int]]:
        """Frames lo..hi-1: their packets (in the object store) and timestamps."""
        first, last = self.index.span(lo, hi)
        data = packets.read(self.info.path, self.index, first, last)
        return ray.put(data), self.index.frame_pts[lo:hi]

    def _render_all(self, todo: list[plan.Chunk]) -> None:
        total = self.index.frames
        done = sum(c.frames for c in self.parts.plan if self.parts.done(c))
        chunks = {c.number: c for c in todo}

        def submit(renderer, chunk):
            refs, pts = self._piece(chunk.warm, chunk.until)
            return renderer.render.remote(chunk, self.index.codec, refs, pts, self.index.origin,
                                          self.choice, self.folder)

        def running(frames: int) -> None:
            if self.progress is not None:
                self.progress(done + frames, total)

        for part in self._spread(todo, submit, "rendering", running):
            chunk = chunks[part.chunk]
            self.parts.keep(chunk, part.data)
            done += part.frames
            self.records[chunk.number] = {**chunk.as_dict(), "seconds": round(part.seconds, 3),
                                          "worker": part.worker, "node": part.node,
                                          "tries": self.tries.get(chunk.number, 1)}
            self.say(f"dreamreel: chunk {chunk.number + 1}/{len(self.parts.plan)} (frames "
                     f"{chunk.lo}..{chunk.hi - 1}, {chunk.edge}) on {part.worker}: "
                     f"{part.frames} frames in {part.seconds:.1f} s")
            running(0)

    def _spread(self, jobs: list, submit, what: str, running=None):
        """Yield each job's result as it comes, one job in flight per renderer; a job whose
        renderer died goes to another (TRIES at most), and a new renderer is started in the
        dead one's place, taking work once it answers (where the cluster has room for it)."""
        waiting = list(range(len(jobs)))
        busy: dict[ray.ObjectRef, tuple[int, object]] = {}
        alone_since = None
        while waiting or busy:
            self._welcome()
            if not self.renderers and not busy:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > START_WAIT:
                    raise MediaError(f"--ray: no worker could be started for {START_WAIT:.0f} s "
                                     f"while {what}; is the cluster gone?")
            taken = {id(r) for _, r in busy.values()}
            free = [r for r in self.renderers if id(r) not in taken]
            while waiting and free:
                job, renderer = waiting.pop(0), free.pop(0)
                busy[submit(renderer, jobs[job])] = (job, renderer)
            ready = []
            if busy:
                ready, _ = ray.wait(list(busy), num_returns=1, timeout=POLL)
            else:
                time.sleep(POLL)  # only renderers still starting
            if running is not None:
                running(self._in_flight(busy))
            for ref in ready:
                job, renderer = busy.pop(ref)
                try:
                    yield ray.get(ref)
                except LOST:
                    name = _name(jobs[job])
                    tries = self.tries[name] = self.tries.get(name, 1) + 1
                    if tries > TRIES:
                        raise MediaError(f"--ray: {what}: {_describe(jobs[job])} failed "
                                         f"{TRIES} times (its workers died)") from None
                    self.say(f"dreamreel: a worker died {what} {_describe(jobs[job])}; "
                             "it goes to another")
                    self._replace(renderer)
                    waiting.insert(0, job)
                except ray.exceptions.RayTaskError as err:
                    raise _cause(err) from None

    def _welcome(self) -> None:
        """Renderers started in place of dead ones join once they answer."""
        if self.starting:
            ready, _ = ray.wait(list(self.starting), num_returns=len(self.starting), timeout=0)
            for ref in ready:
                renderer = self.starting.pop(ref)
                try:
                    ray.get(ref)
                    self.renderers.append(renderer)
                except LOST:
                    pass

    def _in_flight(self, busy: dict) -> int:
        refs = [renderer.progress.remote() for _, renderer in busy.values()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=POLL)
        total = 0
        for ref in ready:
            try:
                total += ray.get(ref)
            except LOST:
                pass
        return total

    def _replace(self, dead) -> None:
        if dead in self.renderers:
            self.renderers.remove(dead)
        ray.kill(dead, no_restart=True)
        self._start()  # it waits for room on the cluster: no work until then

    def _summary(self, stats: RunStats) -> dict[str, object]:
        frames = sum(r["hi"] - r["lo"] for r in self.records.values())
        return {"input": str(self.spec.input), "output": str(self.spec.output),
                "width": self.info.width, "height": self.info.height,
                "workers": len(self.renderers), "parts": str(self.parts.folder),
                "chunks_done": sum(self.parts.done(c) for c in self.parts.plan or []),
                "backend": self.choice and self.choice.backend,
                "two_way": self.smooths,
                "frames_rendered_now": frames,
                "cluster_fps": round(frames / stats.seconds, 2) if stats.seconds else 0.0,
                "chunks": [self.records.get(c.number, {**c.as_dict(), "kept": True})
                           for c in self.parts.plan or []]}


def _name(job) -> object:
    """What a job's tries are counted under (a chunk: its number, as the summary says)."""
    return job.number if isinstance(job, plan.Chunk) else repr(job)


def _describe(job) -> str:
    if isinstance(job, plan.Chunk):
        return f"chunk {job.number} (frames {job.lo}..{job.hi - 1})"
    if isinstance(job, tuple):
        return f"frames {job[0]}..{job[1] - 1}"
    return str(job)


def _cause(err: ray.exceptions.RayTaskError) -> BaseException:
    """The worker's own error: a DreamreelError keeps its one line."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err


