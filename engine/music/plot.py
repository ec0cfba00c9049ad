"""`--react-plot`: each mapped value and the stylisation amount against time, beats marked, so
a user sees at a glance whether the picture pulses with the music."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save(path: Path, times: np.ndarray, panels: list[tuple[str, list[float]]],
         beats: np.ndarray, overwrite: bool) -> None:
    import matplotlib

    from dreamreel.engine.sinks import write_atomically

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.2 * len(panels)), sharex=True,
                             squeeze=False)
    shown = beats[(beats >= times.min()) & (beats <= times.max())] if len(times) else beats
    for axis, (title, values) in zip(axes[:, 0], panels, strict=True):
        axis.plot(times, values, lw=1.2)
        for beat in shown:
            axis.axvline(beat, color="0.8", lw=0.6, zorder=0)
        axis.set_title(title, fontsize=10)
    axes[-1, 0].set_xlabel("seconds (grey: beats)")
    fig.tight_layout()
    try:
        write_atomically(path, lambda temp: fig.savefig(temp, dpi=100,
                                                        format=path.suffix[1:].lower()), overwrite)
    finally:
        plt.close(fig)
