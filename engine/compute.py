"""Where and how graphs run: device, XLA, compute type and the working size.

`auto` settings are decided here, per pipeline and machine, so that no default is chosen on
one CPU's evidence: bfloat16 only where the hardware computes it natively, XLA on a GPU.
"""

from __future__ import annotations

import functools
from pathlib import Path

import tensorflow as tf

JIT_CHOICES = ("auto", "on", "off")
PRECISION_CHOICES = ("auto", "float32", "bfloat16")


def working_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """The size the network sees: the input's, or scaled so its short side is `short_side`."""
    if not short_side or short_side >= min(height, width):
        return height, width
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def default_device() -> str:
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_features() -> str:
    """The CPU's vector units as every figure names them, e.g. "AVX2" or "AVX-512+VNNI+BF16",
    and whether TensorFlow runs its oneDNN kernels (it does by default only on CPUs with VNNI,
    BF16 or AMX; elsewhere its Eigen kernels)."""
    flags = cpu_flags()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    extras = [name for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"),
                                      ("amx_tile", "AMX")) if flag in flags]
    return "+".join([isa, *extras]) + ("; oneDNN on" if onednn_enabled() else "; oneDNN off")


def onednn_enabled() -> bool:
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def resolve_jit(jit: str, device: str) -> bool:
    """`auto`: XLA on a GPU, where it fuses norms and elementwise work; TF's own kernels on
    the CPU, where XLA measured slower (benchmarks/RESULTS.md)."""
    if jit not in JIT_CHOICES:
        raise ValueError(f"--jit must be one of {JIT_CHOICES}, not '{jit}'")
    return jit == "on" or (jit == "auto" and "GPU" in device.upper())


def resolve_precision(precision: str, pipelines: set[str], device: str,
                      native: tuple[str, ...] = ("float32", "bfloat16")) -> str:
    """`auto`: bfloat16 where the hardware computes it natively, float32 elsewhere.

    On a CPU with AVX512_BF16/AMX bfloat16 runs the style network about 20% faster (output
    within 1e-2) and the dream and film gradients 2-3.5x faster; without them TensorFlow
    emulates it and the gradients run 3x slower than float32 (benchmarks/RESULTS.md). On a
    GPU the gradient-based pipelines take bfloat16. `native`: the precisions every one of
    `pipelines` supports (a GAN stage: float32 only).
    """
    if precision != "auto":
        return precision
    if "bfloat16" not in native:
        return "float32"
    if "GPU" in device.upper():
        return "bfloat16" if pipelines & {"dream", "gatys"} else "float32"
    return "bfloat16" if cpu_has_bf16() else "float32"
