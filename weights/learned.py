"""Learned styles: a painting's scales and shifts for the 26-style network, kept in the cache.

Each style is one `.npz` under `<home>/styles/` holding the 990 numbers (named as
`pipelines.style.layout.NORM_SHAPES`) and `meta`, a JSON record of the painting's sha256
and the settings it was learned with; the same file is what `dreamreel styles export` writes
and `import` reads. An interrupted or unfinished fit keeps its optimiser state under
`<home>/styles/partial/` so it can be resumed. Every file is written to a temporary name and
renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dreamreel.errors import SettingsError, WeightsError
from dreamreel.pipelines.style.layout import NORM_SHAPES, check_norm_params
from dreamreel.weights import manifest
from dreamreel.weights.integrity import Damaged, read_arrays, say

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
META = "meta"


def folder() -> Path:
    return manifest.home() / "styles"


def check_name(name: str) -> str:
    """A learned style's name: a letter, then letters, digits, '-' or '_' (at most 40)."""
    if re.fullmatch(r"\d+", name):
        raise SettingsError(f"'{name}' is a built-in style's number; a learned style's name "
                            "starts with a letter")
    if not NAME.fullmatch(name):
        raise SettingsError(f"'{name}' is not a style name: a letter, then up to 39 letters, "
                            "digits, '-' or '_'")
    return name


def path_of(name: str) -> Path:
    return folder() / f"{check_name(name)}.npz"


def partial_path(name: str) -> Path:
    return folder() / "partial" / f"{check_name(name)}.npz"


def names() -> list[str]:
    """The learned styles in the cache, sorted (the order they take after the 26 built-ins)."""
    if not folder().is_dir():
        return []
    return sorted(p.stem for p in folder().glob("*.npz") if NAME.fullmatch(p.stem))


def write(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping) -> None:
    """Arrays and a JSON record into `path`, atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        record = np.frombuffer(json.dumps(dict(meta), sort_keys=True).encode(), np.uint8)
        np.savez(temp, **{META: record}, **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def read_record(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a file :func:`write` wrote; Damaged, KeyError, ValueError or
    UnicodeDecodeError if it is not one."""
    arrays = read_arrays(path)
    meta = json.loads(arrays.pop(META).tobytes().decode())
    if not isinstance(meta, dict):
        raise ValueError("its record is not a table")
    return arrays, meta


def read(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a learned-style or checkpoint file; WeightsError if it is not one."""
    try:
        arrays, meta = read_record(path)
        if "param/" + next(iter(NORM_SHAPES)) not in arrays:  # a style, not a checkpoint
            check_norm_params(arrays)
            arrays = {k: arrays[k] for k in NORM_SHAPES}
    except (Damaged, KeyError, ValueError, UnicodeDecodeError) as why:
        raise WeightsError(f"{path}: not a dreamreel style file ({why})") from None
    return arrays, meta


def load(name: str) -> tuple[dict[str, np.ndarray], dict]:
    """A learned style's (scales and shifts, meta); a one-line error naming the known ones."""
    path = path_of(name)
    if not path.exists():
        known = ", ".join(names()) or "none yet (`dreamreel styles learn PAINTING --name NAME`)"
        raise SettingsError(f"no style named '{name}'; the learned styles: {known}")
    return read(path)


def everything() -> dict[str, dict[str, np.ndarray]]:
    """Every learned style's scales and shifts, by name, in :func:`names` order; a damaged
    file is left out with one line saying so (naming it as the style is then the error)."""
    found = {}
    for name in names():
        try:
            found[name] = load(name)[0]
        except WeightsError as why:
            say(f"the learned style '{name}' is left out: {why}")
    return found


def problem(path: Path) -> str | None:
    """Why a learned-style file cannot be used, or None when it can (`weights verify`)."""
    try:
        read(path)
    except WeightsError as why:
        return str(why).split(": ", 1)[-1]
    return None
