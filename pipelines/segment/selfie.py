"""MediaPipe's selfie segmentation network, rebuilt as a TensorFlow graph from its TF Lite
weights (weights/convert.py `tflite_arrays`).

The TF Lite file needs MediaPipe's own transpose-convolution operator, which TensorFlow's
interpreter lacks, so each of its ten operation kinds is written here as the TensorFlow
operation it stands for, in the file's order. On a CPU that graph is converted back to TF Lite
with standard operators and run by XNNPACK: 7 ms a frame against 23 ms for TensorFlow's own
kernels and 125 ms under XLA on 2 Xeon cores (benchmarks/mask_rate.py); on a GPU TensorFlow
runs it.
"""

from __future__ import annotations

import hashlib
import os
import warnings

import numpy as np
import tensorflow as tf

from dreamreel.weights.convert import TFLITE_OPS

SIDE = 256  # the network's input: 256x256 RGB in [0, 1]
ACTIVATIONS = {0: tf.identity, 1: tf.nn.relu, 3: tf.nn.relu6}  # the schema's fused activations
_CONVERTED: dict[str, bytes] = {}  # TF Lite models by their weights' hash: convert once a process


class Selfie:
    """Frames in, the probability that each pixel shows a person out, at SIDE x SIDE."""

    def __init__(self, arrays: dict[str, np.ndarray], backend: str = "lite",
                 jit: bool = False) -> None:
        """backend: "lite" (XNNPACK, one frame a call) or "tf" (`jit`: under XLA)."""
        self.consts = {int(k[1:]): tf.constant(v) for k, v in arrays.items() if k[0] == "t"}
        self.program = arrays["program"].tolist()
        self.source, self.result = (int(v) for v in arrays["io"])
        batch = 1 if backend == "lite" else None
        self.run = tf.function(self._graph, jit_compile=jit,
                               input_signature=[tf.TensorSpec([batch, SIDE, SIDE, 3], tf.float32)])
        self.lite = self._lite(arrays) if backend == "lite" else None

    def _lite(self, arrays: dict[str, np.ndarray]) -> tf.lite.Interpreter:
        """The converter (MLIR) takes seconds and holds process-wide state, so each set of
        weights is converted once and every further mask reuses the model."""
        digest = hashlib.sha256()
        for name in sorted(arrays):
            digest.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
        key = digest.hexdigest()
        if key not in _CONVERTED:
            _CONVERTED[key] = tf.lite.TFLiteConverter.from_concrete_functions(
                [self.run.get_concrete_function()], self.run).convert()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            lite = tf.lite.Interpreter(model_content=_CONVERTED[key], num_threads=os.cpu_count())
        lite.allocate_tensors()
        self.ports = (lite.get_input_details()[0]["index"], lite.get_output_details()[0]["index"])
        return lite

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """[n, SIDE, SIDE, 3] float32 in [0, 1] -> [n, SIDE, SIDE] float32 in [0, 1]."""
        if self.lite is None:
            return self.run(tf.constant(images, tf.float32)).numpy()[..., 0]
        masks = []
        for image in images:
            self.lite.set_tensor(self.ports[0], np.ascontiguousarray(image[None], np.float32))
            self.lite.invoke()
            masks.append(self.lite.get_tensor(self.ports[1])[0, ..., 0])
        return np.stack(masks)

    def _graph(self, images: tf.Tensor) -> tf.Tensor:
        values = {self.source: images}

        def get(i: int) -> tf.Tensor:
            return values[i] if i in values else self.consts[i]

        for code, a, b, c, out, stride, padding, act in self.program:
            values[out] = ACTIVATIONS[act](self._op(TFLITE_OPS[code], get, a, b, c, stride,
                                                    "SAME" if padding == 0 else "VALID"))
        return values[self.result]

    def _op(self, name: str, get, a: int, b: int, c: int, stride: int, padding: str) -> tf.Tensor:
        x = get(a)
        if name == "CONV_2D":  # kernel [out, h, w, in]
            kernel = tf.transpose(get(b), [1, 2, 3, 0])
            return tf.nn.conv2d(x, kernel, stride, padding) + get(c)
        if name == "DEPTHWISE_CONV_2D":  # kernel [1, h, w, channels]
            kernel = tf.transpose(get(b), [1, 2, 3, 0])
            return tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], padding) + get(c)
        if name == "Convolution2DTransposeBias":  # kernel [out, h, w, in]
            kernel = tf.transpose(get(b), [1, 2, 0, 3])
            shape = tf.shape(x)
            size = [shape[0], shape[1] * stride, shape[2] * stride, kernel.shape[2]]
            return tf.nn.conv2d_transpose(x, kernel, size, stride, padding) + get(c)
        if name == "ADD":
            return x + get(b)
        if name == "MUL":
            return x * get(b)
        if name == "RELU":
            return tf.nn.relu(x)
        if name == "HARD_SWISH":
            return x * tf.nn.relu6(x + 3.0) / 6.0
        if name == "LOGISTIC":
            return tf.sigmoid(x)
        if name == "AVERAGE_POOL_2D":  # only the global pooling this network uses
            return tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        if name == "RESIZE_BILINEAR":  # half-pixel centres, as the file asks
            return tf.image.resize(x, tf.unstack(get(b)), method="bilinear")
        raise ValueError(f"no TensorFlow form for {name}")
