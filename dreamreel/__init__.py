"""dreamreel: real-time video and webcam stylization with compiled TensorFlow graphs.

    import dreamreel
    dreamreel.pipelines()                       # what is registered: style, vintage, dream, ...
    dreamreel.stylize(input="clip.mp4", output="out.mp4", pipeline="style", style="7")
    spec = dreamreel.RunSpec.make("clip.mp4", "out.mp4", pipeline="vintage@0.6,style", size=360)
    stats = dreamreel.stylize(spec)             # frames, seconds, fps, what it ran with

The names are loaded on first use, so `import dreamreel.errors` stays free of TensorFlow.
"""

from __future__ import annotations

from typing import Any

from dreamreel.errors import DreamreelError

_API = {
    "stylize": "dreamreel.engine.job",
    "RunSpec": "dreamreel.engine.job",
    "StageSpec": "dreamreel.engine.stages",
    "RunStats": "dreamreel.engine.runner",
    "Pipeline": "dreamreel.pipelines.registry",
}

__all__ = ["DreamreelError", "pipelines", *_API]


def pipelines() -> dict[str, Any]:
    """Every registered pipeline by name (built-in, and installed packages' through the
    `dreamreel.pipelines` entry-point group)."""
    from dreamreel.pipelines import registry

    return dict(registry.pipelines())


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'dreamreel' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_API[name]), name)
