"""`dreamreel metrics INPUT OUTPUT`: how much a stylized clip flickers, and how much style it kept.

Warping error (Lai et al. 2018) with flow and occlusions from the INPUT, so it does not
depend on what is measured; the Gram-matrix style distance to a painting (Gatys et al.), so a
smoothing that washes out the style cannot pass as consistency; and, given the per-frame
result as `--reference`, both figures for it too, how far the output moved from it, and the
warping error's floor: the reference's first frame of each shot carried along the input's
flow, a video with no flicker at all, which still scores above zero.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from dreamreel.errors import UsageError

METRIC_SHORT_SIDE = 256  # style distance is computed at this size, as the networks see it


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("metrics", help="temporal consistency and style faithfulness of a result")
    parser.add_argument("input", help="the source clip")
    parser.add_argument("output", help="the stylized clip to measure")
    parser.add_argument("--reference", help="the per-frame (unstabilised) result, to compare against")
    parser.add_argument("--style-image", type=Path, help="the painting: report the Gram style distance")
    parser.add_argument("--frames", type=int, metavar="N",
                        help="measure the first N frames of each (e.g. of a `run --duration` result)")
    parser.add_argument("--every", type=int, default=4, help="style distance on every Nth frame (default 4)")
    parser.add_argument("--plot", type=Path, help="save a flicker plot (.png, .pdf, .svg, .jpg...)")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing --plot file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--offline", action="store_true", help="never download networks")
    parser.set_defaults(handler=metrics)


def _frames(path: str, size: tuple[int, int] | None = None, limit: int | None = None
            ) -> Iterator[np.ndarray]:
    """The clip's RGB frames (the first `limit` of them), each checked to be `size`."""
    from dreamreel.engine.sources import open_source

    with open_source(path) as source:
        for frame in islice(source, limit):
            if size is not None and frame.image.shape[:2] != size:
                raise UsageError(f"{path} is {frame.image.shape[1]}x{frame.image.shape[0]}, "
                                 f"the input is {size[1]}x{size[0]}: metrics compare equal sizes")
            yield frame.image


def _count(path: str, limit: int | None) -> tuple[int, tuple[int, int]]:
    count, size = 0, None
    for image in _frames(path, limit=limit):
        count, size = count + 1, image.shape[:2]
    return count, size


def _style_distances(paths: list[str], painting: Path, every: int, offline: bool,
                     limit: int | None) -> list[float]:
    """Mean Gram distance of every `every`-th frame of each clip to the painting."""
    import tensorflow as tf

    from dreamreel import weights
    from dreamreel.engine.compute import working_size
    from dreamreel.engine.sources import read_image
    from dreamreel.pipelines.gram import STYLE_LAYERS, gram, style_distance
    from dreamreel.pipelines.vgg16 import VGG16Features

    vgg = VGG16Features(weights.load("vgg16", offline=offline))

    def grams(image: np.ndarray) -> dict[str, tf.Tensor]:
        h, w = working_size(*image.shape[:2], METRIC_SHORT_SIDE)
        x = tf.image.resize(tf.convert_to_tensor(image[None], tf.float32) / 255.0, (h, w), antialias=True)
        return {k: gram(v) for k, v in vgg(x, STYLE_LAYERS).items()}

    target = grams(read_image(painting))
    results = []
    for path in paths:
        values = [float(style_distance(grams(img), target)[0])
                  for i, img in enumerate(_frames(path, limit=limit)) if i % every == 0]
        results.append(float(np.mean(values)))
    return results


def metrics(args: argparse.Namespace) -> int:
    from dreamreel.engine.consistency import drift, mean_error, warping_errors

    if args.every < 1:
        raise UsageError("--every must be at least 1")
    if args.frames is not None and args.frames < 2:
        raise UsageError("--frames must be at least 2 (the warping error compares pairs)")
    limit = args.frames
    if args.plot:
        from dreamreel.engine.sinks.safety import check_plot

        check_plot(args.plot, [Path(c) for c in (args.input, args.output, args.reference) if c],
                   args.overwrite, "--plot")  # before hours of measuring
    clips = [args.output] + ([args.reference] if args.reference else [])
    total, size = _count(args.input, limit)
    for clip in clips:
        count, _ = _count(clip, limit)
        if count != total:
            hint = f"; to compare the first {min(count, total)} of each, add --frames {min(count, total)}"
            raise UsageError(f"{clip} has {count} frames, {args.input} has {total}: metrics need the "
                             f"same frames{hint if min(count, total) > 1 else ''}")
    # With a reference, its floor too: what a video with no flicker at all scores.
    per_pair = warping_errors(_frames(args.input, limit=limit),
                              [_frames(c, size, limit) for c in clips],
                              floor_of=1 if args.reference else None)
    brightness = [[float(img.mean()) / 255.0 for img in _frames(c, limit=limit)] for c in clips]
    names = ["output", "reference", "floor"][: len(per_pair)]
    report: dict[str, dict[str, float]] = {
        name: {"warping_error": mean_error(e)} for name, e in zip(names, per_pair, strict=True)
    }
    # A pair across a scene cut is not scored: null in the JSON, a gap in the plot.
    pairs = {name: [None if np.isnan(x) else round(x, 6) for x in e]
             for name, e in zip(names, per_pair, strict=True)}
    drifts = None
    if args.reference:
        drifts = drift(_frames(args.output, limit=limit), _frames(args.reference, limit=limit))
        end = max(1, len(drifts["difference"]) // 4)  # the last quarter: does it grow?
        report["output"].update({
            "mean_abs_diff_from_reference": float(np.mean(drifts["difference"])),
            "drift_last_quarter": float(np.mean(drifts["difference"][-end:])),
            "texture_drift": float(np.mean(drifts["texture"])),
            "texture_drift_last_quarter": float(np.mean(drifts["texture"][-end:]))})
    if args.style_image:
        for name, value in zip(names[:len(clips)],
                               _style_distances(clips, args.style_image, args.every, args.offline, limit),
                               strict=True):
            report[name]["style_distance"] = value
    if args.plot:
        labels = [f"{n}: {Path(c).name}" for n, c in zip(names, clips, strict=False)]
        if len(names) > len(clips):
            labels.append("floor: no flicker at all")
        _plot(args.plot, labels, per_pair, brightness, drifts, args.overwrite)
    cuts = int(np.isnan(per_pair[0]).sum())
    if args.json:
        print(json.dumps({"input": args.input, "frames": total, "cuts": cuts, **report,
                          "per_pair": pairs}))
    else:
        _table(report, total, cuts)
    return 0


def _table(report: dict[str, dict[str, float]], frames: int, cuts: int) -> None:
    keys = sorted({k for row in report.values() for k in row})
    print(f"{'':10}" + "".join(f"{k:>30}" for k in keys) + f"   ({frames} frames"
          + (f"; {cuts} pair(s) across a cut not scored)" if cuts else ")"))
    for name, row in report.items():
        print(f"{name:10}" + "".join(f"{row[k]:>30.6f}" if k in row else f"{'-':>30}" for k in keys))


def _plot(path: Path, names: list[str], per_pair: list[list[float]], brightness: list[list[float]],
          drifts: dict[str, list[float]] | None, overwrite: bool) -> None:
    import matplotlib

    from dreamreel.engine.sinks import write_atomically

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if drifts else 2
    fig, axes = plt.subplots(panels, 1, figsize=(9, 2.75 * panels), sharex=True)
    top, middle = axes[0], axes[1]
    for name, errors in zip(names, per_pair, strict=True):
        top.plot(range(1, len(errors) + 1), errors, label=f"{name} (mean {np.nanmean(errors):.4f})",
                 linestyle=":" if name.startswith("floor") else "-")
    for name, light in zip(names, brightness, strict=False):  # the floor has no brightness of its own
        middle.plot(range(len(light)), light, label=name)
    top.set_ylabel("warping error")
    top.set_title("flicker: warping error between consecutive frames (lower is steadier)")
    top.legend()
    middle.set_ylabel("mean brightness")
    if drifts:
        for key, label in (("difference", "colour (mean |output - reference|)"),
                           ("texture", "texture (stroke orientations)")):
            axes[2].plot(range(len(drifts[key])), drifts[key], label=label)
        axes[2].set_ylabel("drift from reference")
        axes[2].set_title("drift of the output from the per-frame reference (lower is truer)")
        axes[2].legend()
    axes[-1].set_xlabel("frame")
    fig.tight_layout()
    try:
        write_atomically(path, lambda temp: fig.savefig(temp, dpi=100, format=path.suffix[1:].lower()),
                         overwrite)
    finally:
        plt.close(fig)
