"""Numerical parity of the TensorFlow style networks with onnxruntime on the original ONNX files.

* multistyle26 (Dumoulin et al. 2017): float32 ONNX, compared directly.
* Magenta predictor / transformer (Ghiasi et al. 2017): the ONNX files quantize weights *and*
  activations. The TF rebuilds are float, so they are compared with a float reference: the same
  ONNX graph with every activation QuantizeLinear -> DequantizeLinear pair removed (weights still
  dequantized), built by :func:`strip_activation_qdq`. The distance to the original int8 graph is
  printed and held to a loose bound.

Real photos come from ``shared/media/content`` next to the repository; the tests skip without it.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
tf = pytest.importorskip("tensorflow")
from conftest import MEDIA  # noqa: E402

from dreamreel.pipelines.style import magenta, multistyle  # noqa: E402
from dreamreel.pipelines.style.layout import NUM_STYLES  # noqa: E402
from dreamreel.weights import get, load, source_path  # noqa: E402

CONTENT = MEDIA / "content"
PHOTOS = ("astronaut.png", "chelsea_cat.png", "coffee.png")
TOL = 2e-3  # max abs difference on 0..1 images and on the bottleneck

pytestmark = pytest.mark.skipif(
    not all((CONTENT / name).is_file() for name in PHOTOS),
    reason=f"test photos not found under {CONTENT} (shared media checkout missing)",
)


# ------------------------------------------------------------------------------------------------
# helpers


def photo(name: str, height: int, width: int) -> np.ndarray:
    """A test photo as float32 [H, W, 3] RGB in 0..1, resized (area) to height x width."""
    bgr = cv2.imread(str(CONTENT / name), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {CONTENT / name}"
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32) / 255.0


def onnx_path(network: str) -> str:
    load(network)  # fetch + convert once, so that the source file is there
    return str(source_path(get(network)))


def session(model: onnx.ModelProto | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3  # errors only
    data = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def strip_activation_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove the activation QuantizeLinear/DequantizeLinear nodes, keep weight dequantization.

    A Q or DQ node whose data input is not a constant (initializer or Constant output) acts on an
    activation: it is dropped and every consumer of its output reads its input instead. Q -> DQ
    pairs are sometimes separated by a Reshape or Transpose on the int8 tensor; those then simply
    run on float. A graph output produced by a dropped DQ gets an Identity node.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())  # deep copy
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}

    rename: dict[str, str] = {}  # dropped node output -> its data input
    kept = []
    for node in graph.node:
        is_qdq = node.op_type in ("QuantizeLinear", "DequantizeLinear")
        if is_qdq and node.input[0] not in constants:
            rename[node.output[0]] = node.input[0]
        else:
            kept.append(node)

    def resolve(name: str) -> str:
        while name in rename:
            name = rename[name]
        return name

    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = resolve(name)
    for out in graph.output:
        if out.name in rename:
            kept.append(onnx.helper.make_node("Identity", [resolve(out.name)], [out.name]))
    del graph.node[:]
    graph.node.extend(kept)
    del graph.value_info[:]  # int8 annotations no longer hold
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:  # the activations' scales and zero points
        graph.initializer.remove(init)
    assert not any(
        n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in constants
        for n in graph.node
    )
    return model


def free_spatial_dims(model: onnx.ModelProto, input_name: str) -> onnx.ModelProto:
    """Make an NHWC input's H and W symbolic so that the graph can run at other sizes."""
    for inp in model.graph.input:
        if inp.name == input_name:
            dims = inp.type.tensor_type.shape.dim
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value > 1:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    return model


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# ------------------------------------------------------------------------------------------------
# multistyle26


@pytest.fixture(scope="module")
def multistyle_pair():
    return multistyle.MultiStyleNet(load("multistyle26")), session(onnx_path("multistyle26"))


def run_multistyle_onnx(sess, image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[H, W, 3] + [26] -> [H, W, 3] through the ONNX file (NCHW inside)."""
    out = sess.run(None, {"image": image.transpose(2, 0, 1)[None], "style_weights": weights})[0]
    return out[0].transpose(1, 2, 0)


def one_hot(style: int) -> np.ndarray:
    weights = np.zeros(NUM_STYLES, np.float32)
    weights[style] = 1.0
    return weights


@pytest.mark.parametrize(
    ("name", "size", "style"),
    [
        ("astronaut.png", (256, 256), 0),
        ("chelsea_cat.png", (224, 336), 7),
        ("coffee.png", (200, 300), 19),
    ],
)
def test_multistyle_single_style(multistyle_pair, name, size, style):
    net, sess = multistyle_pair
    image = photo(name, *size)
    weights = one_hot(style)
    ref = run_multistyle_onnx(sess, image, weights)
    out = net(image[None], weights).numpy()[0]  # style_weights as [26]
    diff = max_diff(out, ref)
    print(f"multistyle26 {name} {size} style {style}: max abs diff {diff:.2e}")
    assert out.shape == (*size, 3)
    assert diff < TOL


def test_multistyle_blend_per_image(multistyle_pair):
    """[N, 26] style weights: a different blend for each image of the batch."""
    net, sess = multistyle_pair
    images = np.stack([photo("astronaut.png", 192, 256), photo("coffee.png", 192, 256)])
    blends = np.zeros((2, NUM_STYLES), np.float32)
    blends[0, [3, 17]] = 0.5
    blends[1, [1, 9, 22]] = (0.2, 0.3, 0.5)
    out = net(images, blends).numpy()
    for i in range(2):
        diff = max_diff(out[i], run_multistyle_onnx(sess, images[i], blends[i]))
        print(f"multistyle26 blend {i}: max abs diff {diff:.2e}")
        assert diff < TOL


def test_multistyle_compiled_and_bfloat16(multistyle_pair):
    """Works inside tf.function(jit_compile=True); bfloat16 convs stay close to float32."""
    net, _ = multistyle_pair
    image = tf.constant(photo("chelsea_cat.png", 96, 128)[None])
    weights = tf.constant(one_hot(5))
    eager = net(image, weights).numpy()
    compiled = tf.function(net, jit_compile=True)(image, weights).numpy()
    diff = max_diff(compiled, eager)
    print(f"multistyle26 XLA vs eager: max abs diff {diff:.2e}")
    assert diff < TOL
    with pytest.raises(ValueError, match="multiples of 4"):
        net(tf.zeros([1, 30, 32, 3]), weights)

    bf16 = multistyle.MultiStyleNet(load("multistyle26"), dtype=tf.bfloat16)(image, weights).numpy()
    mean, worst = float(np.mean(np.abs(bf16 - eager))), max_diff(bf16, eager)
    print(f"multistyle26 bfloat16 vs float32: mean {mean:.2e} max {worst:.2e}")
    assert mean < 0.01 and worst < 0.15


def test_multistyle_trainable_matches_and_learns(multistyle_pair):
    """The trainable network paints as the ONNX file does and passes a gradient to every
    kernel; one step on a loss moves its output (what pipelines/style/steady.py relies on)."""
    _, sess = multistyle_pair
    net = multistyle.MultiStyleNet(load("multistyle26"), trainable=True)
    assert len(net.trainable_variables) == 18  # 3 down, 12 in the residual blocks, 3 up
    image = photo("coffee.png", 96, 128)
    weights = one_hot(19)
    before = net(image[None], weights)
    assert max_diff(before.numpy()[0], run_multistyle_onnx(sess, image, weights)) < TOL
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(net(image[None], weights) - 0.5))
    grads = tape.gradient(loss, net.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    tf.keras.optimizers.SGD(1.0).apply_gradients(zip(grads, net.trainable_variables, strict=True))
    after = net(image[None], weights).numpy()
    assert float(np.mean(np.square(after - 0.5))) < float(loss)
    with pytest.raises(ValueError, match="float32"):
        multistyle.MultiStyleNet(load("multistyle26"), dtype=tf.bfloat16, trainable=True)


# ------------------------------------------------------------------------------------------------
# Magenta arbitrary style


@pytest.fixture(scope="module")
def predict_models():
    original = onnx.load(onnx_path("magenta_predict"))
    return session(strip_activation_qdq(original)), session(onnx_path("magenta_predict"))


@pytest.fixture(scope="module")
def transform_models():
    original = onnx.load(onnx_path("magenta_transform"))
    float_graph = strip_activation_qdq(original)
    dynamic = free_spatial_dims(strip_activation_qdq(original), "content_image")
    return session(float_graph), session(onnx_path("magenta_transform")), session(dynamic)


@pytest.fixture(scope="module")
def predictor():
    return magenta.StylePredictor(load("magenta_predict"))


@pytest.fixture(scope="module")
def transformer():
    return magenta.StyleTransformer(load("magenta_transform"))


def run_predict_onnx(sess, image: np.ndarray) -> np.ndarray:
    """[256, 256, 3] -> [100]."""
    return sess.run(None, {"style_image": image[None]})[0].reshape(-1)


def run_transform_onnx(sess, content: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
    """[H, W, 3] + [100] -> [H, W, 3]."""
    feeds = {
        "content_image": content[None],
        "mobilenet_conv/Conv/BiasAdd": bottleneck.reshape(1, 1, 1, magenta.BOTTLENECK),
    }
    return sess.run(None, feeds)[0][0]


def test_magenta_predictor_parity(predictor, predict_models):
    float_sess, int8_sess = predict_models
    styles = np.stack([photo(name, 256, 256) for name in PHOTOS])  # [3, 256, 256, 3]
    out = predictor(styles).numpy()  # batched: [3, 100]
    assert out.shape == (3, magenta.BOTTLENECK)
    for name, style, got in zip(PHOTOS, styles, out, strict=True):
        ref = run_predict_onnx(float_sess, style)
        quant = run_predict_onnx(int8_sess, style)
        diff, diff_q = max_diff(got, ref), max_diff(got, quant)
        print(f"predictor {name}: vs float ref {diff:.2e}; vs int8 graph max {diff_q:.3f} "
              f"mean {np.mean(np.abs(got - quant)):.4f} (bottleneck range "
              f"{ref.min():.2f}..{ref.max():.2f})")  # fmt: skip
        assert diff < TOL
        assert diff_q < 0.5
    # Fully convolutional trunk + global average pool: other sizes work too.
    other = predictor(photo("coffee.png", 224, 320)[None]).numpy()
    assert other.shape == (1, magenta.BOTTLENECK) and np.all(np.isfinite(other))


def test_magenta_transformer_parity(transformer, predict_models, transform_models):
    float_sess, int8_sess, _ = transform_models
    bottleneck = run_predict_onnx(predict_models[0], photo("coffee.png", 256, 256))
    content = photo("astronaut.png", 384, 384)
    ref = run_transform_onnx(float_sess, content, bottleneck)
    quant = run_transform_onnx(int8_sess, content, bottleneck)
    out = transformer(content[None], bottleneck[None]).numpy()[0]
    diff, diff_q = max_diff(out, ref), max_diff(out, quant)
    print(f"transformer 384x384: vs float ref {diff:.2e}; vs int8 graph max {diff_q:.3f} "
          f"mean {np.mean(np.abs(out - quant)):.4f}")  # fmt: skip
    assert diff < TOL
    assert diff_q < 0.5


def test_magenta_transformer_any_size(transformer, predictor, transform_models):
    """Not tied to the export's 384x384: 240x320, checked against the float reference too."""
    _, _, dynamic_sess = transform_models
    bottleneck = predictor(photo("astronaut.png", 256, 256)[None]).numpy()  # [1, 100]
    content = photo("chelsea_cat.png", 240, 320)
    out = transformer(content[None], bottleneck).numpy()[0]
    assert out.shape == (240, 320, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 0.05  # a picture, not a flat field
    assert np.abs(out - content).mean() > 0.02  # and a restyled one
    ref = run_transform_onnx(dynamic_sess, content, bottleneck[0])
    diff = max_diff(out, ref)
    print(f"transformer 240x320: vs float ref (symbolic H, W) {diff:.2e}; std {out.std():.3f}")
    assert diff < TOL
    with pytest.raises(ValueError, match="multiples of 4"):
        transformer(tf.zeros([1, 242, 320, 3]), bottleneck)


def test_magenta_compiled_and_bfloat16(predictor, transformer):
    """Both Magenta rebuilds run inside tf.function(jit_compile=True); bfloat16 stays close."""
    style = tf.constant(photo("coffee.png", 128, 128)[None])
    content = tf.constant(photo("astronaut.png", 96, 128)[None])
    bottleneck = predictor(style)
    eager = transformer(content, bottleneck).numpy()
    compiled_b = tf.function(predictor, jit_compile=True)(style)
    compiled = tf.function(transformer, jit_compile=True)(content, bottleneck).numpy()
    diff_b, diff = max_diff(compiled_b, bottleneck), max_diff(compiled, eager)
    print(f"magenta XLA vs eager: bottleneck {diff_b:.2e}, image {diff:.2e}")
    assert diff_b < TOL and diff < TOL

    bf16 = magenta.StyleTransformer(load("magenta_transform"), dtype=tf.bfloat16)(content, bottleneck).numpy()
    bf16_b = magenta.StylePredictor(load("magenta_predict"), dtype=tf.bfloat16)(style).numpy()
    mean = float(np.mean(np.abs(bf16 - eager)))
    print(f"magenta bfloat16 vs float32: image mean {mean:.2e} max {max_diff(bf16, eager):.2e}, "
          f"bottleneck max {max_diff(bf16_b, bottleneck):.2e}")  # fmt: skip
    assert mean < 0.01 and max_diff(bf16, eager) < 0.15
    assert max_diff(bf16_b, bottleneck) < 0.25
