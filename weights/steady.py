"""The steady network: the 26-style network fine-tuned on this machine, kept in the cache.

No one publishes it: `dreamreel styles steady` makes it from the shipped multistyle26 weights
(pipelines/style/steady.py) and keeps it here, one `.npz` in the shipped network's layout
(kernels `<layer>.w`, scales and shifts `<layer>.norm.gamma/beta` for the 26 styles) with
`meta`, a JSON record of how it was made. `--upsampling steady` runs it. It is written to a
temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dreamreel.errors import SettingsError, WeightsError
from dreamreel.pipelines.style.layout import LAYERS, NUM_STYLES
from dreamreel.weights import learned, manifest
from dreamreel.weights.integrity import Damaged

SHAPES = {
    **{f"{layer.name}.w": (layer.cout, layer.cin, layer.kernel, layer.kernel) for layer in LAYERS},
    **{f"{layer.name}.norm.{kind}": (NUM_STYLES, layer.cout) for layer in LAYERS
       for kind in ("gamma", "beta")},
}
MAKE = "`dreamreel styles steady` makes it (45-65 minutes on 2 cores)"


def path() -> Path:
    return manifest.home() / "steady" / "multistyle26.npz"


def write(arrays: Mapping[str, np.ndarray], meta: Mapping) -> None:
    """The network and its record, atomically."""
    learned.write(path(), {k: arrays[k] for k in SHAPES}, meta)


def read(file: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a steady-network file; WeightsError if it is not one."""
    try:
        arrays, meta = learned.read_record(file)
        for key, shape in SHAPES.items():
            if key not in arrays or arrays[key].shape != shape:
                raise ValueError(f"{key}: expected shape {shape}")
            if not np.all(np.isfinite(arrays[key])):
                raise ValueError(f"{key} holds a NaN or an infinity")
    except (Damaged, KeyError, ValueError, UnicodeDecodeError) as why:
        raise WeightsError(f"{file}: not a steady network ({why})") from None
    return arrays, meta


def require() -> None:
    """A one-line error saying how to make the steady network if there is none yet."""
    if not path().exists():
        raise SettingsError(f"--upsampling steady: there is no steady network on this machine "
                            f"yet; {MAKE}")


def load() -> dict[str, np.ndarray]:
    """The steady network's arrays; a one-line error if there is none or it is damaged."""
    require()
    try:
        return read(path())[0]
    except WeightsError as why:
        raise WeightsError(f"{why}; make it again with `dreamreel styles steady -y`") from None


def problem(file: Path) -> str | None:
    """Why the steady-network file cannot be used, or None when it can (`weights verify`)."""
    try:
        read(file)
    except WeightsError as why:
        return str(why).split(": ", 1)[-1]
    return None
