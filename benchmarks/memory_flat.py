"""Memory over a long run: is the resident set flat, or does it creep up with every frame?

Two runs, each a real `dreamreel` process whose RSS (VmRSS in /proc/PID/status) is sampled
every second:

- `run`: `dreamreel run` on a long 720p clip, made by looping cockatoo_yuv420.mp4 (1280x720,
  20 fps, 14 s) with packet copy into a temporary file (no re-encode, nothing committed).
- `live`: `dreamreel live --source cockatoo_yuv420.mp4 --loop` (the file reopened every 14 s,
  as a show would), no window, recording to a temporary file, while a thread sends real OSC
  datagrams over 127.0.0.1 (style, blend, strength, pipeline switches, temporal, crossfade,
  osd, screenshots, plus malformed ones).

The slope is a least-squares line through the samples after the warm-up (the first
`--warmup` seconds: TensorFlow's import, the compile and the allocator and encoders settling;
counted from the launch for `run`, from the show's start line for `live`), up to the end of
the work (the last seconds, finishing files and unloading, are left out). Also given: the slope
of the second half, and of the floor (the lowest RSS of each minute: buffers that come and go
swing RSS by tens of MB; a leak raises the floor). A leak shows as a positive slope for the
whole run; a flat process stays within a few MB a minute.

    python benchmarks/memory_flat.py run --minutes 10
    python benchmarks/memory_flat.py live --minutes 30
    python benchmarks/memory_flat.py live --from-json benchmarks/results/memory_live.json

Writes benchmarks/results/memory_<what>.json and prints a table; `--from-json` recomputes the
figures from a result's stored trace (e.g. with another --warmup).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIP = MEDIA / "color" / "cockatoo_yuv420.mp4"
RESULTS = ROOT / "benchmarks" / "results"
# Cheap settings, so 10 minutes of 720p run in reasonable time on two cores.
RUN_FLAGS = ["--style", "19", "--size", "96", "--preset", "ultrafast",
             "--one-way"]  # as recorded
LIVE_FLAGS = ["--setlist", "style;vintage@0.6,style", "--style", "19", "--size", "96",
              "--crossfade", "0.5", "--record-preset", "ultrafast"]


def rss_mb(pid: int) -> float | None:
    """The process's resident set in MB (VmRSS), None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    cov = sum((t - mt) * (r - mr) for t, r in samples)
    return 60.0 * cov / var if var else 0.0


def floor(samples: list[tuple[float, float]], window: float) -> list[tuple[float, float]]:
    """(window centre, lowest RSS) per `window` seconds: transient buffers (a decoder reopened,
    the encoder's lookahead) swing RSS by tens of MB; a leak raises the floor."""
    windows: dict[int, list[float]] = {}
    for t, rss in samples:
        windows.setdefault(int(t // window), []).append(rss)
    return [((w + 0.5) * window, min(r)) for w, r in sorted(windows.items())]


def looped_clip(source: Path, dest: Path, seconds: float) -> Path:
    """`source` repeated (packet copy, timestamps shifted per loop) to at least `seconds`."""
    with av.open(str(source)) as probe:
        length = float(probe.duration) / av.time_base
    loops = max(1, int(-(-seconds // length)))
    with av.open(str(dest), "w") as out:
        streams, offsets = {}, {}
        for i in range(loops):
            with av.open(str(source)) as inp:
                for stream in inp.streams:
                    if stream.type in ("video", "audio") and stream.index not in streams:
                        streams[stream.index] = out.add_stream_from_template(stream)
                span = {s.index: round(length / s.time_base) for s in inp.streams if s.index in streams}
                for packet in inp.demux(*[s for s in inp.streams if s.index in streams]):
                    if packet.dts is None:
                        continue
                    shift = offsets.get(packet.stream.index, 0)
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts += shift
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
                for index, ticks in span.items():
                    offsets[index] = offsets.get(index, 0) + ticks
            print(f"\rlooping the clip: {i + 1}/{loops}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    return dest


class OscPerformer(threading.Thread):
    """Sends a show's worth of OSC over real UDP: a change every `every` seconds, a pipeline
    switch every 30 s, a screenshot every 60 s, and now and then a malformed packet."""

    def __init__(self, port: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.port, self.every = port, every
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        client = SimpleUDPClient("127.0.0.1", self.port)
        rng = random.Random(0)
        began = time.monotonic()
        last_switch = last_shot = began
        pipelines = ["vintage@0.6,style", "style"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            while not self.stop.wait(self.every):
                now = time.monotonic()
                choice = rng.randrange(7)
                if choice == 0:
                    client.send_message("/dreamreel/style", rng.randrange(26))
                elif choice == 1:
                    client.send_message("/dreamreel/blend", f"{rng.randrange(26)}:0.5,{rng.randrange(26)}:0.5")
                elif choice == 2:
                    client.send_message("/dreamreel/strength", rng.uniform(0.3, 1.0))
                elif choice == 3:
                    client.send_message("/dreamreel/temporal", rng.choice([0.0, 0.5]))
                elif choice == 4:
                    client.send_message("/dreamreel/crossfade/unit", rng.uniform(0, 0.05))
                elif choice == 5:
                    client.send_message("/dreamreel/osd", rng.randrange(2))
                else:  # junk: not OSC, a wrong type, an unknown address
                    raw.sendto(rng.randbytes(rng.randint(1, 64)), ("127.0.0.1", self.port))
                    client.send_message("/dreamreel/strength", "loud")
                    client.send_message(f"/nobody/{rng.randrange(1000)}", 1)
                if now - last_switch >= 30:
                    last_switch = now
                    pipelines.reverse()
                    client.send_message("/dreamreel/pipeline", pipelines[0])
                if now - last_shot >= 60:
                    last_shot = now
                    client.send_message("/dreamreel/screenshot", 1)
                self.sent += 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample(proc: subprocess.Popen, started: threading.Event, every: float = 1.0
           ) -> list[tuple[float, float]]:
    """(seconds since the work started, RSS MB) every `every` s until the process ends; the
    clock starts when `started` is set (the first frame), earlier samples get negative times."""
    samples, t0 = [], time.monotonic()
    work_began: float | None = None
    while proc.poll() is None:
        rss = rss_mb(proc.pid)
        now = time.monotonic()
        if started.is_set() and work_began is None:
            work_began = now
        if rss is not None:
            samples.append((now - t0, rss))
        time.sleep(every)
    shift = (work_began or t0) - t0
    return [(t - shift, r) for t, r in samples]


def watch_stderr(proc: subprocess.Popen, marker: str | None, started: threading.Event,
                 lines: list[str]) -> threading.Thread:
    """Keep the process's stderr; set `started` at the first line holding `marker`."""

    def read() -> None:
        for line in proc.stderr:
            lines.append(line.rstrip("\r\n"))
            if marker is not None and marker in line:
                started.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def summarise(samples: list[tuple[float, float]], warmup: float, end: float) -> dict:
    """Start, peak and end RSS and the slopes, over the work (up to `end` s: after it the
    process finishes its files and unloads, which is not the steady state)."""
    samples = [(t, r) for t, r in samples if t <= end] or samples
    after = [(t, r) for t, r in samples if t >= warmup]
    half = [(t, r) for t, r in after if t >= (after[0][0] + after[-1][0]) / 2] if after else []
    return {
        "samples": len(samples),
        "warmup_s": warmup,
        "rss_start_mb": round(samples[0][1], 1),
        "rss_after_warmup_mb": round(after[0][1], 1) if after else None,
        "rss_peak_mb": round(max(r for _, r in samples), 1),
        "rss_end_mb": round(samples[-1][1], 1),
        "slope_mb_per_min": round(slope_mb_per_min(after), 3),
        "slope_second_half_mb_per_min": round(slope_mb_per_min(half), 3),
        "floor_slope_mb_per_min": round(slope_mb_per_min(floor(after, 60.0)), 3),
        "work_seconds": round(samples[-1][0], 1),
    }


def run_one(what: str, minutes: float, warmup: float, tmp: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cli = [sys.executable, "-m", "dreamreel.engine.cli"]
    performer = None
    if what == "run":
        clip = looped_clip(CLIP, tmp / "long.mp4", minutes * 60)
        cmd = [*cli, "run", str(clip), "-o", str(tmp / "out.mp4"), "-y", "--json", *RUN_FLAGS]
        marker = None  # `run --json` prints nothing on the way: its clock starts at launch
    else:
        port = free_port()
        cmd = [*cli, "live", "--source", str(CLIP), "--loop", "--no-preview", "--duration",
               str(minutes * 60), "--osc", str(port), "--record", str(tmp / "show.mp4"),
               "--screenshots", str(tmp / "shots"), "--json", *LIVE_FLAGS]
        marker = "dreamreel: live"
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    began = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    started, lines = threading.Event(), []
    watch_stderr(proc, marker, started, lines)
    if marker is None:
        started.set()
    if what == "live":
        performer = OscPerformer(port)
        threading.Thread(target=lambda: (started.wait(), performer.start()), daemon=True).start()
    samples = sample(proc, started)
    stdout = proc.stdout.read()
    if performer is not None:
        performer.stop.set()
    if proc.returncode:
        sys.exit(f"{what} failed ({proc.returncode}):\n" + "\n".join(lines)[-2000:])
    summary = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    result = {
        "what": what,
        "command": " ".join(Path(c).name if c == sys.executable else c for c in cmd),
        "setting": " ".join(RUN_FLAGS if what == "run" else LIVE_FLAGS),
        "minutes": minutes,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(began)),
        "wall_seconds": round(time.time() - began, 1),
        "machine": machine(),
        **summarise(samples, warmup, minutes * 60 if what == "live" else samples[-1][0] - 3),
        "osc_messages_sent": performer.sent if performer else None,
        "dreamreel_summary": summary,
        "stderr_tail": lines[-8:],
        "rss_trace": [[round(t, 1), round(r, 1)] for t, r in samples[:: max(1, len(samples) // 600)]],
    }
    if what == "live":
        result["recording"] = probe_recording(tmp / "show.mp4")
    return result


def probe_recording(path: Path) -> dict:
    """Frames and duration of the recording, decoded to the end (playable means this works)."""
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        seconds = float(container.duration or 0) / av.time_base
    return {"frames": frames, "seconds": round(seconds, 1), "bytes": path.stat().st_size}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    flags = Path("/proc/cpuinfo").read_text()
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "python": platform.python_version(), "load_before": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("run", "live"))
    parser.add_argument("--minutes", type=float, help="length (default: run 10, live 30)")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds after the first frame left out of the slope (default 60)")
    parser.add_argument("--out", type=Path, help="JSON (default benchmarks/results/memory_<what>.json)")
    parser.add_argument("--from-json", type=Path, metavar="RESULT",
                        help="recompute the figures from this result's rss_trace; run nothing")
    args = parser.parse_args()
    minutes = args.minutes or (10.0 if args.what == "run" else 30.0)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        trace = [(t, r) for t, r in result["rss_trace"]]
        minutes = result["minutes"]
        end = minutes * 60 if args.what == "live" else trace[-1][0] - 3
        result.update(summarise(trace, args.warmup, end), summary_from="rss_trace")
    else:
        with tempfile.TemporaryDirectory(prefix="memory-flat-") as tmp:
            result = run_one(args.what, minutes, args.warmup, Path(tmp))
    out = args.out or args.from_json or RESULTS / f"memory_{args.what}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{result['command']}\n")
    print("| what | minutes | RSS start MB | after warm-up | peak | end | slope MB/min | second half "
          "| floor slope |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.what} | {minutes:g} | {result['rss_start_mb']} | {result['rss_after_warmup_mb']} | "
          f"{result['rss_peak_mb']} | {result['rss_end_mb']} | {result['slope_mb_per_min']} | "
          f"{result['slope_second_half_mb_per_min']} | {result['floor_slope_mb_per_min']} |")
    print(f"written {out}")


if __name__ == "__main__":
    main()
