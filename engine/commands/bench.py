"""`dreamreel bench`: frames per second of every pipeline, beside the roof and the peer tool.

The measuring lives in dreamreel.engine.bench; this module only turns options into a plan and
writes the results where the user asked (JSON, a markdown table, a chart).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from dreamreel.engine import bench, compute
from dreamreel.errors import UsageError
from dreamreel.pipelines.style.layout import UPSAMPLING


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    """'256x256,640x480' -> ((256, 256), (640, 480))."""
    try:
        sizes = tuple(tuple(int(v) for v in part.lower().split("x")) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected WxH,... e.g. 640x480") from None
    if any(len(s) != 2 or min(s) < 16 for s in sizes):
        raise argparse.ArgumentTypeError(f"'{text}': expected WxH,..., each side at least 16")
    return sizes


def _choices(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in text.split(","))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown)}; use {', '.join(allowed)}")
        return values
    return parse


def _batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected numbers, e.g. 1,4") from None
    if min(batches) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be at least 1")
    return batches


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench",
                            help="frames per second of every pipeline, beside the peer tool")
    plan = parser.add_argument_group("what to measure")
    plan.add_argument("--pipelines", type=_choices(bench.pipelines()), default=bench.pipelines(),
                      metavar="NAME,...", help=f"default all: {','.join(bench.pipelines())}")
    plan.add_argument("--sizes", type=_sizes, default=bench.SIZES, metavar="WxH,...",
                      help="frame sizes (default 256x256,640x480,1280x720,1920x1080; faces use the "
                      "short side, square)")
    plan.add_argument("--batches", type=_batches, default=(1, 4), metavar="N,...",
                      help="frames per graph call (default 1,4)")
    plan.add_argument("--jit", type=_choices(("off", "on")), default=("off", "on"),
                      metavar="off,on", help="XLA settings to measure (default off,on)")
    plan.add_argument("--precisions", type=_choices(("float32", "bfloat16")),
                      default=("float32", "bfloat16"), metavar="P,...",
                      help="compute types (default float32,bfloat16; vintage and faces: float32)")
    plan.add_argument("--backends", type=_choices(("tf", "lite")), default=("tf", "lite"),
                      metavar="B,...", help="TensorFlow, and the frame graphs converted to TF "
                      "Lite (XNNPACK) (default tf,lite)")
    plan.add_argument("--repeats", type=int, default=3,
                      help="timed calls per row after one warm-up call; the median is reported")
    plan.add_argument("--steps", type=int, default=2,
                      help="dream ascent / film optimisation steps per frame (default 2)")
    plan.add_argument("--octaves", type=int, default=1, help="dream octaves (default 1)")
    plan.add_argument("--clip", type=Path,
                      help="end-to-end clip, scaled to each size (default: one dreamreel draws)")
    plan.add_argument("--e2e-seconds", type=float, default=3.0,
                      help="seconds of the clip per end-to-end row (default 3; 0 = none)")
    plan.add_argument("--e2e-pipelines", type=_choices(bench.pipelines()), metavar="NAME,...",
                      help="pipelines run end to end (default: --pipelines)")
    plan.add_argument("--e2e-sizes", type=_sizes, metavar="WxH,...",
                      help="sizes run end to end (default: --sizes)")
    plan.add_argument("--quick", action="store_true",
                      help="a one-minute smoke run (style and style-image 256x256, dream 128x128 "
                      "one step, faces 64, half a second end to end); the plan options are ignored")
    effect = parser.add_argument_group("effect")
    effect.add_argument("--style", default="0", help="built-in style or blend (default 0)")
    effect.add_argument("--style-image", type=Path, metavar="PAINTING",
                        help="the painting of the style-image rows (default: a picture "
                        "dreamreel draws)")
    effect.add_argument("--upsampling", choices=UPSAMPLING, default="nearest",
                        help="the style networks' upsampling (default nearest, as trained; "
                        "the peer's rows keep theirs)")
    effect.add_argument("--strength", type=float, default=1.0, help="0..1 (default 1)")
    effect.add_argument("--preserve-color", action="store_true")
    parser.add_argument("--device", help="TensorFlow device (default: GPU if any)")
    parser.add_argument("--offline", action="store_true", help="never download networks")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, help="write the results as JSON here")
    out.add_argument("--chart", type=Path, help="write a PNG chart of fps by resolution here")
    out.add_argument("--append", type=Path, nargs="?", const=bench.RESULTS, metavar="MD",
                     help="append the table to benchmarks/RESULTS.md (or MD) with date, machine "
                     "and command")
    parser.set_defaults(handler=run_bench)


def make_plan(args: argparse.Namespace) -> bench.Plan:
    if args.repeats < 1 or args.steps < 1 or args.octaves < 1:
        raise UsageError("--repeats, --steps and --octaves must be at least 1")
    for path in (args.clip, args.style_image):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file")
    settings = dict(clip=args.clip, style=args.style, style_image=args.style_image,
                    upsampling=args.upsampling, strength=args.strength,
                    preserve_color=args.preserve_color,
                    device=args.device or compute.default_device(), offline=args.offline)
    if args.quick:
        return bench.quick_plan(**settings)
    return bench.Plan(pipelines=args.pipelines, sizes=args.sizes, batches=args.batches,
                      jits=tuple(j == "on" for j in args.jit), precisions=args.precisions,
                      backends=args.backends,
                      repeats=args.repeats, steps=args.steps, octaves=args.octaves,
                      e2e_seconds=args.e2e_seconds, e2e_pipelines=args.e2e_pipelines,
                      e2e_sizes=args.e2e_sizes, **settings)


def run_bench(args: argparse.Namespace) -> int:
    plan = make_plan(args)
    results = bench.run(plan, log=lambda line: print(line, file=sys.stderr, flush=True))
    results["command"] = "dreamreel " + shlex.join(sys.argv[1:])
    print(bench.markdown(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.chart:
        bench.chart(results, args.chart)
    if args.append:
        bench.append_results(results, results["command"], args.append)
    return 0
