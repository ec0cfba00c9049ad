"""`dreamreel generate -o faces.mp4`: a DCGAN latent walk as a source, in time with music.

The DCGAN face generator (Radford, Metz, Chintala 2016) turns any point of its 100-dimensional
latent space into a 64x64 face, and smooth paths through that space give smooth changes of
face (the paper's "walking in the latent space"). This command renders such paths as clips:

- a beat walk (default): a new random face lands on every beat of --bpm, slerped in between;
- --interpolate A B: one morph from seed A's face to seed B's over --seconds;
- --grid RxC: a manifold montage, four corner faces slerped bilinearly across the grid. To an
  image output (.png/.jpg) it is a still montage; to a video output the four corners walk on
  the beat and the whole grid moves with them (its first frame is the still montage).

An image output without --grid is the single face of --seed. Latents are made in NumPy
(dreamreel.pipelines.gan.latent); faces are made in fixed-size batches by one tf.function that
runs the generator and upscales to --size in the graph, with an antialiased Lanczos-3 (or
bicubic) resampler, since 64 pixels blown up to 512 show every fault of a cheap resize.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from dreamreel.engine import compute, processing, stages
from dreamreel.engine.commands.options import (
    add_encoding_arguments,
    add_pipeline_arguments,
    add_precision_argument,
    add_temporal_arguments,
    frame_rate,
    setting_values,
)
from dreamreel.engine.commands.run import finish
from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.progress import Progress
from dreamreel.engine.runner import run_stream
from dreamreel.engine.sinks import IMAGE_EXTENSIONS, open_sink
from dreamreel.errors import UsageError
from dreamreel.pipelines import registry
from dreamreel.pipelines.gan import latent
from dreamreel.pipelines.gan.dcgan import LATENT_DIM
from dreamreel.pipelines.gan.faces import RESAMPLERS, FaceRenderer

SOURCE = Path("<generated>")  # MediaInfo.path of the generated stream: no file, never the output
MAX_GRID_SIDE = 16


def montage(tiles: list[np.ndarray], rows: int, cols: int) -> np.ndarray:
    """rows * cols equal tiles [S, S, 3] in row-major order -> one image [rows*S, cols*S, 3]."""
    return np.concatenate([np.concatenate(tiles[r * cols : (r + 1) * cols], axis=1)
                           for r in range(rows)], axis=0)


def render_frames(renderer: FaceRenderer, latents: np.ndarray, rows: int = 1,
                  cols: int = 1) -> Iterator[np.ndarray]:
    """latents [frames, rows * cols, 100] (or [frames, 100] for single faces) -> uint8 frames.

    Tiles are batched across frame boundaries, so a 2x2 grid with --batch 16 renders four
    frames per graph call.
    """
    tiles_per_frame = rows * cols
    pending: list[np.ndarray] = []
    for face in renderer(latents.reshape(-1, LATENT_DIM)):
        pending.append(face)
        if len(pending) == tiles_per_frame:
            yield montage(pending, rows, cols)
            pending = []


def parse_grid(text: str) -> tuple[int, int]:
    """'4x4' -> (4, 4): rows and columns."""
    rows, sep, cols = text.lower().partition("x")
    if not sep or not rows.isdigit() or not cols.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}': expected ROWSxCOLS, e.g. 4x4")
    return int(rows), int(cols)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="make a clip of GAN faces walking to a beat (no input)")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="a video (.mp4 .mov .mkv .webm .gif or a folder/) or, for one face or "
                        "a --grid montage, an image (.png/.jpg)")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--pipeline", default="faces", metavar="faces[,NAME[@S],...]",
                        help="the generator: faces = DCGAN faces, 64x64 (default faces), optionally "
                        "followed by effects to run on every frame, e.g. faces,dream or faces,vintage@0.5,style")
    walk = parser.add_argument_group("latent walk")
    walk.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    walk.add_argument("--fps", type=frame_rate, default=Fraction(30),
                      help="frame rate, e.g. 30, 29.97 or 30000/1001 (default 30)")
    walk.add_argument("--beats-per-key", type=int, default=1, metavar="N",
                      help="beats between faces (default 1)")
    walk.add_argument("--interpolate", type=int, nargs=2, metavar=("SEED_A", "SEED_B"),
                      help="instead of a walk, one morph from SEED_A's face to SEED_B's over --seconds")
    walk.add_argument("--grid", type=parse_grid, metavar="RxC",
                      help="a manifold montage of R rows and C columns: a still for an image "
                      "output, corners walking on the beat for a video output")
    group = parser.add_argument_group("compute")
    group.add_argument("--size", type=int, default=256, metavar="PX",
                         help="side of each face in the output, upscaled from 64 (default 256)")
    group.add_argument("--resample", default="lanczos3", choices=RESAMPLERS,
                         help="the upscaler, antialiased (default lanczos3)")
    group.add_argument("--batch", type=int, default=16, help="faces per graph call (default 16)")
    group.add_argument("--jit", default="auto", choices=compute.JIT_CHOICES,
                         help="XLA for the generator: auto = on (measured faster, even on CPU)")
    group.add_argument("--device", help="TensorFlow device, e.g. /GPU:0 or /CPU:0 (default: "
                         "GPU if any)")
    group.add_argument("--offline", action="store_true", help="never download networks")
    add_precision_argument(group)
    effects = parser.add_argument_group("effects after the generator (see dreamreel run)")
    effects.add_argument("--strength", type=float, default=1.0, help="0..1 (default 1)")
    effects.add_argument("--preserve-color", action="store_true",
                         help="keep the faces' colours, stylize the luminance")
    add_pipeline_arguments(parser)
    add_temporal_arguments(parser)
    add_encoding_arguments(parser)
    report = parser.add_argument_group("reporting")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.set_defaults(handler=generate)


def is_image_output(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def check_numbers(args: argparse.Namespace, bpm: float) -> None:
    if args.interpolate and min(args.interpolate) < 0:
        raise UsageError("seeds must be 0 or more")
    if args.seconds <= 0:
        raise UsageError("--seconds must be positive")
    if args.fps <= 0:
        raise UsageError("--fps must be positive")
    if args.beats_per_key < 1:
        raise UsageError("--beats-per-key must be at least 1")
    if args.beats_per_key * 60.0 / bpm * float(args.fps) < 1.0:
        raise UsageError(f"--bpm {bpm:g} is too fast for --fps {args.fps}: "
                         "faces must be at least one frame apart")
    if not 16 <= args.size <= 4096:
        raise UsageError("--size must be within 16..4096 pixels")
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    if args.grid and not (1 <= min(args.grid) and max(args.grid) <= MAX_GRID_SIDE):
        raise UsageError(f"--grid rows and columns must be within 1..{MAX_GRID_SIDE}")
    if args.grid and args.interpolate:
        raise UsageError("--grid and --interpolate cannot be combined")
    if args.interpolate and is_image_output(args.output):
        raise UsageError("--interpolate makes a clip: write it to a video, a .gif or a folder/")


def plan(args: argparse.Namespace, seed: int, bpm: float) -> tuple[str, np.ndarray, int, int]:
    """What to render: (mode, latents [frames, tiles, 100], rows, cols)."""
    rows, cols = args.grid or (1, 1)
    fps = float(args.fps)
    if is_image_output(args.output):
        if args.grid:
            return "grid", latent.grid(seed, rows, cols)[np.newaxis], rows, cols
        return "still", latent.keyframes(seed, 1)[:, np.newaxis], 1, 1
    if args.grid:
        z = latent.grid_walk(seed, args.seconds, fps, bpm, rows, cols, args.beats_per_key)
        return "grid-walk", z, rows, cols
    if args.interpolate:
        frames = latent.walk_frames(args.seconds, fps)
        return "morph", latent.morph(*args.interpolate, frames)[:, np.newaxis], 1, 1
    z = latent.beat_walk(seed, args.seconds, fps, bpm, args.beats_per_key)
    return "walk", z[:, np.newaxis], 1, 1


def generate(args: argparse.Namespace) -> int:
    chain = stages.stages(args.pipeline, setting_values(args))
    if registry.get(chain[0].name).kind != "source":
        raise UsageError(f"'{args.pipeline}': generate starts with a generator: "
                         f"{', '.join(p.name for p in registry.pipelines().values() if p.kind == 'source')}")
    faces = chain[0].options
    check_numbers(args, faces.tempo)
    mode, latents, rows, cols = plan(args, faces.seed, faces.tempo)
    latents, clamped = latent.check_latents(latents)
    frame_count = len(latents)
    height, width = rows * args.size, cols * args.size
    still = is_image_output(args.output)
    info = MediaInfo(path=SOURCE, kind="image" if still else "video", width=width,
                     height=height, fps=None if still else args.fps, frame_count=frame_count,
                     duration=None if still else float(frame_count / args.fps),
                     time_base=None if still else 1 / args.fps)
    device = args.device or compute.default_device()
    names = {s.name for s in chain[1:]}
    native = tuple(set.intersection(set(compute.PRECISION_CHOICES[1:]),
                                    *(set(registry.get(n).precisions) for n in names)))
    precision = compute.resolve_precision(args.precision, names, device, native)
    jit = compute.resolve_jit(args.jit, device)
    # The sink first: a taken or unwritable output is refused before any network is fetched.
    with open_sink(args.output, info, crf=args.crf, preset=args.preset, chroma=args.chroma,
                   overwrite=args.overwrite) as sink:
        built = stages.build(chain, stages.context(precision, jit, video=not still,
                                                   offline=args.offline))
        renderer = built.source.renderer(args.batch, args.size, args.resample, device,
                                         jit=args.jit != "off")
        processor = after_faces(args, built, (height, width), device, precision, jit)
        progress = Progress(frame_count, label=args.output.name,
                            enabled=False if args.quiet else None,
                            estimate=not (args.quiet or args.json))
        frames = (Frame(image=image, index=index, pts=float(index / args.fps),
                        duration=float(1 / args.fps), pts_ticks=index, time_base=1 / args.fps)
                  for index, image in enumerate(render_frames(renderer, latents, rows, cols)))
        stats = run_stream(frames, processor.process, processor.batch, sink.write,
                           processor.prepare, processor.finish, progress)
        progress.close()
        if stats.interrupted:
            stats.kept = sink.keep_finished()
            return finish(stats, "the generator", args.output, False, args.quiet)
    done, elapsed = stats.frames, stats.seconds
    rate = done / elapsed if elapsed else 0.0
    if args.json:
        summary = {"output": str(args.output), "pipeline": args.pipeline, "mode": mode,
                   "frames": done, "seconds": round(elapsed, 3), "fps": round(rate, 2),
                   "clip_fps": None if still else float(args.fps),
                   "clip_seconds": None if still else round(float(done / args.fps), 6),
                   "width": width, "height": height, "size": args.size, "grid": [rows, cols],
                   "seed": faces.seed, "interpolate": args.interpolate, "bpm": faces.tempo,
                   "beats_per_key": args.beats_per_key, "clamped_latents": clamped,
                   "resample": args.resample, "device": device, "jit": args.jit != "off",
                   "batch": args.batch}
        print(json.dumps(summary))
    elif not args.quiet:
        what = "1 image" if still else (f"{done} frames ({float(done / args.fps):.1f} s at "
                                        f"{float(args.fps):g} fps)")
        print(f"{args.output}: {what} in {elapsed:.1f} s ({rate:.1f} fps)", file=sys.stderr)
    return 0


def after_faces(args: argparse.Namespace, built: stages.Built, frame: tuple[int, int],
                device: str, precision: str, jit: bool) -> processing.Processor:
    """The effects named after the generator in --pipeline, at the faces' full size."""
    common = dict(built=built, frame=frame, work=frame, strength=args.strength,
                  temporal=args.temporal, flow_preset=args.flow_preset, jit=jit, device=device,
                  preserve_color=args.preserve_color)
    if built.sequential is not None:
        return processing.sequential(**common, checkpoint=None, report=None)
    if built.graph is not None:
        return processing.batched(**common, batch=args.batch)
    return processing.Processor(lambda frames, times: frames, args.batch, lambda image: image,
                                lambda frame, small, out: out)
