"""Command-line options shared by the commands that run effects, made from the registry.

Every declared setting of every registered pipeline becomes a flag (`--step-size`); pipelines
that declare the same setting share one flag (`--tv-weight`, `--style-image`). A flag left out
takes each pipeline's own default, so the parser's defaults are empty and the help says them.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Any

from dreamreel.engine import compute, mask, tuning
from dreamreel.engine.flow import PRESETS
from dreamreel.engine.sinks.video import CHROMA
from dreamreel.engine.temporal import DEFAULT_PRESET
from dreamreel.errors import UsageError
from dreamreel.pipelines import registry, settings


def add_encoding_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The encoder's flags every command that writes video shares; the group, for more."""
    encode = parser.add_argument_group("encoding")
    encode.add_argument("--crf", type=crf, default=18, help="H.264/VP9 quality 0..51, lower is "
                        "better (default 18)")
    encode.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    encode.add_argument("--chroma", choices=CHROMA, default="420", help="colour resolution "
                        "of a video file: 420 (half; every player; default) or 444 (full: "
                        "each stroke's colour kept; players built on FFmpeg, not browsers' "
                        "H.264)")
    return encode


def crf(text: str) -> int:
    """A --crf value: x264's scale, 0 (lossless) to 51, checked before any frame is made."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected a whole number 0..51") from None
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"{value}: x264's scale runs from 0 (lossless) to 51")
    return value


def frame_rate(text: str) -> Fraction:
    """A --fps value: 30, 29.97 or 30000/1001 (argparse turns a ValueError into one line)."""
    try:
        return Fraction(text)
    except ZeroDivisionError:
        raise ValueError(text) from None


frame_rate.__name__ = "frame rate"  # argparse names the type in its message


def _dest(entry: settings.Entry) -> str:
    return entry.flag.lstrip("-").replace("-", "_")


def add_pipeline_arguments(parser: argparse.ArgumentParser,
                           kinds: tuple[str, ...] = ("frame", "sequential", "source"),
                           live: bool = False, only: tuple[str, ...] | None = None) -> None:
    """A group of flags per pipeline of `kinds` (or just those named in `only`)."""
    seen: dict[str, settings.Entry] = {}
    for pipeline in registry.pipelines().values():
        if pipeline.kind not in kinds or (only and pipeline.name not in only):
            continue
        if live and not pipeline.live:
            continue
        group = None
        for entry in settings.entries(pipeline.settings):
            dest = _dest(entry)
            if dest in seen:
                if seen[dest].kind is not entry.kind:
                    raise TypeError(f"{entry.flag} means different things to two pipelines")
                continue
            seen[dest] = entry
            if group is None:
                group = parser.add_argument_group(f"{pipeline.name} (--pipeline {pipeline.name})")
            default = pipeline.live_defaults.get(entry.name, entry.default) if live else entry.default
            group.add_argument(entry.flag, dest=dest, default=argparse.SUPPRESS,
                               help=_help(entry, default), **_kind_options(entry))


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """One flag per setting of a settings class (a command's own, such as style learning)."""
    group = parser.add_argument_group(title)
    for entry in settings.entries(cls):
        group.add_argument(entry.flag, dest=_dest(entry), default=argparse.SUPPRESS,
                           help=_help(entry, entry.default), **_kind_options(entry))


def settings_from(args: argparse.Namespace, cls: type) -> Any:
    """An instance of a settings class from the flags `add_settings_arguments` added."""
    return settings.build(cls, {e.name: getattr(args, _dest(e)) for e in settings.entries(cls)
                                if hasattr(args, _dest(e))})


def _kind_options(entry: settings.Entry) -> dict[str, Any]:
    if entry.knob.many:
        return {"action": "append", "metavar": "VALUE"}
    if entry.kind is bool:
        return {"action": "store_const", "const": not entry.default}
    options: dict[str, Any] = {"type": entry.kind if entry.kind is not tuple else str}
    if entry.knob.choices:
        options["choices"] = entry.knob.choices
    if entry.kind is Path:
        options["metavar"] = "FILE"
    return options


def _help(entry: settings.Entry, default: Any) -> str:
    if entry.kind is bool or default is None or entry.knob.many:
        return entry.knob.help
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    return f"{entry.knob.help} (default {default})"


def setting_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gave, by setting name (for `stages.stages`)."""
    values: dict[str, Any] = {}
    for pipeline in registry.pipelines().values():
        for entry in settings.entries(pipeline.settings):
            dest = _dest(entry)
            if hasattr(args, dest):
                values[entry.name] = getattr(args, dest)
    return values


def add_compute_arguments(parser: argparse.ArgumentParser, batch: bool = True) -> None:
    """Where and how the graphs run."""
    group = parser.add_argument_group("compute")
    group.add_argument("--size", type=int, metavar="PX",
                       help="working resolution: the short side the network sees (output keeps "
                       "the input size)")
    if batch:
        group.add_argument("--batch", type=int,
                           help="frames per graph call (default: measured, see `dreamreel tune`)")
    group.add_argument("--backend", default="auto", choices=("auto", *tuning.BACKENDS),
                       help="tf: TensorFlow; lite: the frame graph converted to TF Lite "
                       "(XNNPACK); auto: measured on this machine")
    group.add_argument("--jit", default="auto", choices=compute.JIT_CHOICES,
                       help="XLA compilation (default: measured on this machine)")
    add_precision_argument(group)
    group.add_argument("--device", help="TensorFlow device, e.g. /GPU:0 or /CPU:0 (default: GPU "
                       "if any)")
    group.add_argument("--offline", action="store_true", help="never download networks")


def add_precision_argument(group) -> None:
    group.add_argument("--precision", default="auto", choices=compute.PRECISION_CHOICES,
                       help="auto: measured on this machine for a long job; otherwise bfloat16 "
                       "where it is native (a CPU with AVX512_BF16/AMX; dream and gatys on a "
                       "GPU), float32 elsewhere")


def add_effect_arguments(parser: argparse.ArgumentParser, default: str = "style",
                         kinds: tuple[str, ...] = ("frame", "sequential"),
                         live: bool = False) -> None:
    """--pipeline, --strength, --preserve-color and every pipeline's settings."""
    names = [p.name for p in registry.pipelines().values() if p.kind in kinds]
    group = parser.add_argument_group("effect")
    group.add_argument("--pipeline", default=default, metavar="NAME[@S],...",
                       help=f"the effect, or a chain such as vintage@0.6,style; one of "
                       f"{', '.join(names)} (default {default}); @S sets that stage's strength")
    group.add_argument("--strength", type=float, default=1.0, help="0..1 (default 1)")
    group.add_argument("--preserve-color", action="store_true",
                       help="keep the source's colours, stylize the luminance")
    add_pipeline_arguments(parser, kinds, live)


def add_mask_arguments(parser: argparse.ArgumentParser) -> None:
    """--mask and its settings: the effect on the performer or on the stage."""
    group = parser.add_argument_group("performer and stage")
    group.add_argument("--mask", choices=mask.WHO, help="the effect shows only on the people "
                       "(person) or only around them (background); the rest is the camera's "
                       "picture")
    group.add_argument("--mask-model", choices=mask.MODELS, default="selfie",
                       help="selfie: MediaPipe's person segmentation, for people within a few "
                       "metres of the camera (default); still: whatever moves in front of a "
                       "fixed camera")
    group.add_argument("--feather", type=float, metavar="PX", help="the mask's edge softness "
                       "(default 1%% of the frame's short side)")
    group.add_argument("--mask-steady", type=float, default=mask.DEFAULT_STEADY, metavar="W",
                       help="0..1: how much of the last mask an unsure edge keeps, against "
                       f"shimmer (default {mask.DEFAULT_STEADY})")
    group.add_argument("--alpha", action="store_true", help="the effect alone with the mask "
                       "as its alpha channel, for an editor or a mixer to lay over other "
                       "layers: .mov (ProRes 4444), .webm (VP9), .png or a folder; live, also "
                       "NDI")


def mask_spec(args: argparse.Namespace) -> mask.MaskSpec | None:
    """The mask the arguments ask for (None: the effect on the whole frame)."""
    if args.mask is None:
        if args.feather is not None or args.mask_model != "selfie":
            raise UsageError("--mask-model and --feather go with --mask")
        return None
    spec = mask.MaskSpec(args.mask, args.mask_model, args.feather, args.mask_steady, args.alpha)
    spec.check()
    return spec


def add_temporal_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    temporal = parser.add_argument_group("temporal consistency")
    temporal.add_argument("--temporal", type=float, metavar="W",
                          help="0..1 blend of the flow-warped previous output (default on for "
                          "video; 0 = off)")
    temporal.add_argument("--flow-preset", default=DEFAULT_PRESET,
                          choices=tuple(PRESETS),
                          help=f"DIS optical flow preset (default {DEFAULT_PRESET})")
    return temporal
