"""`dreamreel bench`: the quick run CI affords, and the FLOP counter against hand arithmetic.

No speed is asserted: the machine is shared and the figures are for people to compare. The
test checks that every quick pipeline was measured, the roof too, and that the outputs exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, media

QUICK_PIPELINES = {"style", "style-image", "dream", "faces"}


def test_quick_run_writes_json_table_and_chart(tmp_path: Path) -> None:
    clip = media("color/cockatoo_yuv420.mp4")
    painting = media("styles/kandinsky_composition_vii.jpg")
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    result = cli("bench", "--quick", "--offline", "--clip", clip, "--style-image", painting,
                 "--out", out, "--chart", png)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["roof"]["float32"]["peak_gflops"] > 0
    rows = results["rows"]
    measured = {r["pipeline"] for r in rows
                if r["kind"] == "model" and r["tool"] == "dreamreel" and r["fps"] > 0}
    assert measured == QUICK_PIPELINES
    for row in rows:
        if row["kind"] == "model" and row["tool"] == "dreamreel":
            assert row["gflop_per_frame"] > 0 and row["roof_fraction"] > 0, row
    assert any(r["kind"] == "e2e" and r["tool"] == "dreamreel" and r["fps"] > 0 for r in rows)
    assert {r["pipeline"] for r in rows if r["kind"] == "io" and r["mb_per_s"] > 0} == {
        "decode", "colour", "encode"}
    if results["peer"]["installed"]:
        style = next(r for r in rows if r["kind"] == "model" and r["pipeline"] == "style"
                     and r["tool"] == "dreamreel")
        assert style["ratio"] > 0
        e2e = next(r for r in rows if r["kind"] == "e2e" and r["tool"] == "dreamreel")
        assert e2e["frames"] == 10 and e2e["ratio"] is None  # 10 frames: start-up would dominate
        assert "too few frames" in e2e["note"]
    else:
        assert "not installed" in result.stdout
    assert "| model | dreamreel | style | 256x256 |" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("stride", "padding", "out_side"), [(1, "SAME", 32), (2, "VALID", 15)])
def test_conv_flops_match_hand_arithmetic(stride: int, padding: str, out_side: int) -> None:
    """One 3x3 convolution, 8 -> 16 channels, on a 32x32 frame: 2 FLOPs (a multiply and an
    add) per kernel tap per input channel per output value."""
    import tensorflow as tf

    from dreamreel.engine.bench.measure import graph_flops

    kernel = tf.random.normal([3, 3, 8, 16])
    flops = graph_flops(lambda x: tf.nn.conv2d(x, kernel, stride, padding),
                        tf.TensorSpec([1, 32, 32, 8], tf.float32))
    assert flops == 2 * (out_side * out_side * 16) * (3 * 3 * 8)


def test_flop_count_leaves_out_what_the_outputs_do_not_need() -> None:
    """An image gradient through a convolution and a ReLU costs the forward convolution (the
    ReLU's mask needs it) and the backprop to the input; the filter gradient TensorFlow's
    trace also holds is never run, so it must not count."""
    import tensorflow as tf

    from dreamreel.engine.bench.measure import graph_flops

    kernel = tf.random.normal([3, 3, 8, 16])

    def image_gradient(x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME")))
        return tape.gradient(y, x)

    conv = 2 * (32 * 32 * 16) * (3 * 3 * 8)
    flops = graph_flops(image_gradient, tf.TensorSpec([1, 32, 32, 8], tf.float32))
    assert 2 * conv <= flops < 2.1 * conv  # not 3 * conv


def test_a_graph_tf_lite_cannot_convert_loses_its_row_not_the_run(tmp_path: Path) -> None:
    """vintage's transposed convolutions have no TF Lite kernel: its TF row stays and its Lite
    row is named as skipped, instead of the run ending in an error."""
    out = tmp_path / "bench.json"
    result = cli("bench", "--pipelines", "vintage", "--sizes", "64x48", "--batches", "1",
                 "--jit", "off", "--precisions", "float32", "--repeats", "1",
                 "--e2e-seconds", "0", "--offline", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("vintage 64x48 b1 TF Lite: skipped, vintage cannot run on TF Lite (no TF Lite "
            "kernel for Conv2DBackpropInput)") in result.stdout + result.stderr
    rows = [r for r in json.loads(out.read_text())["rows"] if r["kind"] == "model"]
    assert [(r["pipeline"], r["backend"]) for r in rows if r["fps"] > 0] == [("vintage", "tf")]
