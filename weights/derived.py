"""Arrays computed once from a user's content (a painting's style vector) and kept in the cache.

Each is an `.npz` (its CRC-32 checked on every read) under `<home>/<kind>/`, named by the
sha256 of the content; a damaged one is computed again with one line saying so, and a cache
that cannot be written costs only the time to compute it next run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dreamreel.weights import manifest
from dreamreel.weights.integrity import Damaged, read_arrays, say

KINDS = ("style-vectors", "autoencoders")  # the folders `weights verify` checks


def computed(kind: str, key: bytes, compute: Callable[[], object]) -> np.ndarray:
    """The array `compute()` returns for content `key`, computed once and kept under `kind`."""
    path = manifest.home() / kind / f"{hashlib.sha256(key).hexdigest()[:32]}.npz"
    if path.exists():
        try:
            return read_arrays(path)["array"]
        except (Damaged, KeyError) as why:
            say(f"{kind}/{path.name} in the cache is damaged ({why}); computing it again")
    array = np.asarray(compute())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(temp, array=array)
        os.replace(temp, path)
    except OSError as err:
        say(f"cannot keep {kind}/{path.name} in the cache ({err.strerror or err}); "
            "it will be computed again next time")
    return array


def files() -> tuple[list[Path], list[Path]]:
    """The computed caches' current files, and the stale ones (an older format, a temporary
    left by a killed process)."""
    home = manifest.home()
    found = [p for kind in KINDS if (home / kind).is_dir() for p in sorted((home / kind).iterdir())]
    current = [p for p in found if p.suffix == ".npz" and not p.name.startswith(".")]
    return current, [p for p in found if p not in current]


def problem(path: Path) -> str | None:
    """Why a computed-cache file cannot be used, or None when it can."""
    try:
        read_arrays(path)["array"]
    except (Damaged, KeyError) as why:
        return f"damaged ({why})"
    return None
