"""Timing: repeated calls and their spread, peak memory, the machine's roof, graph FLOPs."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from dreamreel.engine.compute import cpu_features

ROOF_SIDE = 4096


@dataclass
class Sample:
    """Frames per second of repeated calls: median and extremes, and the peak RSS meanwhile."""

    fps: float
    fps_min: float
    fps_max: float
    seconds: float  # median seconds per call
    peak_rss_mb: float | None
    times: list[float]  # seconds of each call


def reset_peak_rss() -> None:
    """Let the kernel's peak RSS (VmHWM) start again from the current RSS (Linux >= 4.0).

    Without this the process's peak would be the largest of all rows so far.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """The peak RSS of a process since its start or last reset, in MB: VmHWM, which counts
    only the process's own memory (a child's ru_maxrss would count this big parent's too,
    inherited at fork); ru_maxrss of this process where there is no /proc; None once `pid`
    has exited."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None
    if pid != "self":
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(call: Callable[[], object], frames: int, repeats: int, warm_up: bool = True) -> Sample:
    """Time `repeats` calls of `call` (each making `frames` frames), after a warm-up call that
    traces and compiles unless `warm_up` is False."""
    reset_peak_rss()
    if warm_up:
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return Sample(frames / median, frames / max(times), frames / min(times), median,
                  peak_rss_mb(), times)


def roof_gflops(precision: str, repeats: int, warm_up: bool = True,
                side: int = ROOF_SIDE) -> list[float]:
    """GFLOP/s of each of `repeats` side x side matmuls in `precision`: the most this process
    gets from the machine. bfloat16 has its own roof: CPUs with AVX512_BF16
    or AMX multiply it faster than float32, so its rows are compared with it."""
    rng = np.random.default_rng(0)
    dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
    a, b = (tf.cast(rng.standard_normal((side, side), np.float32), dtype) for _ in range(2))
    sample = measure(lambda: tf.linalg.matmul(a, b)[0, 0].numpy(), 1, repeats, warm_up)
    return [2 * side**3 / 1e9 / t for t in sample.times]


def roof_summary(calls: list[float]) -> dict[str, float]:
    """The roof of one precision from all its matmul calls: the best is the peak."""
    return {"side": ROOF_SIDE, "peak_gflops": max(calls), "median_gflops": statistics.median(calls),
            "min_gflops": min(calls), "calls": len(calls)}


def graph_flops(fn: Callable[..., object], *specs: tf.TensorSpec) -> int:
    """Floating-point operations of one call of `fn`, counted by TensorFlow's profiler on the
    traced graph (each op's registered cost: 2 per multiply-add in convolutions and matmuls).

    The graph is first cut down to what its outputs need, as the runtime prunes it: a
    gradient's trace also holds, say, the unused filter gradients of every convolution. Ops
    inside nested functions (tf.cond branches, inner tf.functions) are not counted, so trace
    the plain network rather than a compiled wrapper.
    """
    traced = tf.function(fn).get_concrete_function(*specs).graph
    needed = tf.compat.v1.graph_util.extract_sub_graph(
        traced.as_graph_def(), [t.op.name for t in traced.outputs])
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(needed, name="")
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def machine() -> dict[str, object]:
    """What the figures were measured on: the CPU with its vector units, the GPU, TensorFlow."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor() or platform.machine())
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    return {"cpu": model, "cores": os.cpu_count(), "isa": cpu_features(),
            "avx512_bf16": "avx512_bf16" in cpuinfo, "gpu": ", ".join(gpus) or None,
            "tensorflow": tf.__version__, "python": platform.python_version()}


@contextlib.contextmanager
def quiet_tensorflow_logs():
    """TensorFlow's Python warnings off: building a graph per row is what a bench does, and
    its retracing advice (and the v1 profiler's deprecation notice) would bury the figures."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)
