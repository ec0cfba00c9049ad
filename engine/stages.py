"""A chain of registered pipelines, with their settings, turned into the effects that run.

The registry (pipelines/registry.py) says what each pipeline is; this module gives a chain's
stages their settings (from named values: a command line, a Python call, a live show), builds
their effects with the networks from the weights cache, and splits the chain the way the
engine runs it: an optional source, the frame stages traced into one graph, an optional
sequential stage at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dreamreel import weights
from dreamreel.engine.sources import read_image
from dreamreel.errors import SettingsError
from dreamreel.pipelines import registry, settings
from dreamreel.pipelines.base import Chain, Effect, SequentialEffect
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.weights import learned, steady


@dataclass(frozen=True)
class StageSpec:
    """One stage of a job: the pipeline, its settings (an instance of its settings class) and
    the strength `@S` fixed for it (None: the job's strength)."""

    name: str
    options: Any
    strength: float | None = None


def context(precision: str = "float32", jit: bool = False, video: bool = True,
            live: bool = False, offline: bool = False,
            moves: Mapping[str, tuple[Any, ...]] | None = None) -> Context:
    """What a pipeline's build gets: networks from the weights cache, files read for it."""
    return Context(load=lambda name: weights.load(name, offline=offline or None),
                   precision=precision, jit=jit, video=video, live=live,
                   read_image=read_image, cached=weights.computed, styles=learned.everything,
                   steady=steady.load,
                   moves=dict(moves or {}))


def options(name: str, values: Mapping[str, Any], live: bool = False) -> Any:
    """The settings of pipeline `name` from named values (any other pipeline's names are
    ignored); in a live show the pipeline's live defaults replace the file defaults."""
    pipeline = registry.get(name)
    known = {e.name for e in settings.entries(pipeline.settings)}
    given = {k: v for k, v in values.items() if k in known and v is not None}
    if live:
        given = {**{k: v for k, v in pipeline.live_defaults.items() if k in known}, **given}
    return settings.build(pipeline.settings, given)


def stages(chain: str, values: Mapping[str, Any] | None = None,
           live: bool = False) -> tuple[StageSpec, ...]:
    """'vintage@0.6,style' with setting values -> its checked stages."""
    return tuple(StageSpec(s.name, options(s.name, values or {}, live), s.strength)
                 for s in registry.parse_chain(chain, live=live))


@dataclass
class Built:
    """A chain's effects, split the way the engine runs them."""

    stages: tuple[StageSpec, ...]
    source: Any | None  # a source stage's object (faces)
    graph: Effect | None  # the frame stages, one graph (a Chain when several)
    sequential: SequentialEffect | None  # the last stage when it carries state
    compiled: dict[tuple, Any] = field(default_factory=dict)  # graphs by shape (processing)

    @property
    def frame_stages(self) -> tuple[StageSpec, ...]:
        return tuple(s for s in self.stages if registry.get(s.name).kind == "frame")

    @property
    def frame_effects(self) -> list[Effect]:
        """The frame stages' effects, in chain order (one per `frame_stages`)."""
        return _parts(self.graph)

    def graph_controls(self, strength: float, live_options: Mapping[str, Any] | None = None
                       ) -> dict[str, np.ndarray]:
        """The graph's inputs: each stage's controls for its settings (or `live_options`, by
        stage name), and its strength (the stage's own `@S`, else `strength`)."""
        frame = self.frame_stages
        chained = len(frame) > 1
        values: dict[str, np.ndarray] = {}
        for stage, effect in zip(frame, _parts(self.graph), strict=True):
            own = effect.controls((live_options or {}).get(stage.name, stage.options))
            if "strength" in own:
                own["strength"] = np.float32(strength if stage.strength is None else stage.strength)
            values.update({f"{stage.name}.{k}" if chained else k: v for k, v in own.items()})
        return values

    def camera_share(self, strength: float, strengths: Mapping[str, float] | None = None) -> float:
        """How much of the input passes straight through the frame stages: the product of
        (1 - strength) over them (each stage's own `@S`, else `strengths` by stage name, else
        `strength`), 0 past a stage that uses its strength otherwise (a painting's style)."""
        passed = 1.0
        for stage, effect in zip(self.frame_stages, _parts(self.graph), strict=True):
            if effect.handles_strength:
                return 0.0
            own = stage.strength if stage.strength is not None else (
                (strengths or {}).get(stage.name, strength))
            passed *= 1.0 - own
        return passed


def _parts(graph: Effect | None) -> list[Effect]:
    if graph is None:
        return []
    return list(graph.effects) if isinstance(graph, Chain) else [graph]


def build(chain: tuple[StageSpec, ...], ctx: Context) -> Built:
    """Build every stage's effect (loading its networks) in chain order."""
    source, frame, sequential = None, [], None
    for stage in chain:
        pipeline: Pipeline = registry.get(stage.name)
        effect = pipeline.build(stage.options, ctx)
        if pipeline.kind == "source":
            source = effect
        elif pipeline.kind == "sequential":
            sequential = effect
        else:
            if effect.name != stage.name:
                raise SettingsError(f"pipeline '{stage.name}' built an effect named "
                                    f"'{effect.name}'")
            frame.append(effect)
    graph = None if not frame else frame[0] if len(frame) == 1 else Chain(frame)
    return Built(chain, source, graph, sequential)
