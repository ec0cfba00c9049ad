"""Converters: each turns one kind of source file into named float32 arrays (saved as .npz).

Conversion uses explicit rules and says what it dropped, so a reader can check it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dreamreel.errors import WeightsError

Arrays = dict[str, np.ndarray]


def onnx_arrays(path: Path) -> tuple[Arrays, list[str]]:
    """Float initializers of an ONNX file by name; int8 weights dequantized.

    A DequantizeLinear node whose inputs are all constants is folded: its output name maps
    to `(q - zero_point) * scale` (per tensor or per `axis`). The raw int8 tensors and their
    scales are then dropped. Non-float constants (shapes, axes) are dropped too.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts: Arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
    folded: Arrays = {}
    used_by_dq: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in consts for i in node.input if i):
            continue
        q = consts[node.input[0]].astype(np.float32)
        scale = consts[node.input[1]].astype(np.float32)
        zero = (
            consts[node.input[2]].astype(np.float32)
            if len(node.input) > 2 and node.input[2]
            else 0.0
        )
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) else zero
        folded[node.output[0]] = ((q - zero) * scale).astype(np.float32)
        used_by_dq.update(i for i in node.input if i)
    arrays: Arrays = {}
    dropped = []
    for name, value in consts.items():
        if name in used_by_dq:
            continue
        if np.issubdtype(value.dtype, np.floating):
            arrays[name] = value.astype(np.float32)
        else:
            dropped.append(name)
    arrays.update(folded)
    notes = [f"{len(folded)} int8 weight tensors dequantized"] if folded else []
    if dropped:
        notes.append(f"dropped {len(dropped)} non-float constants (shapes, axes, zero points)")
    return arrays, notes


def keras_h5_arrays(path: Path) -> tuple[Arrays, list[str]]:
    """Every dataset of a Keras `.weights.h5` file, keyed by its path inside the file."""
    import h5py

    arrays: Arrays = {}
    try:
        with h5py.File(path, "r") as f:

            def visit(name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    arrays[name] = np.asarray(obj, dtype=np.float32)

            f.visititems(visit)
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable HDF5 weights file ({exc})") from exc
    return arrays, []


# A Keras 3 conv net's weights: one nested model per block (`blockN`), its convolutions
# numbered per class (`conv2d`, `conv2d_1`, ...), kernel at vars/0 and bias at vars/1.
KERAS_CONV = re.compile(r"(?:^|/)(block\d+)/layers/conv2d(?:_(\d+))?/vars/([01])$")
# VGG16's 13 convolutions, in order (blocks of 2, 2, 3, 3, 3).
VGG16_LAYERS = tuple(f"block{block}_conv{conv}"
                     for block, count in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
                     for conv in range(1, count + 1))


def keras_conv_arrays(path: Path) -> tuple[Arrays, list[str]]:
    """A Keras conv net's convolutions renamed `blockN_conv<k>/kernel|bias` (`conv2d` is a
    block's first, `conv2d_1` its second); every other dataset (dense heads, HED's side outputs
    `dsn*`/`fuse`, optimizer state) is dropped and counted."""
    raw, _ = keras_h5_arrays(path)
    arrays: Arrays = {}
    dropped = []
    for name, value in raw.items():
        match = KERAS_CONV.search(name)
        kind = {"0": ("kernel", 4), "1": ("bias", 1)}.get(match.group(3)) if match else None
        if match is None or np.ndim(value) != kind[1]:
            dropped.append(name)
            continue
        block, index, _ = match.groups()
        arrays[f"{block}_conv{int(index or 0) + 1}/{kind[0]}"] = value
    groups = sorted({name.split("/")[0] for name in dropped})
    return arrays, [f"dropped {len(dropped)} arrays besides the convolutions ({', '.join(groups)})"
                    ] if dropped else []


def keras_vgg16_arrays(path: Path) -> tuple[Arrays, list[str]]:
    """VGG16's conv trunk from the HED weights file, every layer checked: dreams and Gram
    losses use the trunk, so the HED side outputs are dropped."""
    arrays, notes = keras_conv_arrays(path)
    expected_in = 3
    for name in VGG16_LAYERS:
        kernel, bias = arrays.get(f"{name}/kernel"), arrays.get(f"{name}/bias")
        if kernel is None or bias is None:
            raise WeightsError(f"{path}: no VGG16 layer {name}")
        out = bias.shape[0]
        if kernel.shape != (3, 3, expected_in, out):
            raise WeightsError(
                f"{path}: {name} has shape {kernel.shape}, expected (3, 3, {expected_in}, {out})")
        expected_in = out
    return arrays, notes


def torch_zip_arrays(path: Path, select: str | None = None) -> tuple[Arrays, list[str]]:
    """A PyTorch zip checkpoint's float tensors, read without torch, keyed by state-dict name."""
    from dreamreel.weights.torch_zip import read_state_dict

    state = read_state_dict(path)
    if select is not None:
        if select not in state:
            raise WeightsError(
                f"{path}: checkpoint has no '{select}' (has {', '.join(map(str, state))})"
            )
        state = state[select]
    arrays: Arrays = {}
    dropped = []
    for key, value in _flatten(state):
        if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
            arrays[key] = value.astype(np.float32)
        else:
            dropped.append(key)
    notes = [f"dropped {len(dropped)} non-float entries (e.g. {dropped[0]})"] if dropped else []
    return arrays, notes


def _flatten(tree: object, prefix: str = ""):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _flatten(value, f"{prefix}{key}" if not prefix else f"{prefix}/{key}")
    else:
        yield prefix, tree


def haar_cascade_arrays(path: Path) -> tuple[Arrays, list[str]]:
    """An OpenCV Haar cascade (the XML format of `opencv_traincascade`, boosted stumps) as
    arrays a detector can evaluate (pipelines/gan/face_detect.py):

      window          [2]        the detection window (height, width)
      stage_threshold [S]        a window passes stage s when its stumps' sum reaches this
      stage_end       [S]        where stage s's stumps end in the stump arrays (cumulative)
      stump_feature   [W]        each stump's feature
      stump_threshold [W]        compared with the feature over the window's standard deviation
      stump_leaves    [W, 2]     the stump's vote below and at or above its threshold
      feature_rects   [F, 3, 5]  up to 3 rectangles (x, y, width, height, weight); unused: 0
    """
    import xml.etree.ElementTree as ElementTree

    try:
        cascade = ElementTree.parse(path).getroot().find("cascade")
    except ElementTree.ParseError as exc:
        raise WeightsError(f"{path}: not an XML file ({exc})") from exc
    if cascade is None or cascade.findtext("featureType", "").strip() != "HAAR":
        raise WeightsError(f"{path}: not an OpenCV Haar cascade (new XML format)")
    window = [float(cascade.findtext(k)) for k in ("height", "width")]
    stage_threshold, stage_end, feature, threshold, leaves = [], [], [], [], []
    for stage in cascade.find("stages"):
        for weak in stage.find("weakClassifiers"):
            nodes = weak.findtext("internalNodes").split()
            if len(nodes) != 4:
                raise WeightsError(f"{path}: only stump cascades are supported (a tree has "
                                   f"{len(nodes) // 4} nodes)")
            feature.append(float(nodes[2]))
            threshold.append(float(nodes[3]))
            leaves.append([float(v) for v in weak.findtext("leafValues").split()])
        stage_threshold.append(float(stage.findtext("stageThreshold")))
        stage_end.append(float(len(feature)))
    rects = np.zeros((len(cascade.find("features")), 3, 5), np.float32)
    for i, feat in enumerate(cascade.find("features")):
        if feat.findtext("tilted", "0").strip() != "0":
            raise WeightsError(f"{path}: tilted Haar features are not supported")
        for j, rect in enumerate(feat.find("rects")):
            rects[i, j] = [float(v) for v in rect.text.split()]
    arrays = {"window": window, "stage_threshold": stage_threshold, "stage_end": stage_end,
              "stump_feature": feature, "stump_threshold": threshold, "stump_leaves": leaves,
              "feature_rects": rects}
    return {k: np.asarray(v, np.float32) for k, v in arrays.items()}, [
        f"{len(stage_end)} stages, {len(feature)} stumps, {len(rects)} features"]


# The TF Lite operators `tflite_arrays` reads, in the order of their codes in its `program`.
TFLITE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "RELU", "HARD_SWISH", "LOGISTIC",
              "AVERAGE_POOL_2D", "RESIZE_BILINEAR", "Convolution2DTransposeBias")
TFLITE_FLOAT16 = 1  # the schema's TensorType code for float16


def tflite_arrays(path: Path) -> tuple[Arrays, list[str]]:
    """A small TF Lite network (MediaPipe's selfie segmentation) as its weights and the list of
    its operations, for pipelines/segment to rebuild as a TensorFlow graph:

      t<N>     the constant tensor N, float16 weights dequantized to float32 (the DEQUANTIZE
               operations are folded away)
      program  [ops, 8] int32: operation code (TFLITE_OPS), three inputs and the output (tensor
               numbers, -1 for none), stride, padding (0 SAME, 1 VALID), fused activation
      io       [2] int32: the input and output tensors

    An operation outside TFLITE_OPS is refused by name rather than guessed at.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(path.read_bytes(), 0))
        graph = model.subgraphs[0]
    except Exception as exc:  # flatbuffers raises whatever a bad offset leads to
        raise WeightsError(f"{path}: not a TF Lite model ({exc})") from exc
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    arrays: Arrays = {}
    for i, tensor in enumerate(graph.tensors):
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is not None and len(data):
            dtype = {0: np.float32, TFLITE_FLOAT16: np.float16, 2: np.int32}[tensor.type]
            arrays[f"t{i}"] = np.frombuffer(bytes(data), dtype).reshape(tensor.shape)
    alias: dict[int, int] = {}  # a DEQUANTIZE's output -> its float16 input
    program = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
        if name == "CUSTOM":
            name = code.customCode.decode()
        ins = [alias.get(int(t), int(t)) for t in op.inputs]
        if name == "DEQUANTIZE":
            alias[int(op.outputs[0])] = ins[0]
            continue
        if name not in TFLITE_OPS:
            raise WeightsError(f"{path}: TF Lite operation {name} is not supported")
        options = op.builtinOptions
        stride, padding = getattr(options, "strideH", 1), getattr(options, "padding", 0)
        if name == "Convolution2DTransposeBias":  # TfLiteTransposeConvParams: padding, strides
            custom = np.frombuffer(bytes(op.customOptions), np.int32)
            stride, padding = int(custom[2]), 0 if custom[0] == 1 else 1
        activation = getattr(options, "fusedActivationFunction", 0)
        program.append([TFLITE_OPS.index(name), *(ins + [-1, -1, -1])[:3], int(op.outputs[0]),
                        stride, padding, activation])
    for i in alias.values():
        arrays[f"t{i}"] = arrays[f"t{i}"].astype(np.float32)
    arrays["program"] = np.asarray(program, np.int32)
    arrays["io"] = np.asarray([graph.inputs[0], graph.outputs[0]], np.int32)
    return arrays, [f"{len(program)} operations, {len(alias)} float16 tensors dequantized"]


def convert(converter: str, path: Path, select: str | None = None) -> tuple[Arrays, list[str]]:
    """Run the named converter on `path`."""
    if converter == "onnx":
        return onnx_arrays(path)
    if converter == "keras_h5":  # a Keras conv net usable by DeepDream
        return keras_conv_arrays(path)
    if converter == "keras_vgg16":
        return keras_vgg16_arrays(path)
    if converter == "torch_zip":
        return torch_zip_arrays(path, select)
    if converter == "haar_cascade":
        return haar_cascade_arrays(path)
    if converter == "tflite":
        return tflite_arrays(path)
    raise WeightsError(f"unknown converter '{converter}'")
