"""`dreamreel tune`: measure now, for this machine, how each pipeline runs fastest.

A run tunes on its own when it is long enough to repay it; this command does it ahead of time
(before a show, or for every size a batch job will use) and prints what it measured.
"""

from __future__ import annotations

import argparse
import sys

from dreamreel.engine import compute, stages, tuning
from dreamreel.engine.commands.bench import _sizes
from dreamreel.errors import UsageError
from dreamreel.pipelines import registry


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("tune", help="measure how each pipeline runs fastest on this machine")
    parser.add_argument("--pipelines", default="style;vintage", metavar="CHAIN;CHAIN",
                        help="pipelines or chains (vintage@0.6,style) to tune, separated by ';' "
                        "(default style;vintage)")
    parser.add_argument("--sizes", type=_sizes, default=((640, 360),), metavar="WxH,...",
                        help="working sizes (default 640x360)")
    parser.add_argument("--live", action="store_true",
                        help="for a live show: one frame a call")
    parser.add_argument("--device", help="TensorFlow device (default: GPU if any)")
    parser.add_argument("--offline", action="store_true", help="never download networks")
    parser.set_defaults(handler=tune)


def tune(args: argparse.Namespace) -> int:
    device = args.device or compute.default_device()
    chains = [c.strip() for c in args.pipelines.split(";") if c.strip()]
    if not chains:
        raise UsageError("--pipelines names nothing to tune")
    print(f"machine: {tuning.machine()}")
    for chain in chains:
        spec = stages.stages(chain)
        if registry.get(spec[0].name).kind == "source":
            raise UsageError(f"{chain}: a source has nothing to tune")
        for width, height in args.sizes:
            request = tuning.Request(spec, height, width, device, batches=not args.live)
            choice, trials = tuning.tune(
                request, {"offline": args.offline}, force=True,
                say=lambda line: print(line, file=sys.stderr, flush=True))
            print(f"\n{chain} at {width}x{height}: {choice.describe()}")
            for trial in sorted(trials, key=lambda t: t.ms_per_frame):
                mark = "*" if trial.choice == choice else " "
                if trial.note:
                    print(f"   {trial.choice.describe():48s} cannot run: {trial.note}")
                    continue
                agrees = "" if trial.agrees else "  (differs: not chosen)"
                print(f" {mark} {trial.choice.describe():48s} {trial.ms_per_frame:8.1f} ms a frame"
                      f"  difference {trial.difference:.2f}{agrees}")
    return 0
