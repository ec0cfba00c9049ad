"""The pipelines dreamreel knows: its own, and any installed package's.

Each pipeline declares itself with a `Pipeline`: its name, the networks it needs (manifest
names), its settings dataclass (whose fields become command-line flags and live controls, see
`pipelines.settings`), its kind, where it may stand in a chain, and `build(settings, context)`
which returns the effect. The engine finds the built-in ones here and third-party ones through
the Python entry-point group `dreamreel.pipelines`, so a package adds an effect without
touching dreamreel:

    # pyproject.toml of the other package
    [project.entry-points."dreamreel.pipelines"]
    invert = "my_package.invert:PIPELINE"

Kinds:
- "frame": a per-frame graph effect (pipelines.base.Effect); frame stages of a chain are
  traced into one compiled graph and batched.
- "sequential": carries state from frame to frame (pipelines.base.SequentialEffect): it
  sees each frame in order with the flow-guided look at its previous output.
- "source": makes the picture (a GAN walking on the beat); it can only start a chain.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from dreamreel.errors import SettingsError

ENTRY_POINTS = "dreamreel.pipelines"
KINDS = ("frame", "sequential", "source")
PLACES = ("any", "first", "last", "alone")
# The built-in pipelines, each a module exporting PIPELINE, in the order they are listed.
BUILTIN = (
    "dreamreel.pipelines.style.pipeline",
    "dreamreel.pipelines.gan.vintage",
    "dreamreel.pipelines.dream.pipeline",
    "dreamreel.pipelines.film.pipeline",
    "dreamreel.pipelines.gan.pipeline",
    "dreamreel.pipelines.gan.ganface",
    "dreamreel.pipelines.kernels.pipeline", "dreamreel.pipelines.layers.pipeline",
    "dreamreel.pipelines.autoencoder.pipeline",
    "dreamreel.pipelines.painting.pipeline",
)


@dataclass(frozen=True)
class Context:
    """What the engine hands a pipeline's `build`: networks, compute type and the run.

    load: a manifest network's named float32 arrays (fetched, checked and cached).
    precision: "float32" or "bfloat16": what the graphs compute in.
    jit: compile with XLA.
    video: frames come in order (a clip or a show); False for a single picture.
    live: built for a live show (its live settings change every frame, nothing may recompile).
    read_image: a picture file as uint8 RGB [H, W, 3] (a one-line error if it is not one).
    cached: `cached(kind, key_bytes, compute)`: an array computed once per content and kept in
      the user's cache (e.g. a painting's style vector).
    styles: the learned styles' normalisation parameters by name (`dreamreel styles learn`).
    steady: the steady network's arrays, in multistyle26's layout (`dreamreel styles steady`).
    moves: values live settings will be moved to during the run (a `--react` cycle), by
      setting name, for an effect to prepare (a dream compiles each layer named).
    """

    load: Callable[[str], dict[str, np.ndarray]]
    precision: str = "float32"
    jit: bool = False
    video: bool = True
    live: bool = False
    read_image: Callable[[Path], np.ndarray] | None = None
    cached: Callable[[str, bytes, Callable[[], np.ndarray]], np.ndarray] | None = None
    styles: Callable[[], dict[str, dict[str, np.ndarray]]] | None = None
    steady: Callable[[], dict[str, np.ndarray]] | None = None
    moves: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Pipeline:
    """One effect as the engine sees it (see the module docstring)."""

    name: str
    summary: str
    kind: str
    settings: type
    build: Callable[[Any, Context], Any]
    networks: tuple[str, ...] = ()
    place: str = "any"
    live: bool = True  # usable in `dreamreel live`
    learns: bool = False  # learns from a sample of the whole clip first (see pipelines/base.py)
    precisions: tuple[str, ...] = ("float32", "bfloat16")
    # How far (mean absolute difference, levels of 255) another compute type or backend may
    # take the output from float32 TensorFlow and still be chosen by the tuner.
    tolerance: float = 1.5
    # Whether, before anything is measured, it runs as TF Lite/XNNPACK float32 on a CPU where
    # TensorFlow leaves oneDNN off: there it measured 1.5-2.3x as fast as TensorFlow on both
    # such CPUs at hand (benchmarks/RESULTS.md, "Speed on every CPU").
    lite_without_onednn: bool = False
    # Defaults that differ in a live show (a lighter dream), by setting name.
    live_defaults: dict[str, Any] = field(default_factory=dict)
    # Whether the effect keeps itself steady (a temporal loss, a warm start) and its
    # `temporal` is 0: it has no blend with the warped past, so nothing for two-way to smooth,
    # unless --temporal adds one. Declared here to be known before anything is built.
    keeps_steady: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"pipeline {self.name}: kind must be one of {KINDS}")
        if self.place not in PLACES:
            raise ValueError(f"pipeline {self.name}: place must be one of {PLACES}")


@dataclass(frozen=True)
class Stage:
    """One stage of a chain: a pipeline and the strength `@S` fixed for it (None: the run's)."""

    name: str
    strength: float | None = None


_registry: dict[str, Pipeline] | None = None


def pipelines() -> dict[str, Pipeline]:
    """Every registered pipeline by name: the built-ins, then the installed packages'."""
    global _registry
    if _registry is None:
        found: dict[str, Pipeline] = {}
        for module in BUILTIN:
            _add(found, importlib.import_module(module).PIPELINE, module)
        for point in entry_points(group=ENTRY_POINTS):
            _add(found, point.load(), f"entry point {point.name} ({point.value})")
        _registry = found
    return _registry


def _add(found: dict[str, Pipeline], pipeline: Any, origin: str) -> None:
    if not isinstance(pipeline, Pipeline):
        raise SettingsError(f"{origin} is not a dreamreel Pipeline")
    if pipeline.name in found:
        raise SettingsError(f"{origin}: a pipeline named '{pipeline.name}' is already registered")
    found[pipeline.name] = pipeline


def get(name: str) -> Pipeline:
    """The pipeline called `name`, or a SettingsError listing the known ones."""
    known = pipelines()
    if name not in known:
        raise SettingsError(f"unknown pipeline '{name}'; available: {', '.join(known)}")
    return known[name]


def parse_chain(spec: str, live: bool = False) -> list[Stage]:
    """'vintage@0.6,style' -> [Stage('vintage', 0.6), Stage('style')], checked against the
    registry and the chain rules: each pipeline once, a source only first, a "last" pipeline
    (the dream) only last, an "alone" one (film mode) on its own; with `live`, only live ones."""
    stages = []
    for part in spec.split(","):
        name, _, strength = part.strip().partition("@")
        pipeline = get(name)
        try:
            value = float(strength) if strength else None
        except ValueError:
            raise SettingsError(f"'{part}': the strength after @ must be a number") from None
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise SettingsError(f"'{part}': strength must be within 0..1")
        if live and not pipeline.live:
            raise SettingsError(f"'{spec}': {name} is not a live pipeline ({pipeline.summary}); "
                                "use `dreamreel run`")
        stages.append(Stage(name, value))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise SettingsError(f"'{spec}': a chain uses each pipeline once")
    for i, stage in enumerate(stages):
        pipeline = get(stage.name)
        if (pipeline.place == "first" or pipeline.kind == "source") and i > 0:
            raise SettingsError(f"'{spec}': {stage.name} makes the picture, so it can only "
                                "start a chain")
        if pipeline.place == "last" and i < len(stages) - 1:
            raise SettingsError(f"'{spec}': {stage.name} must be the last stage of a chain")
        if pipeline.place == "alone" and len(stages) > 1:
            raise SettingsError(f"'{spec}': {stage.name} runs on its own, not in a chain")
    return stages
