"""The style networks before and after the lean-layer rewrite, side by side in one process.

Loads pipelines/style/multistyle.py and magenta.py as they were at `--before` (a git revision,
default 2db8c76, the commit before the rewrite) next to the current ones, and times both on
the same frame, interleaved, median of `--repeats`: the 26-style network and the Magenta
transformer, bfloat16 and float32, batch 1, at each `--sizes`. Also prints the largest
difference of each output from the old float32 one (0..1 units).

    python benchmarks/style_net_ab.py [--sizes 240x320 480x640] [--repeats 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dreamreel import weights  # noqa: E402
from dreamreel.pipelines.style import magenta, multistyle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def old_modules(revision: str, folder: Path) -> tuple[object, object]:
    """multistyle and magenta as of `revision`, importable side by side with today's."""
    modules = []
    for name in ("multistyle", "magenta"):
        text = subprocess.run(["git", "show", f"{revision}:pipelines/style/{name}.py"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
        text = text.replace("from dreamreel.pipelines.style.multistyle import", "from old_multistyle import")
        path = folder / f"old_{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"old_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"old_{name}"] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules[0], modules[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="2db8c76")
    parser.add_argument("--sizes", nargs="+", default=["240x320", "480x640"])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old_multi, old_magenta = old_modules(args.before, Path(tmp))
        style_arrays, magenta_arrays = weights.load("multistyle26"), weights.load("magenta_transform")
        rng = np.random.default_rng(0)
        mix = tf.constant(np.eye(26, dtype=np.float32)[3])
        bottleneck = tf.constant(rng.normal(0.0, 1.0, (1, 100)).astype(np.float32))
        print("| network | size | dtype | before ms | after ms | speedup | max diff after vs before float32 |")
        print("|---|---|---|---|---|---|---|")
        for size in args.sizes:
            h, w = map(int, size.split("x"))
            x = tf.constant(rng.random((1, h, w, 3), np.float32))
            nets = {}
            for dtype in (tf.bfloat16, tf.float32):
                for when, multi, mag in (("before", old_multi, old_magenta), ("after", multistyle, magenta)):
                    net = multi.MultiStyleNet(style_arrays, dtype=dtype)
                    nets[("26 styles", dtype.name, when)] = tf.function(lambda a, net=net: net(a, mix))
                    net = mag.StyleTransformer(magenta_arrays, dtype=dtype)
                    nets[("magenta", dtype.name, when)] = tf.function(lambda a, net=net: net(a, bottleneck))
            outs = {key: fn(x).numpy() for key, fn in nets.items()}
            times: dict[tuple, list[float]] = {key: [] for key in nets}
            for _ in range(args.repeats):
                for key, fn in nets.items():
                    start = time.perf_counter()
                    fn(x).numpy()
                    times[key].append(1000 * (time.perf_counter() - start))
            for network in ("26 styles", "magenta"):
                for dtype in ("bfloat16", "float32"):
                    before = statistics.median(times[(network, dtype, "before")])
                    after = statistics.median(times[(network, dtype, "after")])
                    diff = np.abs(outs[(network, dtype, "after")] - outs[(network, "float32", "before")]).max()
                    print(f"| {network} | {w}x{h} | {dtype} | {before:.1f} | {after:.1f} | "
                          f"{before / after:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
