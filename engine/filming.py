"""Film mode in the engine: the optimisation-based style net (Gatys et al. 2016) made
coherent with the flow-warped previous result (Ruder et al. 2016), with resumable jobs.

A long job can be interrupted and resumed: with `--checkpoint DIR` every finished frame is
saved there as a PNG together with the settings it was made with. A later run with the same
settings and folder loads the saved frames instead of optimising them again, and commits
them to the stabiliser, so the first new frame starts from the same warped previous result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from dreamreel import weights
from dreamreel.engine.temporal import Stabilizer
from dreamreel.errors import SettingsError, UsageError
from dreamreel.pipelines.film import FilmSettings, FilmStylizer, StyleTarget
from dreamreel.pipelines.film.gatys import PRECISIONS
from dreamreel.pipelines.vgg16 import VGG16Features


def add_film_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("film mode (--pipeline gatys, needs --style-image)")
    defaults = FilmSettings()
    group.add_argument(
        "--also-style",
        action="append",
        default=[],
        metavar="IMAGE[:W]",
        help="another painting mixed into the style, with its weight (repeatable)",
    )
    group.add_argument("--content-weight", type=float, default=defaults.content_weight)
    group.add_argument("--style-weight", type=float, default=defaults.style_weight)
    group.add_argument("--content-layer", default=defaults.content_layer)
    group.add_argument(
        "--style-layers",
        default=",".join(defaults.style_layers),
        help="comma-separated VGG16 layers for the Gram losses",
    )
    group.add_argument(
        "--style-scale",
        type=float,
        default=defaults.style_scale,
        help="painting area relative to the frame's (bigger strokes above 1)",
    )
    group.add_argument("--optimizer", default=defaults.optimizer, choices=("adam", "lbfgs"))
    group.add_argument(
        "--first-steps",
        type=int,
        default=defaults.steps,
        help=f"steps for the first frame and after a cut (default {defaults.steps})",
    )
    group.add_argument(
        "--warm-steps",
        type=int,
        default=defaults.steps_warm,
        help=f"steps for later frames, warm-started (default {defaults.steps_warm})",
    )
    group.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    group.add_argument(
        "--coarse-to-fine",
        type=float,
        metavar="SCALE",
        help="optimise the first frame at this scale first, then refine",
    )
    group.add_argument("--temporal-weight", type=float, default=defaults.temporal_weight)
    group.add_argument(
        "--per-frame",
        action="store_true",
        help="optimise every frame from scratch (no warm start, no temporal loss): for comparison",
    )
    group.add_argument(
        "--checkpoint",
        type=Path,
        metavar="DIR",
        help="save finished frames here; rerun with the same DIR to resume",
    )


def _style_images(args: argparse.Namespace) -> tuple[list[Path], list[float]]:
    if args.style_image is None:
        raise UsageError("--pipeline gatys needs --style-image PAINTING")
    paths, mix = [args.style_image], [1.0]
    for spec in args.also_style:
        path, sep, weight = spec.rpartition(":")
        try:
            paths.append(Path(path) if sep else Path(spec))
            mix.append(float(weight) if sep else 1.0)
        except ValueError:  # a colon in the path itself
            paths.append(Path(spec))
            mix.append(1.0)
    return paths, mix


def film_settings(args: argparse.Namespace, jit: bool) -> FilmSettings:
    return FilmSettings(
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=FilmSettings.tv_weight if args.tv_weight is None else args.tv_weight,
        content_layer=args.content_layer,
        style_layers=tuple(args.style_layers.split(",")),
        optimizer=args.optimizer,
        steps=args.first_steps,
        steps_warm=args.warm_steps,
        learning_rate=args.learning_rate,
        coarse_to_fine=args.coarse_to_fine,
        style_scale=args.style_scale,
        temporal_weight=args.temporal_weight,
        preserve_color=args.preserve_color,
        precision=args.precision,
        jit=jit,
    )


class FilmProcessor:
    """Frame-by-frame film mode (one frame a call), saving and reusing finished frames."""

    def __init__(
        self,
        stylizer: FilmStylizer,
        checkpoint: Path | None,
        fingerprint: str,
        quiet: bool,
        work_size: tuple[int, int] | None = None,
        per_frame: bool = False,
    ) -> None:
        self.stylizer, self.checkpoint, self.quiet = stylizer, checkpoint, quiet
        self.per_frame = per_frame  # every frame from scratch, as the course did: for comparison
        self.work_size = work_size  # (height, width) to optimise at, None: the frame's own
        self.stabiliser = Stabilizer()
        self.index = 0
        if checkpoint is not None:
            _open_checkpoint(checkpoint, fingerprint)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """[1, H, W, 3] uint8 -> [1, H, W, 3] uint8, in order."""
        height, width = frames.shape[1:3]
        source = frames[0]
        if self.work_size and self.work_size != (height, width):
            source = cv2.resize(source, self.work_size[::-1], interpolation=cv2.INTER_AREA)
        guide = None if self.per_frame else self.stabiliser.guide(source)
        saved = self._saved(self.index)
        if saved is not None and saved.shape == source.shape:
            output = saved
            self.stylizer.frame_index += 1
        else:
            start = time.perf_counter()
            output = self.stylizer.process(source, guide)
            self._report(time.perf_counter() - start)
            if self.checkpoint is not None:
                _write_png(self.checkpoint / f"frame_{self.index:06d}.png", output)
        self.stabiliser.commit(source, output)
        self.index += 1
        if output.shape[:2] != (height, width):
            output = cv2.resize(output, (width, height), interpolation=cv2.INTER_CUBIC)
        return output[None]

    def _saved(self, index: int) -> np.ndarray | None:
        if self.checkpoint is None:
            return None
        path = self.checkpoint / f"frame_{index:06d}.png"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def _report(self, seconds: float) -> None:
        last = self.stylizer.last
        if self.quiet or last is None:
            return
        print(
            f"film: frame {self.index}: loss {last.total:.3f} (content {last.content:.3f}, "
            f"style {last.style:.3f}) in {seconds:.1f} s",
            file=sys.stderr,
        )


def _write_png(path: Path, image: np.ndarray) -> None:
    """Atomic: a frame is either saved whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    tmp.replace(path)


def _open_checkpoint(folder: Path, fingerprint: str) -> None:
    """Create the folder, or check that its frames were made with these settings."""
    stamp = folder / "settings.json"
    if stamp.is_file():
        if json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
            raise UsageError(
                f"checkpoint {folder} was made from another input or other settings; "
                "use a new folder (or delete it) to start over"
            )
        return
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"checkpoint {folder} exists and is not a dreamreel checkpoint")
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"fingerprint": fingerprint}))


def film_processor(
    args: argparse.Namespace, jit: bool, work_size: tuple[int, int]
) -> FilmProcessor:
    """Film mode from the command line: paintings, settings, VGG16, checkpoint."""
    from dreamreel.engine.effects import read_image

    paths, mix = _style_images(args)
    paintings = [read_image(path) for path in paths]
    settings = film_settings(args, jit)
    if args.precision not in PRECISIONS:
        raise SettingsError(f"film mode runs in {', '.join(PRECISIONS)}")
    features = VGG16Features(
        weights.load("vgg16", offline=args.offline), dtype=PRECISIONS[args.precision]
    )
    settings.check_layers(features)
    target = StyleTarget(features, paintings, mix, settings.style_layers)
    digest = hashlib.sha256()
    digest.update(
        Path(args.input).read_bytes() if Path(args.input).is_file() else str(args.input).encode()
    )
    for path, weight in zip(paths, mix, strict=True):
        digest.update(path.read_bytes() + str(weight).encode())
    digest.update(json.dumps(asdict(settings), sort_keys=True, default=str).encode())
    digest.update(f"{args.start}:{args.duration}:{args.size}:{args.fps}:{args.per_frame}".encode())
    return FilmProcessor(
        FilmStylizer(features, target, settings),
        args.checkpoint,
        digest.hexdigest(),
        args.quiet or args.json,
        work_size,
        args.per_frame,
    )
