"""Two-way stabilisation for files: the causal stabiliser's result smoothed again backward.

``temporal.Stabiliser`` uses only past frames, so that live video and files share it. A file
has its future too. Running the same stabiliser over the finished frames in reverse order
(each frame pulled toward the next finished one, along the flow, with the same reliability
mask, structure confidence, cut detection and texture restoration) halves what flicker the
forward pass leaves: benchmarks/RESULTS.md, "Two-way". Filtering forward and then
backward is the zero-phase smoothing signal processing knows as filtfilt. Where the forward
stabiliser worked at the frames' own size, the backward one finds every flow it needs in
their shared `temporal.FlowMemo` and solves none. It is `run`'s default for effects that
paint each frame on their own (`RunSpec.smooths_backward`); `--one-way` leaves it out.

Memory stays flat however long the clip: frames are released in blocks of ``BLOCK``, each
smoothed backward from ``LOOKAHEAD`` frames beyond it. At the backward weight of 0.5 a frame
that far ahead contributes at most 0.5 ** LOOKAHEAD (0.4%), so the blocks join as a pass over
the whole clip would. At a scene cut (``flow.hard_cut``) everything held is released at
once: nothing after a cut reaches the frames before it, and the blocks begin again there. So
a `--ray` chunk that begins at a cut smooths its frames in the blocks a single run does, and
one that begins and ends at cuts gives the single run's frames.
"""

from __future__ import annotations

import numpy as np

from dreamreel.engine.flow import hard_cut
from dreamreel.engine.media import Frame
from dreamreel.engine.temporal import DEFAULT_PRESET, FlowMemo, Stabiliser, flow_gray

# The backward pass's blend weight, from measurement (RESULTS.md, "Two-way"): on four clips
# painted after Kandinsky, 0.5 keeps the style distance within 0.02x of the forward pass's,
# where 0.85 moves Big Buck Bunny 14-19 s from 1.10x to 1.20x of the per-frame output's.
BACKWARD_WEIGHT = 0.5
BLOCK = 16  # frames released at a time
LOOKAHEAD = 8  # frames beyond a block that its backward pass starts from
# Flows to keep: both ways between every held frame, and the few frames a sequential effect's
# stabiliser, on the graph's thread, may be ahead of the encoder's (engine.runner's queues).
MEMO = 2 * (BLOCK + LOOKAHEAD + 8)


class BackwardPass:
    """Holds finished frames back, then releases them smoothed along the flow toward their
    successors (see the module docstring). `flow_scale` as ``Stabiliser``'s, for the frames'
    size; `memo`: the flows the forward stabiliser solved (a `FlowMemo` of MEMO flows), found
    there again when it worked at the frames' size."""

    def __init__(self, flow_scale: float, preset: str = DEFAULT_PRESET,
                 memo: FlowMemo | None = None) -> None:
        self._stabiliser = Stabiliser(BACKWARD_WEIGHT, preset, flow_scale=flow_scale, memo=memo)
        self._flow_scale = flow_scale
        self._held: list[tuple[Frame, np.ndarray]] = []  # (input frame, finished uint8 HxWxC)
        self._last_gray: np.ndarray | None = None  # the last frame pushed, as the flow sees it

    def push(self, frame: Frame, finished: np.ndarray) -> list[tuple[Frame, np.ndarray]]:
        """Take the input `frame` and its finished picture; return the (input frame,
        picture) pairs now final, in order: none until a block and its lookahead are held,
        every frame held before a scene cut once the cut comes."""
        gray = flow_gray(frame.image, self._flow_scale)
        cut = self._last_gray is not None and (
            gray.shape != self._last_gray.shape or hard_cut(self._last_gray, gray))
        self._last_gray = gray
        done = self.flush() if cut else []
        self._held.append((frame, finished))
        if len(self._held) >= BLOCK + LOOKAHEAD:
            done += self._release(BLOCK)
        return done

    def flush(self) -> list[tuple[Frame, np.ndarray]]:
        """Every frame still held, final: the clip has ended (or the run was stopped)."""
        return self._release(len(self._held))

    def _release(self, count: int) -> list[tuple[Frame, np.ndarray]]:
        self._stabiliser.reset()
        smoothed = [self._smooth(frame.image, finished)
                    for frame, finished in reversed(self._held)][::-1]
        done = [(frame, smoothed[i]) for i, (frame, _) in enumerate(self._held[:count])]
        del self._held[:count]
        return done

    def _smooth(self, image: np.ndarray, finished: np.ndarray) -> np.ndarray:
        """The colour smoothed; an alpha channel (`--mask ... --alpha`), the mask's own, kept."""
        colour = self._stabiliser(image, finished[..., :3])
        return colour if finished.shape[2] == 3 else np.dstack([colour, finished[..., 3:]])
