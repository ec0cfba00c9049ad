"""The `gatys` pipeline (film mode): each frame's pixels optimised against a painting's Gram
matrices, warm-started from the previous result carried along the flow (see gatys.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import Guide, compute_dtype
from dreamreel.pipelines.film.gatys import FilmSettings, FilmStylizer, StyleTarget
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting
from dreamreel.pipelines.vgg16 import VGG16Features


@dataclass
class FilmOptions(FilmSettings):
    style_image: Path | None = setting(None, "the painting (film mode needs one)",
                                       flag="--style-image")
    also_style: tuple[str, ...] = setting((), "another painting mixed into the style, with its "
                                          "weight: IMAGE[:W] (repeatable)", many=True)
    per_frame: bool = setting(False, "optimise every frame from scratch (no warm start, no "
                              "temporal loss): for comparison")


def paintings(options: FilmOptions) -> tuple[list[Path], list[float]]:
    """The painting and the --also-style ones, with their weights."""
    if options.style_image is None:
        raise SettingsError("--pipeline gatys needs --style-image PAINTING")
    paths, mix = [Path(options.style_image)], [1.0]
    for spec in options.also_style:
        path, sep, weight = spec.rpartition(":")
        try:
            mix.append(float(weight) if sep else 1.0)
            paths.append(Path(path) if sep else Path(spec))
        except ValueError:  # a colon in the path itself
            paths.append(Path(spec))
            mix.append(1.0)
    return paths, mix


class FilmSequence:
    """Film mode as a sequential effect: the stylizer, given the guide unless --per-frame."""

    name = "gatys"
    residual = False  # the painting replaces the frame
    temporal = 0.0  # the temporal loss keeps it steady; no blend afterwards

    def __init__(self, stylizer: FilmStylizer, per_frame: bool) -> None:
        self.stylizer, self.per_frame = stylizer, per_frame
        self.note: str | None = None  # the last frame's losses, for the progress report

    def controls(self, settings: FilmOptions | None = None) -> dict[str, np.ndarray]:
        return {}

    def __call__(self, frame: np.ndarray, guide: Guide | None, index: int,
                 controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        self.stylizer.frame_index = index
        out = self.stylizer.process(frame, None if self.per_frame else guide)
        last = self.stylizer.last
        self.note = None if last is None else (
            f"loss {last.total:.3f} (content {last.content:.3f}, style {last.style:.3f})")
        return out

    def reset(self) -> None:
        """Nothing to forget: the previous result comes with each frame's guide."""

    def probe(self, frame: np.ndarray):
        """One optimisation step on `frame`: what the tuner times."""
        content = frame.astype(np.float32) / 255.0
        return lambda: self.stylizer.gatys.optimise(content, content, 1.0, 1)[0][None] * 255.0


def build(options: FilmOptions, context: Context) -> FilmSequence:
    paths, mix = paintings(options)
    images = [context.read_image(path) for path in paths]
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(FilmSettings)}
    settings = FilmSettings(**{**fields, "precision": context.precision, "jit": context.jit})
    features = VGG16Features(context.load("vgg16"), dtype=compute_dtype(context.precision))
    settings.check_layers(features)
    target = StyleTarget(features, images, mix, settings.style_layers)
    return FilmSequence(FilmStylizer(features, target, settings), options.per_frame)


PIPELINE = Pipeline(
    name="gatys",
    summary="film mode: optimisation-based style transfer (Gatys et al. 2016), steady on video "
    "(Ruder et al. 2016); seconds a frame",
    kind="sequential",
    settings=FilmOptions,
    build=build,
    networks=("vgg16",),
    place="alone",
    live=False,
    keeps_steady=True,
)
