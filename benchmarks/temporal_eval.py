"""Measure what temporal stabilisation buys: E_warp, style distance and drift, per-frame vs
stabilised, on real clips, beside the floor (what a video with no flicker at all scores, as a
share of the per-frame E_warp). Prints a markdown table.

    python benchmarks/temporal_eval.py [--clips film/chaplin_silent.mp4 ...] [--weights 0.5 0.7 0.9]
        [--styles "style 7" kandinsky "style 19 steady" "style 19 bilinear" "style wave steady"]
        [--size 360|full] [--two-way] [--chroma 444]

"style N" is a built-in style, "style NAME" a learned one (`dreamreel styles learn`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
DREAMREEL = [sys.executable, "-m", "dreamreel.engine.cli"]
PAINTING = MEDIA / "styles" / "kandinsky_composition_vii.jpg"


def style_args(label: str) -> list[str]:
    """'kandinsky' (Magenta's network with the painting), 'style N|NAME' or 'style N|NAME
    UPSAMPLING' (steady or bilinear) as `run` options."""
    if label == "kandinsky":
        return ["--style-image", str(PAINTING)]
    words = label.split()
    if len(words) not in (2, 3) or words[0] != "style" or (
            words[2:] not in ([], ["steady"], ["bilinear"])):
        raise argparse.ArgumentTypeError(
            f"{label!r}: kandinsky, 'style N|NAME', 'style N|NAME steady' or "
            "'style N|NAME bilinear'")
    return ["--style", words[1], *(["--upsampling", words[2]] if words[2:] else [])]


def dreamreel(*args: str) -> str:
    result = subprocess.run([*DREAMREEL, *args], capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"dreamreel {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", nargs="+", default=["film/chaplin_silent.mp4", "color/cockatoo_yuv420.mp4"])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.5, 0.7, 0.85])
    parser.add_argument("--size", default="360", help="working short side, or 'full': the "
                        "clip's own")
    parser.add_argument("--duration", default="6")
    parser.add_argument("--styles", nargs="+", default=["style 7", "kandinsky"],
                        help="kandinsky, 'style N|NAME' (built-in or learned), 'style N|NAME "
                        "steady' (`dreamreel styles steady`) or 'style N|NAME bilinear': with "
                        "that --upsampling")
    parser.add_argument("--two-way", action="store_true", help="each weight with `run "
                        "--two-way` as well")
    parser.add_argument("--chroma", default="420", help="`run --chroma` of every stylized "
                        "output, the per-frame one included")
    args = parser.parse_args()
    try:
        styles = {label: style_args(label) for label in args.styles}
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            source = str(MEDIA / clip)
            trimmed = f"{tmp}/input.mp4"
            dreamreel("run", source, "-o", trimmed, "--duration", args.duration, "--strength", "0",
                      "--temporal", "0", "--crf", "12", "-y", "--quiet")
            for label in args.styles:
                style = styles[label]
                reference = f"{tmp}/perframe.mp4"
                size = [] if args.size == "full" else ["--size", args.size]
                common = [trimmed, *size, *style, "-y", "--quiet", "--crf", "14",
                          "--chroma", args.chroma]
                dreamreel("run", *common, "-o", reference, "--temporal", "0")
                runs = [(0.0, [])] + [(w, ["--temporal", str(w), "--one-way"])
                                      for w in args.weights]
                runs += [(f"{w} two-way", ["--temporal", str(w), "--two-way"])
                         for w in args.weights if args.two_way]
                for weight, options in runs:
                    out = reference if weight == 0 else f"{tmp}/w{weight}.mp4".replace(" ", "-")
                    if weight:
                        dreamreel("run", *common, "-o", out, *options)
                    figures = json.loads(dreamreel("metrics", trimmed, out, "--reference", reference,
                                                   "--style-image", str(PAINTING), "--json"))
                    ref = {**figures["reference"], "floor": figures["floor"]["warping_error"]}
                    rows.append((clip, label, weight, figures["output"], ref))
                    print(rows[-1], file=sys.stderr)
    first = {clip: out["warping_error"] for clip, label, weight, out, _ in rows
             if label == args.styles[0] and weight == 0}  # the first style's per-frame error
    print(f"| clip | style | --temporal | E_warp | vs per-frame | vs {args.styles[0]} per-frame | "
          "floor | style distance | vs per-frame | mean abs diff from per-frame | texture drift |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for clip, label, weight, out, ref in rows:
        print(f"| {Path(clip).name} | {label} | {weight} | {out['warping_error']:.5f} | "
              f"{out['warping_error'] / ref['warping_error']:.2f}x | "
              f"{out['warping_error'] / first[clip]:.2f}x | "
              f"{ref['floor'] / ref['warping_error']:.2f}x | {out['style_distance']:.5f} | "
              f"{out['style_distance'] / ref['style_distance']:.3f}x | "
              f"{out.get('mean_abs_diff_from_reference', 0):.4f} | "
              f"{out.get('texture_drift', 0):.3f} |")


if __name__ == "__main__":
    main()
