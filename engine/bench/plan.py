"""What a bench run measures (its Plan and Cases) and what it records (Rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dreamreel.pipelines import registry

SIZES = ((256, 256), (640, 480), (1280, 720), (1920, 1080))
STYLE_IMAGE = "style-image"  # the style pipeline with a painting: a row of its own
# End-to-end rates include start-up (model load, graph tracing: seconds) in both tools, so a
# ratio of two short runs says little; --quick's 10 frames are for catching breakage.
E2E_RATIO_FRAMES = 30


def pipelines() -> tuple[str, ...]:
    """Every pipeline the bench can time: the registered ones, and style with a painting."""
    names: list[str] = []
    for name in registry.pipelines():
        names += [name, STYLE_IMAGE] if name == "style" else [name]
    return tuple(names)


def pipeline_of(name: str) -> registry.Pipeline:
    """The registered pipeline a bench row name stands for."""
    return registry.get("style" if name == STYLE_IMAGE else name)


@dataclass(frozen=True)
class Case:
    """One model-only measurement: a pipeline at one frame size, batch, XLA and precision."""

    pipeline: str
    width: int
    height: int
    batch: int = 1
    jit: bool = False
    precision: str = "float32"
    backend: str = "tf"  # or "lite": the graph converted to TF Lite (frame pipelines)


@dataclass
class Plan:
    """Everything one bench run measures (see `quick_plan` for the smoke run).

    clip, style_image: the end-to-end clip and the painting (None: ones dreamreel draws).
    """

    pipelines: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    batches: tuple[int, ...] = (1, 4)
    jits: tuple[bool, ...] = (False, True)
    precisions: tuple[str, ...] = ("float32", "bfloat16")
    backends: tuple[str, ...] = ("tf", "lite")
    repeats: int = 3
    steps: int = 2  # dream ascent / film optimisation steps per frame
    octaves: int = 1  # dream octaves
    e2e_seconds: float = 3.0  # of the clip, per end-to-end row; 0 skips them
    e2e_pipelines: tuple[str, ...] | None = None  # None: all of `pipelines` that have one
    e2e_sizes: tuple[tuple[int, int], ...] | None = None  # None: `sizes`
    model_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # per-pipeline override
    clip: Path | None = None
    style: str = "0"
    style_image: Path | None = None
    upsampling: str = "nearest"  # the style networks' (pipelines/style/layout.UPSAMPLING)
    strength: float = 1.0
    preserve_color: bool = False
    device: str = "/CPU:0"
    offline: bool = False

    def cases(self) -> list[Case]:
        """The model-only cases, skipping knobs a pipeline does not have."""
        cases = []
        for name in self.pipelines:
            pipeline = pipeline_of(name)
            sizes = [self.model_sizes[name]] if name in self.model_sizes else self.sizes
            batches = self.batches if pipeline.kind == "frame" else (1,)
            precisions = [p for p in self.precisions if p in pipeline.precisions] or ["float32"]
            for width, height in sizes:
                if pipeline.kind == "source":  # square pictures, side = the size's short side
                    width = height = min(width, height)
                cases += [Case(name, width, height, b, j, p)
                          for b in batches for j in self.jits for p in precisions]
                if pipeline.kind == "frame" and "lite" in self.backends:
                    cases += [Case(name, width, height, b, False, "float32", "lite")
                              for b in batches]
        return list(dict.fromkeys(cases))


def quick_plan(**settings: object) -> Plan:
    """The one-minute smoke run CI can afford: small frames, one config, a few e2e frames."""
    return Plan(pipelines=("style", STYLE_IMAGE, "dream", "faces"), sizes=((256, 256),),
                batches=(1,), jits=(False,), precisions=("float32",), backends=("tf",),
                repeats=3, steps=1,
                octaves=1, e2e_seconds=0.5, e2e_pipelines=("style",),
                model_sizes={"dream": (128, 128), "faces": (64, 64)}, **settings)


@dataclass
class Row:
    """One line of the results: what ran, how fast, how much of the machine, beside the peer."""

    kind: str  # "model", "e2e" or "io"
    tool: str  # "dreamreel" or the peer's name
    pipeline: str  # for io rows: "decode", "colour" or "encode"
    width: int
    height: int
    batch: int = 1
    jit: bool | None = None
    precision: str | None = None
    fps: float = 0.0  # median
    fps_min: float = 0.0
    fps_max: float = 0.0
    gflop_per_frame: float | None = None
    gflops: float | None = None  # achieved
    roof_fraction: float | None = None
    mb_per_s: float | None = None  # io rows: frame bytes in + out per second
    ms_per_step: float | None = None  # dream and film
    peak_rss_mb: float | None = None
    peer_fps: float | None = None
    ratio: float | None = None  # dreamreel fps / peer fps
    note: str = ""
    frames: int | None = None  # e2e rows: frames of the clip
    backend: str | None = None  # model rows: "tf" or "lite"
