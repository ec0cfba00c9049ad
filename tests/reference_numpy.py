"""Plain-NumPy reference forward passes for the two GAN generators (no torch, no TensorFlow).

Everything here follows PyTorch's own definitions literally, in PyTorch's layouts:

- activations NCHW, ``Conv2d`` weights OIHW, ``ConvTranspose2d`` weights IOHW;
- ``Conv2d`` is cross-correlation (no kernel flip), computed through im2col;
- ``ConvTranspose2d`` is the scatter-add definition: input pixel (i, j) adds ``x[c, i, j] *
  w[c, o, kh, kw]`` to full-output pixel (i*stride + kh, j*stride + kw); the full output is
  then cropped by ``padding`` at the start and extended by ``output_padding`` at the end;
- ``BatchNorm2d`` in eval mode: ``(x - running_mean) / sqrt(running_var + eps) * gamma + beta``;
- ``InstanceNorm2d``: per sample and channel over H, W, biased variance, eps 1e-5;
- ``ReflectionPad2d``: mirror without repeating the edge pixel.

The maths runs in float64 so that the reference itself adds no measurable rounding error.
It is written independently of ``dreamreel.pipelines.gan`` (which is what it checks), and it
hard-codes the layouts documented in /work/shared/docs/weights-sources.md.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-5


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def reflection_pad(x: np.ndarray, p: int) -> np.ndarray:
    """ReflectionPad2d(p) on NCHW: index -k maps to k, index H-1+k maps to H-1-k."""
    n, c, h, w = x.shape
    if p >= h or p >= w:
        raise ValueError(f"reflection pad {p} needs H, W > {p}, got {h}x{w}")

    def index(size: int) -> np.ndarray:
        i = np.arange(-p, size + p)
        i = np.abs(i)  # left side: -k -> k
        return np.where(i > size - 1, 2 * (size - 1) - i, i)  # right side

    return x[:, :, index(h)[:, None], index(w)[None, :]]


def conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """torch.nn.functional.conv2d (zero padding), x NCHW, w OIHW, via im2col + one matmul."""
    x, w = _f64(x), _f64(w)
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    assert ci == c, (w.shape, x.shape)
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    hp, wp = x.shape[2], x.shape[3]
    oh = (hp - kh) // stride + 1
    ow = (wp - kw) // stride + 1
    # cols[n, c, i, j, y, x] = x[n, c, y*stride + i, x*stride + j]
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[
                :, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride
            ]
    cols = cols.reshape(n, c * kh * kw, oh * ow)  # [N, C*KH*KW, OH*OW]
    out = np.matmul(w.reshape(o, c * kh * kw), cols)  # [N, O, OH*OW]
    out = out.reshape(n, o, oh, ow)
    if b is not None:
        out += _f64(b)[None, :, None, None]
    return out


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> np.ndarray:
    """torch.nn.functional.conv_transpose2d, x NCHW, w IOHW, by the scatter-add definition."""
    x, w = _f64(x), _f64(w)
    n, c, h, wd = x.shape
    ci, o, kh, kw = w.shape
    assert ci == c, (w.shape, x.shape)
    full_h = (h - 1) * stride + kh
    full_w = (wd - 1) * stride + kw
    full = np.zeros((n, o, full_h + output_padding, full_w + output_padding), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            # every input pixel (y, x) contributes to full-output pixel (y*s + i, x*s + j)
            contrib = np.einsum("ncyx,co->noyx", x, w[:, :, i, j], optimize=True)
            full[
                :, :, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (wd - 1) + 1 : stride
            ] += contrib
    out_h = (h - 1) * stride - 2 * padding + kh + output_padding
    out_w = (wd - 1) * stride - 2 * padding + kw + output_padding
    out = full[:, :, padding : padding + out_h, padding : padding + out_w].copy()
    if b is not None:
        out += _f64(b)[None, :, None, None]
    return out


def batch_norm_eval(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> np.ndarray:
    """BatchNorm2d in eval mode, eps 1e-5."""
    sh = (1, -1, 1, 1)
    return (x - _f64(mean).reshape(sh)) / np.sqrt(_f64(var).reshape(sh) + EPS) * _f64(
        gamma
    ).reshape(sh) + _f64(beta).reshape(sh)


def instance_norm(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None) -> np.ndarray:
    """InstanceNorm2d (no running stats): per (n, c) over H, W, biased variance, eps 1e-5."""
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(2, 3), keepdims=True)  # biased (divide by H*W)
    y = (x - mean) / np.sqrt(var + EPS)
    if gamma is not None:
        y = y * _f64(gamma).reshape(1, -1, 1, 1) + _f64(beta).reshape(1, -1, 1, 1)
    return y


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def dcgan_forward(arrays: dict[str, np.ndarray], z_nchw: np.ndarray) -> np.ndarray:
    """DCGAN generator (gan-face-generate ``netG``): z [N,100,1,1] -> image [N,3,64,64] in -1..1.

    main.0 ConvT(100,512,4,1,0) main.1 BN main.2 ReLU, then (ConvT(4,2,1), BN, ReLU) x3 at
    main.3/6/9 (BN at 4/7/10), main.12 ConvT(64,3,4,2,1), main.13 tanh. No conv biases.
    """
    a = arrays
    x = _f64(z_nchw)
    if x.ndim == 2:
        x = x[:, :, None, None]
    x = conv_transpose2d(x, a["main.0.weight"], None, stride=1, padding=0)
    for conv, bn in ((0, 1), (3, 4), (6, 7), (9, 10)):
        if conv:
            x = conv_transpose2d(x, a[f"main.{conv}.weight"], None, stride=2, padding=1)
        x = batch_norm_eval(
            x,
            a[f"main.{bn}.weight"],
            a[f"main.{bn}.bias"],
            a[f"main.{bn}.running_mean"],
            a[f"main.{bn}.running_var"],
        )
        x = relu(x)
    x = conv_transpose2d(x, a["main.12.weight"], None, stride=2, padding=1)
    return np.tanh(x)


def cyclegan_forward(arrays: dict[str, np.ndarray], x_nchw: np.ndarray) -> np.ndarray:
    """CycleGAN ResNet generator: x [N,3,H,W] in -1..1 -> [N,3,H,W] in -1..1 (tanh).

    Layout (junyanz/pytorch-CycleGAN-and-pix2pix ``ResnetGenerator``, n_downsampling 2):
    model.0 ReflectionPad(3), model.1 Conv 7x7, model.2 IN, ReLU; model.4 / model.7 Conv 3x3
    stride 2 padding 1 (+ IN at 5 / 8, ReLU); model.10 .. model.(10+B-1) residual blocks
    (block.0 ReflectionPad(1), block.1 conv, block.2 IN, ReLU, block.4 ReflectionPad(1),
    block.5 conv, block.6 IN; out = x + block(x)); then ConvT 3x3 stride 2 padding 1
    output_padding 1 at 10+B and 13+B (IN at 11+B / 14+B, ReLU), ReflectionPad(3),
    Conv 7x7 at 17+B, tanh.
    """
    a = arrays

    def p(key: str) -> np.ndarray | None:
        return a.get(key)

    def inorm(x: np.ndarray, idx: str) -> np.ndarray:
        return instance_norm(x, p(f"{idx}.weight"), p(f"{idx}.bias"))

    n_blocks = 0
    while f"model.{10 + n_blocks}.block.1.weight" in a:
        n_blocks += 1
    x = _f64(x_nchw)
    x = conv2d(reflection_pad(x, 3), a["model.1.weight"], p("model.1.bias"))
    x = relu(inorm(x, "model.2"))
    for conv, norm in ((4, 5), (7, 8)):
        x = conv2d(x, a[f"model.{conv}.weight"], p(f"model.{conv}.bias"), stride=2, padding=1)
        x = relu(inorm(x, f"model.{norm}"))
    for k in range(10, 10 + n_blocks):
        pre = f"model.{k}.block"
        y = conv2d(reflection_pad(x, 1), a[f"{pre}.1.weight"], p(f"{pre}.1.bias"))
        y = relu(inorm(y, f"{pre}.2"))
        y = conv2d(reflection_pad(y, 1), a[f"{pre}.5.weight"], p(f"{pre}.5.bias"))
        y = inorm(y, f"{pre}.6")
        x = x + y
    up = 10 + n_blocks
    for conv, norm in ((up, up + 1), (up + 3, up + 4)):
        x = conv_transpose2d(
            x,
            a[f"model.{conv}.weight"],
            p(f"model.{conv}.bias"),
            stride=2,
            padding=1,
            output_padding=1,
        )
        x = relu(inorm(x, f"model.{norm}"))
    last = up + 7
    x = conv2d(reflection_pad(x, 3), a[f"model.{last}.weight"], p(f"model.{last}.bias"))
    return np.tanh(x)
