"""Progress a user can trust: a one-line bar on a terminal, and an early estimate of a long run.

The rate is taken from the frames after the first (which also pays for tracing the graphs), so
the ETA is right from the second frame on. A run that will take over a minute says so, once,
as soon as that is known, in a plain line (also when stderr is not a terminal).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LONG_RUN = 60.0  # seconds: a run longer than this says how long it will take
SETTLE = 2.0  # seconds of frames after the first before the estimate is said (batches arrive
#               several frames at once)


class Progress:
    def __init__(self, total: int | None, label: str = "", stream: TextIO = sys.stderr,
                 enabled: bool | None = None, estimate: bool = True) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.estimate = estimate  # say once when the run will take over a minute
        self._start = time.perf_counter()
        self._first: tuple[int, float] | None = None  # (frames, time) when the first was done
        self._last = 0.0
        self._said = False

    def __call__(self, done: int, total: int | None = None) -> None:
        self.total = total or self.total
        now = time.perf_counter()
        if self._first is None:
            self._first = (done, now)
        rate = self.rate(done, now)
        if self.estimate and not self._said and rate and self.total:
            remaining = (self.total - done) / rate
            if now - self._first[1] >= SETTLE and remaining > LONG_RUN:
                self._said = True
                print(f"\rdreamreel: about {clock(remaining)} more for the {self.total} frames "
                      f"({1 / rate:.1f} s a frame)", file=self.stream, flush=True)
        if not self.enabled or (now - self._last < 0.2 and done != self.total):
            return
        self._last = now
        if self.total:
            filled = int(24 * min(done / self.total, 1.0))
            eta = f"ETA {clock(max(self.total - done, 0) / rate)}" if rate else "ETA -"
            text = (f"{self.label} [{'#' * filled}{'-' * (24 - filled)}] {done}/{self.total} "
                    f"frames  {rate or 0:5.1f} fps  {eta}")
        else:
            text = f"{self.label} {done} frames  {rate or 0:5.1f} fps"
        print(f"\r{text}", end="", file=self.stream, flush=True)

    def rate(self, done: int, now: float) -> float | None:
        """Frames a second since the first frame (None until a second one is done)."""
        frames, then = self._first or (done, now)
        return (done - frames) / (now - then) if done > frames and now > then else None

    def close(self) -> None:
        if self.enabled:
            print(file=self.stream, flush=True)


def clock(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
