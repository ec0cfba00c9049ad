"""Ableton Link: the show's tempo and beat shared with Live, Resolume, TouchDesigner and
Traktor on the same network.

Through LinkPython-extern, which is GPL-2.0-or-later: the `link` extra, imported here only
when `--link` asks for it, so dreamreel itself stays MIT. Link keeps its own clock in
microseconds; the show's times (perf_counter seconds) are mapped onto it at each call.
"""

from __future__ import annotations

import time

from dreamreel.errors import UsageError

QUANTUM = 4.0  # beats in a Link phase: a bar of 4/4


class LinkSession:
    def __init__(self, bpm: float) -> None:
        try:
            import link
        except ImportError as err:
            raise UsageError(f"--link needs LinkPython-extern ({err}; GPL-2.0+): "
                             "pip install 'dreamreel[link]'") from None
        self._link = link.Link(bpm)
        self._link.enabled = True

    def _micros(self, t: float) -> int:
        """Show time t (perf_counter seconds) on Link's clock."""
        return self._link.clock().micros() + round((t - time.perf_counter()) * 1e6)

    def position(self, t: float) -> float:
        return self._link.captureSessionState().beatAtTime(self._micros(t), QUANTUM)

    @property
    def tempo(self) -> float:
        return self._link.captureSessionState().tempo()

    @property
    def peers(self) -> int:
        return self._link.numPeers()

    def set(self, bpm: float, t: float, beat: float | None = None) -> None:
        """Propose a tempo to the session (and, alone in it, that time t is `beat`)."""
        state = self._link.captureSessionState()
        state.setTempo(bpm, self._micros(t))
        if beat is not None:
            state.requestBeatAtTime(beat, self._micros(t), QUANTUM)
        self._link.commitSessionState(state)

    def close(self) -> None:
        self._link.enabled = False
