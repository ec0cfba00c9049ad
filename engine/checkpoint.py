"""Resumable jobs: the finished frames of a sequential effect, saved as they are made.

A sequential effect (film mode, a feedback dream) can take minutes a frame, and each frame
depends on the one before, so an interrupted job must not start over. With `--checkpoint DIR`
every finished frame is saved there losslessly (PNG) beside a fingerprint of everything that
made it (input, settings, timing, size). The same job run again finds its frames there and
gives them to the stabiliser in place of new ones, so the first new frame starts from exactly
the previous result it would have had.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

from dreamreel.errors import MediaError, UsageError

STAMP = "settings.json"


class Checkpoint:
    """A folder of finished frames, frame_000000.png ..., made with one fingerprint."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = Path(folder)
        stamp = self.folder / STAMP
        if stamp.is_file():
            try:
                made_with = json.loads(stamp.read_text()).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                made_with = None
            if made_with != fingerprint:
                raise UsageError(f"checkpoint {folder} was made from another input or other "
                                 "settings; use a new folder (or delete it) to start over")
            return
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise UsageError(f"checkpoint {folder} exists and is not a dreamreel checkpoint")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp.write_text(json.dumps({"fingerprint": fingerprint}))
        except OSError as err:
            raise MediaError(f"checkpoint {folder}: cannot write it ({err.strerror or err})") from err

    def _path(self, index: int) -> Path:
        return self.folder / f"frame_{index:06d}.png"

    def load(self, index: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """Frame `index` as saved (uint8 HxWx3 RGB), None when it is missing, unreadable or
        not of `shape`."""
        path = self._path(index)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None or image.shape != shape:
            return None
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def save(self, index: int, image: np.ndarray) -> None:
        """Atomic: a frame is either saved whole or not at all."""
        path = self._path(index)
        temp = path.with_name(f".{path.name}.tmp.png")
        try:
            if not cv2.imwrite(str(temp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise OSError("the image could not be written")
            temp.replace(path)
        except OSError as err:
            temp.unlink(missing_ok=True)
            raise MediaError(f"checkpoint {self.folder}: cannot save frame {index} "
                             f"({err.strerror or err}); the frames before it are kept") from err


def fingerprint(input_path: str | Path, description: str) -> str:
    """A digest of the input's bytes (or its name, for a pattern) and the job's description."""
    digest = hashlib.sha256()
    path = Path(input_path)
    if path.is_file():
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    else:
        digest.update(str(input_path).encode())
    digest.update(description.encode())
    return digest.hexdigest()
