"""Music: what reading a soundtrack costs, how close the beats come, and what following the
music costs each frame.

1. Analysis: a click track of --minutes minutes at 128 BPM, encoded as AAC, read through PyAV
   and analysed (envelopes, tempo, beats): seconds per minute of sound, median of --repeats.
2. Beats: click tracks at several tempi (16 s each): the tempo found and the worst click's
   distance from its beat.
3. Per frame: `Reaction.apply` (the strength blend and the record) on 640x360 and 1280x720
   frames, and a live show's `LiveMusic.apply` with three mappings and a sound file pumped.

Writes benchmarks/results/music_rate.json and prints a markdown table for RESULTS.md.

    python benchmarks/music_rate.py [--minutes 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from music_helpers import add_aac, clicks  # noqa: E402

from dreamreel.engine.live.params import Params, live_entries  # noqa: E402
from dreamreel.engine.music import audio, features, react  # noqa: E402
from dreamreel.engine.music.live import BeatClock, FileSound, LiveMusic  # noqa: E402
from dreamreel.engine.music.reaction import Reaction  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "music_rate.json"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def write_aac(sound: np.ndarray, path: Path) -> Path:
    with av.open(str(path), "w") as out:
        add_aac(out, sound)
    return path


def timed(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report: dict = {"machine": f"{cpu_name()}, {len(__import__('os').sched_getaffinity(0))} "
                               "cores, no GPU"}
    with tempfile.TemporaryDirectory() as folder:
        sound, _ = clicks(128.0, args.minutes * 60.0)
        path = write_aac(sound, Path(folder) / "clicks.m4a")
        found: list[features.Features] = []
        seconds = timed(lambda: found.append(features.analyse(audio.blocks(path))),
                        args.repeats)
        report["analysis"] = {"minutes": args.minutes, "seconds": round(seconds, 2),
                              "seconds_per_minute": round(seconds / args.minutes, 3),
                              "bpm_found": round(found[-1].bpm, 3)}

        tempi = {}
        for bpm in (87.0, 100.0, 128.0, 140.0, 174.0):
            sound, times = clicks(bpm, 16.0, first=0.4, rate=audio.RATE)
            got = features.analyse((i / audio.RATE, sound[i: i + 4096])
                                   for i in range(0, len(sound), 4096))
            worst = max(np.min(np.abs(got.beats - t)) for t in times)
            tempi[str(bpm)] = {"bpm_found": round(got.bpm, 2), "beats": len(got.beats),
                               "clicks": len(times), "worst_ms": round(1000 * worst, 1)}
        report["beats"] = tempi

        timeline = react.Timeline.make(found[-1], None, args.minutes * 60.0)
        mapping = react.parse("strength=0.2+0.8*bass", {})
        per_frame, count = {}, 200
        for width, height in ((640, 360), (1280, 720)):
            reaction = Reaction((mapping,), timeline, (), {})
            image = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
            out = 255 - image
            seconds = timed(lambda r=reaction, i=image, o=out: [
                r.apply(k / 25.0, i, o) for k in range(count)], args.repeats)
            per_frame[f"{width}x{height}"] = round(1000 * seconds / count, 3)
        report["reaction_apply_ms"] = per_frame

        entries = live_entries(["kernels"])
        music = LiveMusic(entries, BeatClock(120.0), FileSound(path),
                          ("strength=0.2+0.8*bass", "gain=1+4*beat", "kernel=bar:sobel,emboss"),
                          quantise="beat")
        params = Params(pipeline="kernels", values={"kernel": "sobel", "gain": 1.0})
        count = 25 * 60
        seconds = timed(lambda: [music.apply(params, k / 25.0) for k in range(count)], 1)
        report["live_apply_ms"] = round(1000 * seconds / count, 3)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"machine: {report['machine']}")
    a = report["analysis"]
    print(f"| analysis of {a['minutes']:g} min of AAC | {a['seconds']} s "
          f"({a['seconds_per_minute']} s a minute), {a['bpm_found']} BPM found |")
    for bpm, row in tempi.items():
        print(f"| {bpm} BPM clicks | {row['bpm_found']} BPM, {row['beats']}/{row['clicks']} "
              f"beats, worst {row['worst_ms']} ms |")
    print(f"| Reaction.apply per frame | {per_frame} ms |")
    print(f"| LiveMusic.apply per frame (3 mappings, a file pumped) | {report['live_apply_ms']} ms |")


if __name__ == "__main__":
    main()
