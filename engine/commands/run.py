"""`dreamreel run INPUT -o OUTPUT`: stylize a clip, GIF, image sequence or photo, keeping its
size, timing and sound."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from functools import partial
from pathlib import Path

from dreamreel.engine import graph as graphs
from dreamreel.engine.dreaming import add_dream_arguments
from dreamreel.engine.effects import PIPELINES, EffectOptions, build_effect, parse_chain
from dreamreel.engine.filming import add_film_arguments
from dreamreel.engine.progress import Progress
from dreamreel.engine.temporal import DEFAULT_PRESET
from dreamreel.errors import UsageError

FLOW_MAX_SIDE = 360  # px: the short side optical flow is computed at, at most


def add_effect_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs an effect (run, live, bench)."""
    group = parser.add_argument_group("effect")
    group.add_argument("--pipeline", default="style", metavar="NAME[@S],...",
                       help=f"the effect, or a chain such as vintage@0.6,style; one of {', '.join(PIPELINES)} "
                       "(default style); @S sets that stage's strength")
    add_style_arguments(group)
    compute = parser.add_argument_group("compute")
    compute.add_argument("--size", type=int, metavar="PX",
                         help="working resolution: the short side the network sees (output keeps the input size)")
    compute.add_argument("--batch", type=int, default=4, help="frames per graph call (default 4)")
    compute.add_argument("--jit", default="auto", choices=graphs.JIT_CHOICES,
                         help="XLA compilation: auto = on for GPU, off for CPU (measured faster)")
    add_precision_argument(compute)
    compute.add_argument("--device", help="TensorFlow device, e.g. /GPU:0 or /CPU:0 (default: GPU if any)")
    compute.add_argument("--offline", action="store_true", help="never download networks")


def add_precision_argument(group) -> None:
    group.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                       help="auto: bfloat16 where it is native (a CPU with AVX512_BF16/AMX; dream "
                       "and gatys on a GPU), float32 otherwise")


def add_temporal_arguments(parser: argparse.ArgumentParser) -> None:
    temporal = parser.add_argument_group("temporal consistency")
    temporal.add_argument("--temporal", type=float, metavar="W",
                          help="0..1 blend of the flow-warped previous output (default on for video; 0 = off)")
    temporal.add_argument("--flow-preset", default=DEFAULT_PRESET,
                          choices=("ultrafast", "fast", "medium"),
                          help=f"DIS optical flow preset (default {DEFAULT_PRESET})")


def add_style_arguments(group) -> None:
    """The style effects' own options."""
    group.add_argument("--style", default="0", metavar="N|N:W,...",
                       help="built-in style 0..25, or a blend such as 3:0.5,12:0.5 (default 0)")
    group.add_argument("--style-image", type=Path, metavar="PAINTING",
                       help="any picture as the style (Magenta arbitrary style)")
    group.add_argument("--strength", type=float, default=1.0, help="0..1 (default 1)")
    group.add_argument("--preserve-color", action="store_true",
                       help="keep the source's colours, stylize the luminance")


def resolve_precision(args: argparse.Namespace, stages: set[str] | None = None) -> None:
    """`auto`: bfloat16 where the hardware computes it natively, float32 elsewhere. On a CPU
    with AVX512_BF16/AMX bfloat16 runs the style network about 20% faster (output within
    1e-2) and the dream and film gradients 2-3.5x faster; without them TensorFlow emulates it
    and the gradients run 3x slower than float32 (benchmarks/RESULTS.md). On a GPU the
    gradient-based pipelines take bfloat16. The GAN stages run in float32. `stages`: the
    pipelines the graphs will run (default: those of --pipeline)."""
    if args.precision == "auto":
        stages = {name for name, _ in parse_chain(args.pipeline)} if stages is None else stages
        on_gpu = "GPU" in (args.device or graphs.default_device()).upper()
        native = stages <= {"style", "dream", "gatys"} and graphs.cpu_has_bf16() and not on_gpu
        gradients_on_gpu = on_gpu and bool(stages & {"dream", "gatys"})
        args.precision = "bfloat16" if native or gradients_on_gpu else "float32"


def effect_options(args: argparse.Namespace) -> EffectOptions:
    return EffectOptions(pipeline=args.pipeline, style=args.style, style_image=args.style_image,
                         strength=args.strength, precision=args.precision, offline=args.offline)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="stylize a video, GIF, image sequence or image")
    parser.add_argument("input", help="a video, a GIF, an image, a folder of images or a glob")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="by extension: .mp4 .mov .mkv (H.264), .webm (VP9), .gif, .png/.jpg, or a folder/")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    add_effect_arguments(parser)
    add_dream_arguments(parser)
    add_film_arguments(parser)
    timing = parser.add_argument_group("timing")
    timing.add_argument("--start", type=float, metavar="SEC", help="skip to this time")
    timing.add_argument("--duration", type=float, metavar="SEC", help="process this many seconds")
    timing.add_argument("--fps", type=float, help="resample to this frame rate (default: keep every frame and timestamp)")
    add_temporal_arguments(parser)
    encode = parser.add_argument_group("encoding")
    encode.add_argument("--crf", type=int, default=18, help="H.264/VP9 quality, lower is better (default 18)")
    encode.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    encode.add_argument("--no-audio", action="store_true", help="drop the audio")
    encode.add_argument("--no-dither", action="store_true", help="GIF: no dithering")
    report = parser.add_argument_group("reporting")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.set_defaults(handler=run)


def check_numbers(args: argparse.Namespace) -> None:
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    if args.size is not None and args.size < 16:
        raise UsageError("--size must be at least 16 pixels")
    if args.temporal is not None and not 0 <= args.temporal <= 1:
        raise UsageError("--temporal must be within 0..1")
    if args.fps is not None and args.fps <= 0:
        raise UsageError("--fps must be positive")


def build_processor(args: argparse.Namespace, info, batch: int):
    """(frames -> frames callable, batch size, post-hoc stabiliser or None) for this run.

    Graph effects and chains compile into one FrameGraph. A chain may end in `dream`: the
    graph stages run first, then the dream. Dream video runs in feedback mode (one frame at a
    time, its own flow) unless --no-feedback, in which case --temporal smooths afterwards.
    """
    from dreamreel.engine.dreaming import (
        FEEDBACK_TEMPORAL,
        FeedbackDream,
        dream_at_size,
        dream_effect,
    )
    from dreamreel.engine.temporal import Stabilizer, stabilise_at_size

    device = args.device or graphs.default_device()
    jit = graphs.resolve_jit(args.jit, device)
    is_still = info.kind == "image"
    work = graphs.working_size(info.height, info.width, args.size)
    stages = [name for name, _ in parse_chain(args.pipeline)]
    if "gatys" in stages:
        if len(stages) > 1:
            raise UsageError("gatys (film mode) runs on its own, not in a chain")
        from dreamreel.engine.filming import film_processor

        return film_processor(args, jit, work), 1, None, {"device": device, "jit": jit,
                                                          "temporal": None}
    dreaming = stages[-1] == "dream"
    if "dream" in stages[:-1]:
        raise UsageError("dream must be the last stage of a chain")
    feedback = dreaming and not is_still and not args.no_feedback
    if feedback:
        batch = 1
    graph = None
    graph_stages = args.pipeline.rsplit(",", 1)[0] if dreaming and len(stages) > 1 else (
        None if dreaming else args.pipeline)
    if graph_stages:
        options = effect_options(args)
        options.pipeline = graph_stages
        effect = build_effect(options)
        graph = graphs.FrameGraph(effect, batch, info.height, info.width, *work, jit=jit,
                                  device=device, preserve_color=args.preserve_color)
    weight = 0.0 if is_still else args.temporal
    # The stabiliser works at the working size, as the network does: what flickers is the
    # network's output, enlarged, so the correction is made there and enlarged too (a quarter
    # of the work for a 720p clip at --size 360). Its flow is at most FLOW_MAX_SIDE px high and
    # not coarser than a quarter: DIS medium on 640x480 frames costs 104 ms against 55 ms at
    # half size (RESULTS.md).
    flow_scale = min(1.0, max(0.25, FLOW_MAX_SIDE / work[0]))
    stabiliser_options = {**({} if weight is None else {"weight": weight}),
                          "preset": args.flow_preset, "flow_scale": flow_scale}
    stabilise = None
    if feedback:  # --temporal weighs the dream's own blend with its warped previous output
        stabiliser = Stabilizer(**{"weight": FEEDBACK_TEMPORAL, **stabiliser_options})
        dreamer = FeedbackDream(dream_effect(args, video=True, jit=jit), args.blend, stabiliser)
    else:
        stabiliser = None if weight == 0 else Stabilizer(**stabiliser_options)
        stabilise = None if stabiliser is None else partial(stabilise_at_size, stabiliser, size=work)
        dreamer = dream_effect(args, video=not is_still, jit=jit).process if dreaming else None

    def process(frames):
        out = graph(frames) if graph is not None else frames
        if dreamer is None:
            return out
        return dreamer(out) if work == out.shape[1:3] else dream_at_size(dreamer, out, work)

    temporal = None if stabiliser is None else stabiliser.weight
    return process, batch, stabilise, {"device": device, "jit": jit, "temporal": temporal}


def run(args: argparse.Namespace) -> int:
    from dreamreel.engine.runner import keep_interrupted, run_stream
    from dreamreel.engine.sinks import open_sink
    from dreamreel.engine.sources import open_source
    from dreamreel.engine.timing import resample

    check_numbers(args)
    resolve_precision(args)
    with open_source(args.input, start=args.start, duration=args.duration) as source:
        info = source.info
        batch = 1 if info.kind == "image" else args.batch
        process, batch, stabiliser, compute = build_processor(args, info, batch)
        frames = resample(source, args.fps) if args.fps else source
        progress = Progress(info.frame_count, label=Path(args.input).name,
                            enabled=False if args.quiet else None)
        sink = open_sink(args.output, info, crf=args.crf, preset=args.preset,
                         audio_from=None if args.no_audio or not info.has_audio else info,
                         start=args.start, duration=args.duration, gif_dither=not args.no_dither,
                         overwrite=args.overwrite)
        with sink:
            stats = run_stream(frames, process, batch, sink.write, stabilise=stabiliser,
                               on_frame=progress)
            progress.close()
            if stats.interrupted:
                return keep_interrupted(sink)
    lost = source.lost_frames
    if lost:
        print(f"dreamreel: warning: {lost} frame(s) of {args.input} could not be decoded and were skipped",
              file=sys.stderr)
    if args.json:
        summary = {"input": str(args.input), "output": str(args.output), "frames": stats.frames,
                   "lost_frames": lost, "seconds": round(stats.seconds, 3), "fps": round(stats.fps, 2),
                   "width": info.width, "height": info.height, "batch": batch, **compute,
                   "effect": {**asdict(effect_options(args)), "style_image": str(args.style_image or "")}}
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"{args.output}: {stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} fps)",
              file=sys.stderr)
    return 0
