"""The compiled frame graph: uint8 frames in, uint8 frames out, one compile per run.

Everything between the decoded frame at the working size and the encoder's uint8 happens
inside one `tf.function`: uint8 to float, reflect-padding to the effect's stride, the effect,
cropping, the strength blend and rounding to uint8. Shapes are fixed per run (a partial last
batch is padded by the caller), and styles and strengths are graph inputs, so the graph
compiles exactly once. Resizing to and from the working size happens outside, with OpenCV
(engine.processing.Resize): faster than in the graph, and the same for every backend.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from dreamreel.errors import SettingsError
from dreamreel.pipelines.base import Effect


@dataclass
class FrameGraph:
    """One effect compiled for one frame shape: call it with a uint8 batch and controls."""

    effect: Effect
    batch: int
    height: int
    width: int
    jit: bool = False
    device: str = "/CPU:0"

    def __post_init__(self) -> None:
        stride = self.effect.stride
        self._pad_h = math.ceil(self.height / stride) * stride - self.height
        self._pad_w = math.ceil(self.width / stride) * stride - self.width
        names = sorted(self.effect.controls())
        signature = [tf.TensorSpec([self.batch, self.height, self.width, 3], tf.uint8)] + [
            tf.TensorSpec(np.shape(self.effect.controls()[n]), tf.float32) for n in names
        ]
        self._names = names
        self._fn = tf.function(self._graph, input_signature=signature, jit_compile=self.jit)

    def _graph(self, frames: tf.Tensor, *control_values: tf.Tensor) -> tf.Tensor:
        controls = dict(zip(self._names, control_values, strict=True))
        source = tf.cast(frames, tf.float32) / 255.0  # [N, H, W, 3]
        x = source
        if self._pad_h or self._pad_w:
            # Reflect, never stretch: the network sees real image content at the borders.
            x = tf.pad(x, [[0, 0], [0, self._pad_h], [0, self._pad_w], [0, 0]], mode="REFLECT")
        y = self.effect(x, controls)
        y = y[:, : self.height, : self.width, :]
        if not self.effect.handles_strength and "strength" in controls:
            y = source + controls["strength"] * (y - source)
        return tf.cast(tf.round(tf.clip_by_value(y, 0.0, 1.0) * 255.0), tf.uint8)

    def __call__(self, frames: np.ndarray, controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """frames: [batch, H, W, 3] uint8 -> the same shape, stylized."""
        values = {**self.effect.controls(), **(controls or {})}
        with tf.device(self.device):
            out = self._fn(frames, *(np.asarray(values[n], np.float32) for n in self._names))
        return out.numpy()


class LiteGraph:
    """A FrameGraph converted to TensorFlow Lite and run by its XNNPACK CPU kernels.

    The same traced function, so the same result (within a level of 255); on CPUs where
    TensorFlow runs its generic Eigen kernels (oneDNN is off by default except on CPUs with
    VNNI, BF16 or AMX) XNNPACK's vectorised kernels measured 1.3-2.5x as fast for the style
    network (benchmarks/RESULTS.md, "Speed on every CPU"). The tuner chooses between the two on each machine.
    """

    def __init__(self, graph: FrameGraph, threads: int | None = None) -> None:
        self.graph = graph
        self.batch, self.height, self.width = graph.batch, graph.height, graph.width
        function = graph._fn
        concrete = function.get_concrete_function()
        if _switches(concrete.graph.as_graph_def()):
            raise SettingsError(f"{graph.effect.name} cannot run on TF Lite (its switch between "
                                "branches does not convert); use --backend tf")
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], function)
        with quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            try:
                model = converter.convert()
            except Exception as err:  # the converter's own error types vary by version
                ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither", str(err))))
                why = f"no TF Lite kernel for {', '.join(ops)}" if ops else type(err).__name__
                raise SettingsError(f"{graph.effect.name} cannot run on TF Lite ({why}); "
                                    "use --backend tf") from None
            self._lite = tf.lite.Interpreter(model_content=model,
                                             num_threads=threads or os.cpu_count())
            self._lite.allocate_tensors()
        inputs = {d["name"]: d["index"] for d in self._lite.get_input_details()}
        self._frames = inputs["frames"]
        # tf.function names the varargs control_values_0.. in FrameGraph's sorted order
        self._controls = [(name, inputs[f"control_values_{i}"])
                          for i, name in enumerate(graph._names)]
        self._output = self._lite.get_output_details()[0]["index"]

    def __call__(self, frames: np.ndarray, controls: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """frames: [batch, H, W, 3] uint8 -> the same shape, stylized."""
        values = {**self.graph.effect.controls(), **(controls or {})}
        self._lite.set_tensor(self._frames, np.ascontiguousarray(frames))
        for name, index in self._controls:
            self._lite.set_tensor(index, np.asarray(values[name], np.float32))
        self._lite.invoke()
        return self._lite.get_tensor(self._output)


def _switches(graph_def: tf.compat.v1.GraphDef) -> bool:
    """Whether the graph switches between branches (`tf.switch_case`), at any depth. The
    converter cannot functionalize that, and its failed attempts are not safe to repeat in a
    process: a few in a row end in a segmentation fault inside the converter."""
    nodes = [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]
    return any(node.op in ("Case", "StatelessCase") for node in nodes)


@contextlib.contextmanager
def quiet_stderr():
    """TF Lite's C++ start-up lines ("Created TensorFlow Lite XNNPACK delegate") go to the
    process's stderr, past Python; a user's terminal keeps only dreamreel's own lines."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
