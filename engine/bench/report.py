"""The results as people read them: a markdown table, RESULTS.md, a chart."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from dreamreel.engine.bench.measure import ROOF_SIDE
from dreamreel.engine.bench.peer import PEER
from dreamreel.engine.bench.plan import Row

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"


def progress_line(row: Row) -> str:
    return (f"{row.kind:5} {row.tool:17} {row.pipeline:11} {row.width}x{row.height} "
            f"b{row.batch} {_knobs(row)}: {row.fps:.2f} fps")


def _knobs(row: Row | dict) -> str:
    r = row if isinstance(row, dict) else asdict(row)
    jit = {None: "-", True: "XLA", False: "no XLA"}[r["jit"]]
    lite = "TF Lite, " if r.get("backend") == "lite" else ""
    return f"{lite}{jit}, {r['precision'] or '-'}"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results: dict[str, object]) -> str:
    """The results as a markdown table, one row per measurement, the roof above it."""
    roofs = "; ".join(f"{p} {r['peak_gflops']:.0f} GFLOP/s peak (median {r['median_gflops']:.0f}, "
                      f"min {r['min_gflops']:.0f})" for p, r in results["roof"].items())
    peer = results["peer"]
    lines = [f"Roof, matmul {ROOF_SIDE}x{ROOF_SIDE} before and after the rows: {roofs}. "
             f"Rows: median of {results['repeats']} calls after a warm-up. "
             f"Peer: {PEER} {peer['version'] or 'not installed (columns skipped)'}.",
             "",
             "| kind | tool | pipeline | size | batch | XLA, precision | fps | fps min..max "
             "| GFLOP/frame | GFLOP/s | % roof | MB/s | ms/step | peak RSS MB | peer fps "
             "| dreamreel/peer | note |",
             "|---" * 17 + "|"]
    for row in results["rows"]:
        fraction = None if row["roof_fraction"] is None else 100 * row["roof_fraction"]
        cells = [row["kind"], row["tool"], row["pipeline"], f"{row['width']}x{row['height']}",
                 str(row["batch"]), _knobs(row), _num(row["fps"], 2),
                 f"{row['fps_min']:.2f}..{row['fps_max']:.2f}", _num(row["gflop_per_frame"]),
                 _num(row["gflops"]), _num(fraction), _num(row["mb_per_s"]),
                 _num(row["ms_per_step"]), _num(row["peak_rss_mb"], 0), _num(row["peer_fps"], 2),
                 _num(row["ratio"], 2), row["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\nSkipped: {item}" for item in results["skipped"]]
    return "\n".join(lines) + "\n"


def append_results(results: dict[str, object], command: str, path: Path = RESULTS) -> None:
    """Add the table to benchmarks/RESULTS.md under a heading naming the machine (the date
    it was measured on beside the command)."""
    m = results["machine"]
    heading = (f"### `dreamreel bench` on {m['cpu']} ({m['isa']}), "
               f"{m['cores']} cores, TensorFlow {m['tensorflow']}, GPU {m['gpu'] or 'none'}")
    text = (f"\n{heading}\n\nMeasured {results['date'][:10]} with\n\n```\n{command}\n```\n\n"
            f"{markdown(results)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(text)


def chart(results: dict[str, object], path: Path) -> None:
    """fps by resolution, one panel per pipeline: dreamreel's best model-only config and its
    end-to-end run, the peer's beside them where it has the pipeline (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    names = list(dict.fromkeys(r["pipeline"] for r in rows if r["kind"] != "io"))
    cols = min(3, len(names))
    grid_rows = -(-len(names) // cols)
    fig, axes = plt.subplots(grid_rows, cols, figsize=(4.5 * cols, 3.4 * grid_rows), squeeze=False)
    lines = {}
    for ax, name in zip(axes.flat, names, strict=False):
        mine = [r for r in rows if r["pipeline"] == name]
        sizes = sorted({(r["width"], r["height"]) for r in mine}, key=lambda s: s[0] * s[1])
        for tool, kind, style in (("dreamreel", "model", "o-"), ("dreamreel", "e2e", "o--"),
                                  (PEER, "model", "s-"), (PEER, "e2e", "s--")):
            best = {}
            for r in mine:
                if r["tool"] == tool and r["kind"] == kind:
                    key = sizes.index((r["width"], r["height"]))
                    best[key] = max(best.get(key, 0.0), r["fps"])
            if best:
                x = sorted(best)
                (lines[f"{tool} {kind}"],) = ax.plot(x, [best[i] for i in x], style)
        ax.set_xticks(range(len(sizes)), [f"{w}x{h}" for w, h in sizes])
        ax.set_title(name)
        ax.set_yscale("log")
        ax.set_ylabel("frames per second")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.legend(lines.values(), lines.keys(), loc="lower center", ncol=len(lines))
    m = results["machine"]
    fig.suptitle(f"dreamreel bench, {m['cpu']} ({m['isa']}): best config per size")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
