"""Chains of pipelines: the chain text and its rules, each stage's strength in the one graph a
chain is traced into, and which of the two run branches a job takes.

- `parse_chain` turns 'vintage@0.6,style' into stages and refuses a chain that cannot work
  with one line that says why.
- A Chain of real frame effects (the CycleGAN `vintage`, the 26-style `style` network),
  compiled as the engine runs it (engine.graph.FrameGraph) on a small real photo: a stage at
  strength 0 is not there, and strength 0.5 is half way between its input and its output.
- `stylize` on a short real clip: a frame pipeline goes through the batched branch, a
  stateful one (the feedback dream) through the sequential branch, one frame at a time.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import mean_abs_diff, probe

from dreamreel.engine import stages
from dreamreel.engine.graph import FrameGraph
from dreamreel.engine.job import RunSpec, stylize
from dreamreel.engine.stages import Built
from dreamreel.errors import DreamreelError
from dreamreel.pipelines import registry
from dreamreel.pipelines.autoencoder.pipeline import AutoencoderSequence
from dreamreel.pipelines.base import Chain
from dreamreel.pipelines.dream.pipeline import DreamSequence
from dreamreel.pipelines.film.pipeline import FilmSequence
from dreamreel.pipelines.gan.ganface import GanFace
from dreamreel.pipelines.painting.pipeline import PaintingSequence
from dreamreel.pipelines.registry import Stage

BUILTIN = ("style", "vintage", "dream", "gatys", "faces")


# --------------------------------------------------------------------------------------------
# the chain text


def test_chain_text_gives_the_stages_in_order_with_their_own_strengths() -> None:
    assert registry.parse_chain("vintage@0.6,style") == [Stage("vintage", 0.6), Stage("style")]
    assert registry.parse_chain(" style@0 , dream@1") == [Stage("style", 0.0), Stage("dream", 1.0)]
    # each rule lets through what it allows: a source first, the dream last, film mode alone
    assert [s.name for s in registry.parse_chain("faces,vintage,style,dream")] == [
        "faces", "vintage", "style", "dream"]
    assert registry.parse_chain("gatys") == [Stage("gatys")]
    assert registry.parse_chain("vintage,style,dream", live=True) == [
        Stage("vintage"), Stage("style"), Stage("dream")]


def refusal(chain: str, live: bool = False) -> str:
    """The one-line message `parse_chain` refuses `chain` with."""
    with pytest.raises(DreamreelError) as error:
        registry.parse_chain(chain, live=live)
    message = str(error.value)
    assert len(message.splitlines()) == 1, message
    return message


def test_an_unknown_pipeline_is_refused_with_the_known_ones() -> None:
    known = list(registry.pipelines())
    assert set(BUILTIN) <= set(known)
    assert refusal("vintage,sepia") == f"unknown pipeline 'sepia'; available: {', '.join(known)}"


@pytest.mark.parametrize(("chain", "live", "says"), [
    ("style,vintage,style", False, "'style,vintage,style': a chain uses each pipeline once"),
    ("style@1.5", False, "'style@1.5': strength must be within 0..1"),
    ("vintage@-0.1,style", False, "'vintage@-0.1': strength must be within 0..1"),
    ("style@nan", False, "'style@nan': strength must be within 0..1"),
    ("style@half", False, "'style@half': the strength after @ must be a number"),
    ("style,faces", False, "'style,faces': faces makes the picture, so it can only start a chain"),
    ("dream,style", False, "'dream,style': dream must be the last stage of a chain"),
    ("gatys,style", False, "'gatys,style': gatys runs on its own, not in a chain"),
    ("style,gatys", False, "'style,gatys': gatys runs on its own, not in a chain"),
    ("gatys", True, "'gatys': gatys is not a live pipeline"),
])
def test_a_chain_that_breaks_a_rule_is_refused_in_one_line(chain: str, live: bool, says: str) -> None:
    assert refusal(chain, live).startswith(says)


def test_a_live_refusal_points_to_run() -> None:
    assert refusal("style,gatys", live=False) != refusal("gatys", live=True)
    assert refusal("gatys", live=True).endswith("use `dreamreel run`")


# --------------------------------------------------------------------------------------------
# each stage's strength inside the one chain graph

HEIGHT, WIDTH = 48, 64
SETTINGS = {"style": "3"}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """coffee.png as RGB, shrunk to 64x48."""
    image = cv2.cvtColor(cv2.imread(str(media("content/coffee.png"))), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def built() -> dict[str, Built]:
    """'vintage,style', 'vintage' and 'style', built with their real networks."""
    ctx = stages.context()
    return {text: stages.build(stages.stages(text, SETTINGS), ctx)
            for text in ("vintage,style", "vintage", "style")}


@pytest.fixture(scope="module")
def rendered(built: dict[str, Built], photo: np.ndarray):
    """`render(chain_text)`: the photo through the compiled graph of 'vintage,style' (compiled
    once) with the strengths `chain_text` fixes for each stage; `render('vintage')` and
    `render('style')`: through a graph of that stage alone."""
    graphs = {text: FrameGraph(b.graph, batch=1, height=HEIGHT, width=WIDTH, jit=False,
                               device="/CPU:0") for text, b in built.items()}

    def render(text: str) -> np.ndarray:
        base = text if text in graphs else "vintage,style"
        controls = Built(stages.stages(text, SETTINGS), None, built[base].graph,
                         None).graph_controls(1.0)
        return graphs[base](photo[None], controls)[0]

    return render


def test_each_stage_gets_its_own_strength_or_the_jobs(built: dict[str, Built]) -> None:
    """The chain graph's controls: '@S' for its stage, the job's strength for the others."""
    chain = built["vintage,style"].graph
    assert isinstance(chain, Chain)
    assert [e.name for e in chain.effects] == ["vintage", "style"]
    fixed = Built(stages.stages("vintage@0.5,style", SETTINGS), None, chain, None)
    for job, style in ((1.0, 1.0), (0.3, 0.3), (0.0, 0.0)):
        controls = fixed.graph_controls(job)
        assert controls["vintage.strength"] == 0.5
        assert controls["style.strength"] == np.float32(style)
        assert sorted(controls) == ["style.strength", "style.style_weights", "vintage.strength"]


@pytest.mark.parametrize(("chain", "other"), [("vintage@0,style", "style"),
                                              ("vintage,style@0", "vintage")])
def test_a_stage_at_strength_0_passes_its_input_through(rendered, photo: np.ndarray, chain: str,
                                                        other: str) -> None:
    """The chain with one stage at 0 is the other stage alone, to the pixel (within rounding)."""
    off, alone, both = rendered(chain), rendered(other), rendered("vintage,style")
    assert np.abs(off.astype(int) - alone).max() <= 1
    assert mean_abs_diff(alone, photo) > 5  # the other stage does change the photo
    assert mean_abs_diff(both, alone) > 5  # and the stage at 0 would have changed it again


@pytest.mark.parametrize(("half", "before", "after"), [
    ("vintage@0.5,style@0", None, "vintage,style@0"),  # the first stage: its input is the photo
    ("vintage,style@0.5", "vintage,style@0", "vintage,style"),  # the last: vintage's output
])
def test_half_strength_is_the_midpoint_of_a_stages_input_and_output(
        rendered, photo: np.ndarray, half: str, before: str | None, after: str) -> None:
    source = photo if before is None else rendered(before)
    full = rendered(after)
    midpoint = (source.astype(np.float64) + full) / 2
    assert mean_abs_diff(full, source) > 5  # the stage changes its input
    # the blend is computed in floats and rounded once; `source` and `full` are rounded too
    assert np.abs(rendered(half) - midpoint).max() <= 1


# --------------------------------------------------------------------------------------------
# the two run branches


@pytest.mark.parametrize(("pipeline", "values", "batch", "temporal"), [
    ("style", {}, 4, 0.85),  # frame stages: one graph over batches, then the stabiliser
    # stateful: a frame at a time, at its own blend; one long step changes the picture visibly
    ("dream", {"steps": 1, "octaves": 1, "step_size": 0.05}, 1, 0.9),
])
def test_a_job_takes_the_branch_of_its_pipeline(tmp_path: Path, pipeline: str, values: dict,
                                                batch: int, temporal: float) -> None:
    """Both jobs ask for batches of 4: the batched branch takes them, the sequential one sees a
    frame at a time whatever is asked."""
    clip = media("film/chaplin_3s.gif")  # 12 fps: 4 frames start within the first 0.3 s
    out = tmp_path / f"{pipeline}.gif"
    stats = stylize(input=clip, output=out, pipeline=pipeline, duration=0.3, size=64,
                    batch=4, offline=True, **values)
    assert stats.summary["batch"] == batch
    assert stats.summary["temporal"] == temporal
    assert [s["name"] for s in stats.summary["stages"]] == [pipeline]
    assert stats.frames == 4
    source, result = probe(clip, frames=True), probe(out, frames=True)
    assert result["count"] == 4
    assert result["size"] == source["size"] == (320, 232)
    assert result["pts"] == source["pts"][:4]
    # the picture changed, well beyond what the GIF round trip alone changes (about 1)
    assert mean_abs_diff(result["images"], source["images"][:4]) > 5


@pytest.mark.parametrize(("pipeline", "values", "named"), [
    ("style", {"colour": "red"}, "colour"),
    ("style", {"layer": "block5_conv1"}, "layer"),  # the dream's setting, not the style's
    ("vintage@0.5,style", {"size": 64, "stlye": "3"}, "stlye"),
])
def test_runspec_refuses_an_unknown_option_in_one_line(pipeline: str, values: dict,
                                                       named: str) -> None:
    with pytest.raises(DreamreelError) as error:
        RunSpec.make("in.mp4", "out.mp4", pipeline=pipeline, **values)
    assert str(error.value) == f"unknown option(s) {named} for pipeline '{pipeline}'"


@pytest.mark.parametrize("pipeline", ["painting", "ganface", "gatys", "autoencoder"])
def test_two_way_asks_for_a_blend_where_the_effect_keeps_itself_steady(pipeline: str) -> None:
    """These effects have no blend to smooth backward: a forced --two-way is refused before
    anything is built (a --ray driver would render each chunk's lookahead for nothing), and
    taken once --temporal asks for the blend."""
    with pytest.raises(DreamreelError, match=f"{pipeline} has none: add --temporal W"):
        RunSpec.make("in.mp4", "out.mp4", pipeline=pipeline, two_way=True).check()
    spec = RunSpec.make("in.mp4", "out.mp4", pipeline=pipeline, two_way=True, temporal=0.5)
    spec.check()
    assert spec.smooths_backward((240, 320))


def test_the_effects_declared_steady_are_those_with_no_blend_of_their_own() -> None:
    """`Pipeline.keeps_steady` is known before anything is built; the effect's `temporal` of 0
    is what the engine then runs by. The two must agree (a feedback dream sets its own)."""
    effects = {"autoencoder": AutoencoderSequence, "dream": DreamSequence, "gatys": FilmSequence,
               "ganface": GanFace, "painting": PaintingSequence}
    sequential = {n for n, p in registry.pipelines().items() if p.kind == "sequential"}
    assert set(effects) <= sequential  # (a plugin may add more)
    declared = {n for n in effects if registry.get(n).keeps_steady}
    assert declared == {n for n, effect in effects.items()
                        if getattr(effect, "temporal", None) == 0.0}
    assert declared == {"autoencoder", "gatys", "ganface", "painting"}


def test_an_unknown_chroma_is_refused_before_anything_is_opened() -> None:
    with pytest.raises(DreamreelError, match="--chroma must be one of 420, 444, not '422'"):
        RunSpec.make("in.mp4", "out.mp4", chroma="422").check()


def test_runspec_takes_job_and_stage_options_by_name() -> None:
    spec = RunSpec.make("in.mp4", "out.mp4", pipeline="vintage@0.5,style", size=64, style="7")
    assert spec.size == 64
    assert [(s.name, s.strength) for s in spec.stages] == [("vintage", 0.5), ("style", None)]
    assert spec.stages[1].options.style == "7"
