"""A one-line progress bar on stderr (frames, fps, ETA), shown only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int | None, label: str = "", stream: TextIO = sys.stderr,
                 enabled: bool | None = None) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._start = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        self.total = total or self.total
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.2 and done != self.total):
            return
        self._last = now
        fps = done / max(now - self._start, 1e-9)
        if self.total:
            filled = int(24 * min(done / self.total, 1.0))
            eta = max(self.total - done, 0) / fps if fps else 0.0
            text = (f"{self.label} [{'#' * filled}{'-' * (24 - filled)}] {done}/{self.total} "
                    f"frames  {fps:5.1f} fps  ETA {int(eta // 60)}:{int(eta % 60):02d}")
        else:
            text = f"{self.label} {done} frames  {fps:5.1f} fps"
        print(f"\r{text}", end="", file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=self.stream, flush=True)
