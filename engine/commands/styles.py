"""`dreamreel styles`: the styles there are, a contact sheet of them, and new ones learned.

    dreamreel styles                                  # list the built-in and learned styles
    dreamreel styles photo.jpg -o sheet.png           # every style on one picture
    dreamreel styles photo.jpg -o k.png --pipeline kernels   # or every kernel, every layer
    dreamreel styles learn PAINTING --name NAME       # fit a new style into the fast network
    dreamreel styles export NAME -o NAME.npz          # share it
    dreamreel styles steady --content clip.mp4        # make the steady network (--upsampling steady)
    dreamreel styles import NAME.npz [--name OTHER]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from dreamreel.engine import compute, stages
from dreamreel.engine.commands import options
from dreamreel.engine.graph import FrameGraph
from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.sinks import open_sink
from dreamreel.errors import SettingsError, UsageError, WeightsError
from dreamreel.pipelines import settings
from dreamreel.pipelines.style.layout import NORM_SHAPES, NUM_STYLES, check_norm_params
from dreamreel.pipelines.style.learn import LearnSettings
from dreamreel.pipelines.style.steady import SteadySettings
from dreamreel.weights import learned, steady

COLUMNS = 7
SHEETS = ("style", "kernels", "layers")  # frame effects with one setting worth laying out
ACTIONS = ("list", "sheet", "learn", "export", "import", "steady")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("styles", help="list styles, render them on a picture, learn new ones",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    parser.set_defaults(handler=list_styles)
    actions.add_parser("list", help="the built-in and learned styles").set_defaults(
        handler=list_styles)

    sheet = actions.add_parser("sheet", help="every style on one picture (also: "
                               "`dreamreel styles IMAGE -o sheet.png`)")
    sheet.add_argument("image", type=Path, help="the picture to stylize")
    sheet.add_argument("-o", "--output", type=Path, required=True,
                       help="the contact sheet (.png/.jpg)")
    sheet.add_argument("-y", "--overwrite", action="store_true",
                       help="replace an existing contact sheet")
    sheet.add_argument("--size", type=int, default=192, help="short side of each tile (default 192)")
    sheet.add_argument("--pipeline", default="style", choices=SHEETS,
                       help="what the tiles step through: the styles (default), the kernels, "
                       "the layers")
    sheet.add_argument("--offline", action="store_true", help="never download networks")
    sheet.set_defaults(handler=styles_sheet)

    learn = actions.add_parser("learn", help="fit a painting's style into the fast network")
    learn.add_argument("painting", type=Path)
    learn.add_argument("--name", required=True, help="what to call it (a letter, then letters, "
                       "digits, - or _)")
    training_arguments(
        learn, LearnSettings, "how it learns",
        content="clips, pictures or folders to learn on (frames like the ones you will style "
        "work best; default: the drawn demo clip)",
        every=(25, "steps between a loss check, a checkpoint and the preview sheet"),
        overwrite="continue an unfinished fit of NAME, or replace the style NAME")
    learn.set_defaults(handler=learn_style)

    export = actions.add_parser("export", help="write a learned style to a file")
    export.add_argument("name")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .npz to write")
    export.add_argument("-y", "--overwrite", action="store_true")
    export.set_defaults(handler=export_style)

    imported = actions.add_parser("import", help="add a style file someone exported")
    imported.add_argument("file", type=Path)
    imported.add_argument("--name", help="store it under this name (default: its own)")
    imported.add_argument("-y", "--overwrite", action="store_true")
    imported.set_defaults(handler=import_style)

    made = actions.add_parser("steady", help="fine-tune the 26-style network so its strokes "
                              "move with the scene (for --upsampling steady)")
    training_arguments(
        made, SteadySettings, "how it is fine-tuned",
        content="clips with motion, like the ones you will style (default: the drawn demo "
        "clip)",
        every=(50, "steps between a progress line and, the first time, storing the network "
               "so far"),
        overwrite="replace the steady network (kept until the new one is finished)")
    made.set_defaults(handler=make_steady)


def training_arguments(parser: argparse.ArgumentParser, settings_class: type, title: str, *,
                       content: str, every: tuple[int, str], overwrite: str) -> None:
    """What `styles learn` and `styles steady` share: the material, the settings, progress,
    seed, -y and --offline."""
    parser.add_argument("--content", type=Path, nargs="+", default=[], metavar="CLIP_OR_DIR",
                        help=content)
    options.add_settings_arguments(parser, settings_class, title)
    parser.add_argument("--every", type=int, default=every[0], metavar="STEPS", help=every[1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-y", "--overwrite", action="store_true", help=overwrite)
    parser.add_argument("--offline", action="store_true", help="never download networks")


def with_action(argv: list[str]) -> list[str]:
    """`styles [OPTIONS] IMAGE ...` is `styles sheet ...` (the contact sheet's original form)."""
    if len(argv) >= 2 and argv[0] == "styles" and str(argv[1]) not in (*ACTIONS, "-h", "--help"):
        return [argv[0], "sheet", *argv[1:]]
    return argv


def list_styles(args: argparse.Namespace) -> int:
    print(f"built-in: 0..{NUM_STYLES - 1} (`dreamreel styles photo.jpg -o sheet.png` shows them)")
    names = learned.names()
    if not names:
        print("learned: none yet (`dreamreel styles learn PAINTING --name NAME`)")
    for name in names:
        try:
            _, meta = learned.load(name)
        except WeightsError as why:
            print(f"{name}: damaged ({why})")
            continue
        settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
        seconds = meta.get("seconds")
        minutes = f" in {seconds / 60:.1f} min" if isinstance(seconds, int | float) else ""
        state = "" if meta.get("finished") else "  (unfinished: `styles learn ... -y` continues)"
        print(f"{name}: from {meta.get('painting', '?')}, {meta.get('steps', '?')} steps at "
              f"{settings.get('size', '?')} px{minutes}, started from built-in "
              f"{meta.get('start', '?')}{state}")
    print(steady_line())
    return 0


def steady_line() -> str:
    """What `--upsampling steady` would run: no network yet, or how it was made."""
    if not steady.path().exists():
        return f"steady network: none yet; {steady.MAKE}"
    try:
        _, meta = steady.read(steady.path())
    except WeightsError as why:
        return f"steady network: damaged ({why})"
    content = ", ".join(Path(p).name for p in meta.get("content") or []) or "the demo clip"
    seconds = meta.get("seconds")
    minutes = f" in {seconds / 60:.0f} min" if isinstance(seconds, int | float) else ""
    state = "" if meta.get("finished") else " (unfinished: interrupted)"
    weight = (meta.get("settings") or {}).get("temporal_weight")
    temporal = f", temporal weight {weight:g}" if isinstance(weight, int | float) else ""
    return (f"steady network: {meta.get('steps', '?')} steps{temporal} on {content}{minutes}"
            f"{state}; `--upsampling steady` runs it")


def styles_sheet(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg") or args.output.is_dir():
        raise UsageError(f"{args.output}: the contact sheet must be a .png or .jpg file")
    if args.size < 16:
        raise UsageError("--size must be at least 16 pixels")
    image = stages.read_image(args.image)
    info = MediaInfo(path=args.image, kind="image", width=image.shape[1], height=image.shape[0])
    with open_sink(args.output, info, overwrite=args.overwrite) as sink:  # checks it, writes atomically
        sheet, setting, names = contact_sheet(image, args.size, args.offline, args.pipeline)
        sink.write(Frame(image=sheet, index=0, pts=0.0))
    print(f"{args.output}: the source, then {args.pipeline} with {setting} "
          f"{', '.join(names)}", file=sys.stderr)
    return 0


def contact_sheet(image: np.ndarray, size: int, offline: bool, pipeline: str = "style"
                  ) -> tuple[np.ndarray, str, list[str]]:
    """The picture at `size` (short side), then `pipeline` with each value its keys step
    through (the styles, built-in then learned; the kernels; the layers a show compiles), 7
    tiles a row; and that setting's name and values in order."""
    h, w = compute.working_size(*image.shape[:2], size)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    device = compute.default_device()
    precision = compute.resolve_precision("auto", {pipeline}, device)
    jit = compute.resolve_jit("auto", device)
    built = stages.build(stages.stages(pipeline),
                         stages.context(precision, jit, live=True, offline=offline))
    graph = FrameGraph(built.graph, 1, h, w, jit=jit, device=device)
    options = built.stages[0].options
    entry = next(e for e in settings.entries(options) if e.knob.steps)
    names = getattr(built.graph, "live_steps", dict)().get(entry.name) or list(entry.knob.steps)
    tiles = [image]
    for name in names:
        controls = built.graph.controls(settings.replace(options, **{entry.name: name}))
        tile = graph(image[np.newaxis], controls)[0].copy()
        tiles.append(label(tile, name))
    tiles += [np.zeros_like(image)] * (-len(tiles) % COLUMNS)
    rows = [np.concatenate(tiles[i : i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)]
    return np.concatenate(rows, axis=0), entry.name, names


def label(tile: np.ndarray, text: str) -> np.ndarray:
    """`text` written at the tile's top left, shrunk to fit its width."""
    (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 0.8, 2)
    scale = min(0.8, 0.8 * (tile.shape[1] - 12) / width)
    cv2.putText(tile, text, (6, 6 + round(22 * scale)), cv2.FONT_HERSHEY_DUPLEX, scale,
                (255, 255, 255), 2 if scale > 0.5 else 1, cv2.LINE_AA)
    return tile


def learn_style(args: argparse.Namespace) -> int:
    from dreamreel.engine.style_learning import LearnJob, learn

    if args.every < 1:
        raise UsageError("--every must be at least 1 step")
    for path in [args.painting, *args.content]:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    job = LearnJob(painting=args.painting, name=args.name, content=tuple(args.content),
                   settings=options.settings_from(args, LearnSettings), every=args.every,
                   resume=args.overwrite, offline=args.offline, seed=args.seed)
    path = learn(job, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"learned '{args.name}': {path} (preview {path.with_suffix('.png')}); use it with "
          f"`dreamreel run clip.mp4 --style {args.name} -o out.mp4`", file=sys.stderr)
    return 0


def make_steady(args: argparse.Namespace) -> int:
    from dreamreel.engine.steady_tuning import SteadyJob, tune

    if args.every < 1:
        raise UsageError("--every must be at least 1 step")
    for path in args.content:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    job = SteadyJob(content=tuple(args.content), settings=options.settings_from(args, SteadySettings),
                    every=args.every, replace=args.overwrite, offline=args.offline, seed=args.seed)
    path = tune(job, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"steady network: {path}; use it with `dreamreel run clip.mp4 --upsampling steady "
          "-o out.mp4`", file=sys.stderr)
    return 0


def export_style(args: argparse.Namespace) -> int:
    source = learned.path_of(args.name)
    learned.load(args.name)  # a one-line error for an unknown or damaged style
    if args.output.suffix.lower() != ".npz" or args.output.is_dir():
        raise UsageError(f"{args.output}: a style file is a .npz file")
    if not args.output.parent.is_dir():
        raise UsageError(f"{args.output.parent}: no such folder")
    if args.output.exists() and not args.overwrite:
        raise UsageError(f"{args.output} exists; -y replaces it")
    temp = args.output.with_name(f".{args.output.name}.tmp")
    try:
        shutil.copyfile(source, temp)
        temp.replace(args.output)
    finally:
        temp.unlink(missing_ok=True)
    print(f"{args.output}: style '{args.name}'", file=sys.stderr)
    return 0


def import_style(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    arrays, meta = learned.read(args.file)
    try:
        check_norm_params(arrays)
        arrays = {k: arrays[k] for k in NORM_SHAPES}
    except ValueError as why:
        raise SettingsError(f"{args.file}: not a style for this network ({why})") from None
    name = learned.check_name(args.name or meta.get("name") or args.file.stem)
    if learned.path_of(name).exists() and not args.overwrite:
        raise UsageError(f"there is already a style called '{name}'; -y replaces it, or "
                         "--name gives this one another name")
    kept = {k: meta[k] for k in ("painting", "painting_sha256", "settings", "start", "steps",
                                 "loss", "finished", "seconds") if k in meta}
    learned.write(learned.path_of(name), arrays, kept | {"name": name, "imported": str(args.file)})
    print(f"imported '{name}' from {args.file}", file=sys.stderr)
    return 0
