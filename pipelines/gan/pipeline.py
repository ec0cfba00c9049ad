"""The `faces` pipeline: DCGAN faces walking through latent space on the beat (a source).

It makes the picture rather than changing one, so it can only start a chain (`faces,style`).
`dreamreel generate` lays whole clips out (walks, morphs, grids); a live show walks on its
live tempo and seed (`LiveWalk`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dreamreel.pipelines.gan.dcgan import DCGANGenerator
from dreamreel.pipelines.gan.faces import FaceRenderer
from dreamreel.pipelines.gan.latent import LiveWalk
from dreamreel.pipelines.registry import Context, Pipeline
from dreamreel.pipelines.settings import setting

TEMPO_RANGE = (20.0, 300.0)  # beats per minute


@dataclass(frozen=True)
class FacesOptions:
    seed: int = setting(0, "which faces (the same seed gives the same faces)", low=0,
                        high=2**31 - 1, live=True, keys=("n", "b"), nudge=1, span=(0, 127))
    tempo: float = setting(120.0, "beats per minute: a new face lands on every beat",
                           low=TEMPO_RANGE[0], high=TEMPO_RANGE[1], flag="--bpm", live=True,
                           keys=("=", "-"), nudge=5.0, span=(60.0, 180.0))


class FaceSource:
    """The generator, with what a clip or a show needs to drive it."""

    name = "faces"

    def __init__(self, generator: DCGANGenerator, options: FacesOptions) -> None:
        self.generator, self.options = generator, options

    def controls(self, settings: FacesOptions | None = None) -> dict[str, np.ndarray]:
        options = settings or self.options
        return {"seed": np.int64(options.seed), "tempo": np.float32(options.tempo)}

    def renderer(self, batch: int, size: int, resample: str = "lanczos3", device: str = "/CPU:0",
                 jit: bool = False) -> FaceRenderer:
        return FaceRenderer(self.generator, batch, size, resample, device, jit)

    def walk(self) -> LiveWalk:
        return LiveWalk(self.options.seed)


def build(options: FacesOptions, context: Context) -> FaceSource:
    return FaceSource(DCGANGenerator(context.load("dcgan_faces")), options)


PIPELINE = Pipeline(
    name="faces",
    summary="DCGAN faces (Radford et al. 2016) walking through latent space on the beat",
    kind="source",
    settings=FacesOptions,
    build=build,
    networks=("dcgan_faces",),
    place="first",
    precisions=("float32",),
)
