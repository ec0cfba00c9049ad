"""Finished chunks on disk, so that a cluster run interrupted or crashed resumes with the
chunks it lacks: the plan and each part, written under a temporary name and renamed whole.

The folder is `--checkpoint DIR`, or `OUTPUT.parts` beside the output (removed once the
output is made). Its plan is kept with a fingerprint of the input and every setting that
shapes the frames, so a part is never joined into another job's output.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from dreamreel.engine.cluster.plan import Chunk
from dreamreel.errors import MediaError, UsageError

PLAN = "plan.json"


def part_suffix(output: Path | str, folder: bool) -> str:
    """A part's file type: "" (a folder of frames) for a folder output, WebM (VP9) for a
    WebM, else MP4, whose packets carry decode timestamps (Matroska's do not, and H.264's
    B-frames need them to be joined by packet copy)."""
    if folder:
        return ""
    return ".webm" if Path(output).suffix.lower() == ".webm" else ".mp4"


class Parts:
    def __init__(self, folder: Path, fingerprint: str, suffix: str) -> None:
        """suffix: a part's file extension (".mp4"), or "" for folders of frames."""
        self.folder, self.fingerprint, self.suffix = Path(folder), fingerprint, suffix
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{folder}: exists and is not a folder of parts")
        saved = self._saved()
        if saved is None and self.folder.is_dir() and any(self.folder.iterdir()):
            raise UsageError(f"{folder}: holds files that are not a dreamreel run's parts; "
                             "choose another --checkpoint folder")
        if saved is not None and saved.get("fingerprint") != fingerprint:
            raise UsageError(f"{folder}: holds the parts of another input or other settings; "
                             "delete it (or choose another --checkpoint) to start over")
        self.plan = None if saved is None else [Chunk(**c) for c in saved["chunks"]]

    def _saved(self) -> dict | None:
        try:
            return json.loads((self.folder / PLAN).read_text())
        except (OSError, ValueError):
            return None

    def keep_plan(self, chunks: list[Chunk], facts: dict[str, object]) -> None:
        self.plan = chunks
        text = json.dumps({"fingerprint": self.fingerprint, **facts,
                           "chunks": [c.as_dict() for c in chunks]}, indent=1)
        self._write(PLAN, lambda temp: temp.write_text(text))

    def path(self, chunk: Chunk) -> Path:
        return self.folder / f"chunk_{chunk.number:05d}{self.suffix}"

    def done(self, chunk: Chunk) -> bool:
        return self.path(chunk).exists()

    def keep(self, chunk: Chunk, data: bytes | list[bytes]) -> None:
        """Store a rendered chunk: an encoded segment, or its PNG frames in order."""
        def write(temp: Path) -> None:
            if isinstance(data, bytes):
                temp.write_bytes(data)
                return
            temp.mkdir()
            for i, png in enumerate(data):
                (temp / f"frame_{i:06d}.png").write_bytes(png)

        self._write(self.path(chunk).name, write)

    def _write(self, name: str, write) -> None:
        temp = self.folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write(temp)
            os.replace(temp, self.folder / name)
        except OSError as err:
            if temp.is_dir():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                temp.unlink(missing_ok=True)
            raise MediaError(f"{self.folder}: cannot keep {name} ({err.strerror or err})") from err

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
