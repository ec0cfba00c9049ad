"""Film mode on a whole clip: ../shared/media/film/chaplin_3s.gif (36 frames, 320x232) at full
size with a painting, temporally coherent through the engine's Stabiliser (Ruder et al. 2016).

Writes the frames as PNGs to /tmp/film_chaplin/ and prints the minutes for the clip and the loss
each frame reached. Usage: python benchmarks/film_chaplin.py [style.jpg] [--float32] [--steps-warm=N] [--frames=N]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import av  # noqa: E402
import cv2  # noqa: E402

from dreamreel import weights  # noqa: E402
from dreamreel.engine.temporal import Stabiliser  # noqa: E402
from dreamreel.pipelines.base import compute_dtype  # noqa: E402
from dreamreel.pipelines.film import FilmSettings, FilmStylizer, StyleTarget  # noqa: E402
from dreamreel.pipelines.vgg16 import VGG16Features  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
OUT = Path("/tmp/film_chaplin")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    options = dict(a[2:].split("=") for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    style_path = Path(args[0]) if args else MEDIA / "styles" / "vangogh_starry_night.jpg"
    settings = FilmSettings()
    if "--float32" in sys.argv:
        settings.precision = "float32"
    if "steps-warm" in options:
        settings.steps_warm = int(options["steps-warm"])
    frames = [f.to_ndarray(format="rgb24") for f in av.open(str(MEDIA / "film" / "chaplin_3s.gif"))
              .decode(video=0)]  # each HxWx3 uint8 RGB
    frames = frames[: int(options.get("frames", len(frames)))]
    painting = cv2.cvtColor(cv2.imread(str(style_path)), cv2.COLOR_BGR2RGB)
    features = VGG16Features(weights.load("vgg16"), compute_dtype(settings.precision))
    stylizer = FilmStylizer(features, StyleTarget(features, [painting]), settings)
    stabiliser = Stabiliser()
    OUT.mkdir(exist_ok=True)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    for index, source in enumerate(frames):
        guide = stabiliser.guide(source)
        out = stylizer.process(source, guide)
        stabiliser.commit(source, out)
        cv2.imwrite(str(OUT / f"{index:03d}.png"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
        r = stylizer.last
        kind = "cold" if guide is None or guide.is_cut else "warm"
        print(f"frame {index:2d} {kind} {r.steps:3d} steps {r.seconds:5.1f} s  loss "
              f"{r.total:7.3f} (content {r.content:.3f} style {r.style:.3f} tv {r.tv:.3f} "
              f"temporal {r.temporal:.3f})", flush=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"{len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} with {style_path.name}"
          f" ({settings.precision}, {settings.optimizer}, steps {settings.steps}/"
          f"{settings.steps_warm}): {minutes:.2f} min; load average {load:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end; frames in {OUT}")


if __name__ == "__main__":
    main()
