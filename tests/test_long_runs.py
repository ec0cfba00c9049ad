"""A long show keeps its memory flat: the cheap version of benchmarks/memory_flat.py.

`dreamreel live` plays the 720p cockatoo clip in a loop (the file is reopened every 14 s, as a
long show does) at a tiny working size, records it and takes OSC changes over real UDP, while
the test samples the process's resident set. After the warm-up the least-squares slope of its
floor (the lowest RSS of each FLOOR_WINDOW seconds: decoder, encoder and frame buffers come and
go, swinging RSS by ±30 MB within a second, while a leak raises the floor) must be about zero. The bound is far below what a real leak costs: keeping every 720p frame the show
handles (2.7 MB each, over 10 a second even on a busy two-core machine) grows by well over
1 GB a minute, keeping every frame the recorder encodes by as much, while a flat process moves
a few MB either way as the allocator and the encoder settle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
from conftest import media
from run_helpers import default_signals
from test_live import free_port, osc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from memory_flat import floor, rss_mb, slope_mb_per_min  # noqa: E402  (the benchmark's own)

SHOW_SECONDS = 36.0  # of show, after TensorFlow and the compile
WARMUP = 12.0  # seconds of show left out of the slope
FLOOR_WINDOW = 4.0  # seconds
MAX_SLOPE_MB_PER_MIN = 120.0  # 2 MB/s; measured: a steady show -18..+62, one keeping its frames +1640


def test_live_show_memory_is_flat_and_a_hangup_ends_it_whole(tmp_path: Path) -> None:
    """The show runs until its terminal closes: SIGHUP (then a burst of INT, TERM, HUP) ends it
    as Ctrl-C does, exit 0 with its summary, and the recording plays every frame shown."""
    clip = media("color/cockatoo_yuv420.mp4")
    port = free_port()
    record = tmp_path / "show.mp4"
    cmd = [sys.executable, "-m", "dreamreel.engine.cli", "live", "--source", str(clip), "--loop", "--size", "32",
           "--style", "19", "--crossfade", "0", "--no-preview", "--duration", "600",
           "--record", str(record), "--record-preset", "ultrafast", "--osc", str(port), "--json"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    started = threading.Event()
    lines: list[str] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("dreamreel: live"):
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    samples: list[tuple[float, float]] = []
    began = None
    try:
        assert started.wait(180), "".join(lines)
        began = time.monotonic()
        sent = 0
        while proc.poll() is None and time.monotonic() - began < SHOW_SECONDS:
            if (rss := rss_mb(proc.pid)) is not None:
                samples.append((time.monotonic() - began, rss))
            osc(port, "/dreamreel/style", sent % 26)  # a performer turning a knob
            osc(port, "/dreamreel/strength", 0.5 + 0.5 * (sent % 2))
            sent += 1
            time.sleep(0.25)
        proc.send_signal(signal.SIGHUP)
        for later in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            time.sleep(0.1)
            proc.send_signal(later)
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(5)
    assert proc.returncode == 0, "".join(lines)
    assert "Traceback" not in "".join(lines) and "; recorded " in lines[-1]
    summary = json.loads(out.strip().splitlines()[-1])
    with av.open(str(record)) as container:
        recorded = sum(1 for _ in container.decode(video=0))
    assert recorded == summary["frames"]  # every frame shown, in a file that plays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.mp4"]  # no partial left
    steady = [(t - WARMUP, r) for t, r in samples if WARMUP <= t < SHOW_SECONDS]
    floors = floor(steady, FLOOR_WINDOW)
    slope = slope_mb_per_min(floors)
    print(f"\n{summary['frames']} frames at {summary['fps']} fps; RSS {samples[0][1]:.0f} MB at the "
          f"start, {steady[0][1]:.0f} after warm-up, peak {max(r for _, r in samples):.0f}, end "
          f"{steady[-1][1]:.0f}; floor {[round(r) for _, r in floors]}, slope {slope:+.1f} MB/min "
          f"(all {len(steady)} samples: {slope_mb_per_min(steady):+.1f})")
    assert len(floors) >= 5  # the show really ran that long while we watched
    assert summary["frames"] >= 100
    assert abs(slope) < MAX_SLOPE_MB_PER_MIN, [(round(t), round(r)) for t, r in samples]
