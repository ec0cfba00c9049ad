"""`dreamreel run INPUT -o OUTPUT`: stylize a clip, GIF, image sequence or photo, keeping its
size, timing and sound. The arguments become a RunSpec; `engine.job.stylize` does the rest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dreamreel.engine import signals
from dreamreel.engine.cluster import ClusterOptions
from dreamreel.engine.cluster.plan import DEFAULT_WARMUP
from dreamreel.engine.commands.options import (
    add_compute_arguments,
    add_effect_arguments,
    add_encoding_arguments,
    add_mask_arguments,
    add_temporal_arguments,
    mask_spec,
    setting_values,
)
from dreamreel.engine.job import RunSpec, stylize
from dreamreel.engine.progress import Progress
from dreamreel.engine.runner import RunStats
from dreamreel.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="stylize a video, GIF, image sequence or image")
    parser.add_argument("input", help="a video, a GIF, an image, a folder of images or a glob")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="by extension: .mp4 .mov .mkv (H.264), .webm (VP9), .gif, .png/.jpg, "
                        "or a folder/")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--montage", action="store_true", help="write every processed frame "
                        "(a folder of photos) as a tile of the one picture -o names")
    add_effect_arguments(parser)
    add_compute_arguments(parser)
    timing = parser.add_argument_group("timing")
    timing.add_argument("--start", type=float, metavar="SEC", help="skip to this time")
    timing.add_argument("--duration", type=float, metavar="SEC", help="process this many seconds")
    timing.add_argument("--fps", type=float, help="resample to this frame rate (default: keep "
                        "every frame and timestamp)")
    ways = add_temporal_arguments(parser).add_mutually_exclusive_group()
    ways.add_argument(
        "--two-way", dest="two_way", action="store_const", const=True, default=None,
        help="smooth the stabilised frames backward as well, each toward the next along the "
        "flow: about half the flicker left, for a second stabiliser pass (the default for "
        "effects painted frame by frame, style, vintage, kernels and layers, at the clip's "
        "own size: a smaller --size stays one way)")
    ways.add_argument(
        "--one-way", dest="two_way", action="store_const", const=False,
        help="stabilise forward only, as live does: 10-15%% less time (2-core AMD EPYCs), "
        "twice the flicker left")
    add_mask_arguments(parser)
    parser.add_argument("--stage", metavar="NAME[@S],...", help="with --mask: the effect shown "
                        "where the masked one is not, instead of the camera's picture "
                        "(--pipeline style --mask person --stage dream: the performer painted, "
                        "the room dreaming)")
    music = parser.add_argument_group("music (settings that follow the clip's sound)")
    music.add_argument("--react", action="append", default=[], metavar="SETTING=EXPR",
                       help="a setting follows the sound, frame by frame: strength=0.4+0.6*bass, "
                       "step_size=onset*0.02, style=beat:3,12 (steps on each beat/bar/onset), "
                       "kernel=bar. Sources: rms bass mid high onset beat bar phase; LFOs in "
                       "beats: sine(4) saw(1/2) square(1) random(8). Repeatable")
    music.add_argument("--bpm", dest="music_bpm", type=float, help="the tempo, instead of the beats found in the "
                       "sound (needed for beat sources on a clip without sound)")
    music.add_argument("--react-fade", type=float, default=0.0, metavar="BEATS",
                       help="a style stepped on a beat or bar crosses over from the one before "
                       "during this many beats (default 0: at once)")
    music.add_argument("--react-plot", type=Path, metavar="FILE", help="save a plot of each "
                       "mapped value and the stylisation amount over time (.png, .svg, .pdf...)")
    parser.add_argument("--checkpoint", type=Path, metavar="DIR",
                        help="a sequential pipeline (gatys, dream) saves finished frames here, "
                        "a --ray run its finished chunks; the same command resumes where it "
                        "stopped")
    cluster = parser.add_argument_group("cluster (pip install 'dreamreel[cluster]')")
    cluster.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                         help="render in chunks on Ray: alone, a Ray started on this machine; "
                         "with ADDRESS (host:6379, auto), a cluster started with `ray start "
                         "--head`. Finished chunks are kept in OUTPUT.parts (or --checkpoint "
                         "DIR), so the same command resumes")
    cluster.add_argument("--workers", type=int, metavar="N",
                         help="renderers (default: one per --worker-cpus cores, or per GPU)")
    cluster.add_argument("--worker-cpus", type=int, default=1, metavar="C",
                         help="cores each renderer holds (default 1)")
    cluster.add_argument("--warmup", type=int, metavar="K",
                         help="frames rendered and dropped before a chunk that does not begin "
                         f"at a scene cut (default {DEFAULT_WARMUP})")
    cluster.add_argument("--chunk", type=float, metavar="SEC",
                         help="seconds of film a chunk (default: about four chunks a worker)")
    encode = add_encoding_arguments(parser)
    encode.add_argument("--no-audio", action="store_true", help="drop the audio")
    encode.add_argument("--no-dither", action="store_true", help="GIF: no dithering")
    report = parser.add_argument_group("reporting")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The job the command line describes."""
    cluster = None
    if args.ray is not None:
        cluster = ClusterOptions(None if args.ray == "local" else args.ray, args.workers,
                                 args.worker_cpus, args.warmup, args.chunk)
    elif args.workers is not None or args.warmup is not None or args.chunk is not None:
        raise UsageError("--workers, --warmup and --chunk are for --ray")
    return RunSpec.make(
        args.input, args.output, args.pipeline, **setting_values(args),
        strength=args.strength, preserve_color=args.preserve_color, size=args.size,
        batch=args.batch, temporal=args.temporal, two_way=args.two_way,
        flow_preset=args.flow_preset,
        backend=args.backend, jit=args.jit,
        precision=args.precision, device=args.device, offline=args.offline, start=args.start,
        duration=args.duration, fps=args.fps, crf=args.crf, preset=args.preset,
        chroma=args.chroma, audio=not args.no_audio, dither=not args.no_dither,
        overwrite=args.overwrite,
        montage=args.montage, checkpoint=args.checkpoint, ray=cluster,
        react=tuple(args.react), bpm=args.music_bpm, react_plot=args.react_plot,
        react_fade=args.react_fade, mask=mask_spec(args), stage=args.stage)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    quiet = args.quiet or args.json
    progress = Progress(None, label=Path(args.input).name, enabled=False if args.quiet else None,
                        estimate=not quiet)
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    stats = stylize(spec, progress=progress, report=None if quiet else say,
                    say=None if args.quiet else say)
    progress.close()
    return finish(stats, args.input, args.output, args.json, args.quiet)


def finish(stats: RunStats, input: str, output: Path, as_json: bool, quiet: bool) -> int:
    """Say what was made (or kept, after Ctrl-C, TERM or HUP) and return the exit code
    (128 + the signal's number after one, as a shell reports a command it stopped)."""
    if stats.interrupted:
        if stats.kept:
            print(f"dreamreel: interrupted: kept the {stats.kept} finished frame(s) in {output}",
                  file=sys.stderr)
        elif "parts" in stats.summary:  # a cluster run keeps whole chunks to resume from
            print(f"dreamreel: interrupted: {stats.summary['chunks_done']} finished chunk(s) "
                  f"are kept in {stats.summary['parts']}; the same command renders the rest",
                  file=sys.stderr)
        else:
            print("dreamreel: interrupted before the first frame was finished; no output was made",
                  file=sys.stderr)
        return signals.exit_code()
    if stats.lost_frames:
        print(f"dreamreel: warning: {stats.lost_frames} frame(s) of {input} could not be decoded "
              "and were skipped", file=sys.stderr)
    if as_json:
        print(json.dumps({**stats.summary, "frames": stats.frames, "lost_frames": stats.lost_frames,
                          "seconds": round(stats.seconds, 3), "fps": round(stats.fps, 2)}))
    elif not quiet:
        print(f"{output}: {stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} fps)",
              file=sys.stderr)
    return 0
