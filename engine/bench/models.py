"""Model-only rows: each registered pipeline's effect on fixed frames, by its kind.

A frame pipeline runs as its compiled FrameGraph, a sequential one (dream, film mode) as its
effect on one frame, a source (faces) as its renderer; every pipeline is built through the
registry with the bench's settings, so a third-party pipeline is timed like the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from dreamreel.engine import stages
from dreamreel.engine.bench.measure import graph_flops, measure
from dreamreel.engine.bench.plan import STYLE_IMAGE, Case, Plan, Row, pipeline_of
from dreamreel.engine.graph import FrameGraph, LiteGraph


def frames(batch: int, height: int, width: int) -> np.ndarray:
    """Random but fixed uint8 frames [batch, height, width, 3]."""
    return np.random.default_rng(0).integers(0, 256, (batch, height, width, 3), np.uint8)


class Models:
    """Builds each pipeline once per precision and XLA setting, and times each case."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._built: dict[tuple, Any] = {}
        self._flops: dict[tuple, float | None] = {}

    def values(self, name: str) -> dict[str, Any]:
        """The settings the bench runs a pipeline with."""
        p = self.plan
        values: dict[str, Any] = {"style": p.style, "steps": p.steps, "octaves": p.octaves,
                                  "steps_warm": p.steps, "style_image": p.style_image,
                                  "upsampling": p.upsampling}
        if name != STYLE_IMAGE and pipeline_of(name).name == "style":
            values["style_image"] = None
        return values

    def built(self, name: str, precision: str, jit: bool) -> Any:
        """The effect (or source) of bench pipeline `name`."""
        key = (name, precision, jit)
        if key not in self._built:
            pipeline = pipeline_of(name)
            ctx = stages.context(precision, jit, video=True, offline=self.plan.offline)
            options = stages.options(pipeline.name, self.values(name))
            self._built[key] = pipeline.build(options, ctx)
        return self._built[key]

    def row(self, case: Case) -> Row:
        """Measure one case."""
        call, steps, note = self._callable(case)
        sample = measure(call, case.batch, self.plan.repeats)
        flops = self.flops_per_frame(case)
        row = Row("model", "dreamreel", case.pipeline, case.width, case.height, case.batch,
                  case.jit, case.precision, sample.fps, sample.fps_min, sample.fps_max,
                  peak_rss_mb=sample.peak_rss_mb, note=note, backend=case.backend)
        if flops is not None:
            row.gflop_per_frame = flops / 1e9
            row.gflops = row.gflop_per_frame * sample.fps
        if steps:
            row.ms_per_step = 1000 * sample.seconds / steps
        return row

    def _callable(self, case: Case) -> tuple[Callable[[], object], int, str]:
        """(one call making `case.batch` frames, optimisation steps per call or 0, a note)."""
        p, batch = self.plan, frames(case.batch, case.height, case.width)
        kind = pipeline_of(case.pipeline).kind
        effect = self.built(case.pipeline, case.precision, case.jit)
        if kind == "source":
            from dreamreel.pipelines.gan import latent

            renderer = effect.renderer(case.batch, case.width, device=p.device, jit=case.jit)
            z = latent.keyframes(0, case.batch)
            return (lambda: list(renderer(z))), 0, "64x64 DCGAN, Lanczos upscale"
        if kind == "sequential":
            steps = self._steps(case)
            note = f"optimisation steps a frame: {steps}" if steps else ""
            return (lambda: effect(batch[0], None, 0)), steps, note
        graph = FrameGraph(effect, case.batch, case.height, case.width, jit=case.jit,
                           device=p.device)
        if case.backend == "lite":
            graph = LiteGraph(graph)
        return (lambda: graph(batch)), 0, ""

    def _steps(self, case: Case) -> int:
        """Ascent (dream) or Adam (film) steps in one frame's call."""
        if case.pipeline == "dream":
            from dreamreel.pipelines.dream import octave_sizes

            settings = self.built(case.pipeline, case.precision, case.jit).effect.dreamer.settings
            return self.plan.steps * len(octave_sizes(case.height, case.width, settings.octaves,
                                                      settings.octave_scale))
        return self.plan.steps if case.pipeline == "gatys" else 0

    def flops_per_frame(self, case: Case) -> float | None:
        """The network's FLOPs for one frame of this case (the same for any batch, XLA or
        precision), or None where the work is not one traceable graph (film mode)."""
        key = (case.pipeline, case.width, case.height)
        if key not in self._flops:
            self._flops[key] = self._count(case)
        return self._flops[key]

    def _count(self, case: Case) -> float | None:
        kind = pipeline_of(case.pipeline).kind
        effect = self.built(case.pipeline, "float32", False)
        if kind == "source":
            from dreamreel.pipelines.gan.dcgan import LATENT_DIM

            return graph_flops(effect.generator, tf.TensorSpec([1, LATENT_DIM], tf.float32))
        if case.pipeline == "dream":
            from dreamreel.pipelines.dream import octave_sizes

            dreamer = effect.effect.dreamer
            sizes = octave_sizes(case.height, case.width, dreamer.settings.octaves,
                                 dreamer.settings.octave_scale)
            return self.plan.steps * sum(
                graph_flops(dreamer.gradient, tf.TensorSpec([1, h, w, 3], tf.float32))
                for h, w in sizes)
        if kind != "frame":
            return None
        stride = effect.stride
        height, width = (-(-side // stride) * stride for side in (case.height, case.width))
        controls = {name: tf.constant(value) for name, value in effect.controls().items()}
        return graph_flops(lambda x: effect(x, controls), tf.TensorSpec([1, height, width, 3]))

