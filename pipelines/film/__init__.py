"""Film mode: Gatys et al. 2016 optimisation-based style transfer, temporally coherent after
Ruder et al. 2016. See gatys.py for the design and what resuming a job needs."""

from dreamreel.pipelines.film.gatys import (
    OPTIMIZERS,
    PRECISIONS,
    FilmSettings,
    FilmStylizer,
    FrameResult,
    Gatys,
    StyleTarget,
    preserve_color,
    stylize,
)

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "FilmSettings",
    "FilmStylizer",
    "FrameResult",
    "Gatys",
    "StyleTarget",
    "preserve_color",
    "stylize",
]
