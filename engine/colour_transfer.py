"""Local colour statistics, and the transform that gives one image's detail another's colours.

Blending strokes of different colours greys them: each channel keeps some contrast, but the
channels no longer vary together as the painting's do. A gain per channel cannot give that
back; matching the local 3x3 colour covariance can. This is the whitening-colouring transform
of Li et al. 2017 ("Universal Style Transfer via Feature Transforms"), taken per pixel over a
Gaussian window, on RGB. The square roots of the many small covariances are taken in closed
form (trigonometric eigenvalues, then Cayley-Hamilton), about twice as fast as numpy's batched
`eigh` on them or more.

Images are float32 HxWx3, 0..255; covariances and transforms are float64 ... x 3 x 3.
"""

from __future__ import annotations

import cv2
import numpy as np

_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def local_covariance(image: np.ndarray, small: tuple[int, int],
                     sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted local mean (h x w x 3) and colour covariance (h x w x 3 x 3) of
    `image`, at the (w, h) size `small`; `sigma` is in pixels of that size."""

    def local_mean(plane: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(cv2.resize(plane, small, interpolation=cv2.INTER_AREA),
                                (0, 0), sigma)

    mean = local_mean(image)
    planes = cv2.split(image)
    cov = np.empty((*mean.shape[:2], 3, 3), np.float64)
    for i, j in _PAIRS:
        c = local_mean(planes[i] * planes[j]) - mean[..., i] * mean[..., j]
        cov[..., i, j] = cov[..., j, i] = c
    return mean, cov


def colouring(cov_to: np.ndarray, cov_from: np.ndarray) -> np.ndarray:
    """(cov_to + I)^(1/2) (cov_from + I)^(-1/2): the transform that turns detail of covariance
    `cov_from` into detail of covariance `cov_to` (the identity added keeps flat regions from
    dividing by nothing)."""
    num_to, den_to = _square_root(cov_to)
    num_from, den_from = _square_root(cov_from)
    return _inverse(den_to) @ num_to @ _inverse(num_from) @ den_from


def largest_singular_value(m: np.ndarray) -> np.ndarray:
    """The spectral norm of each 3x3 matrix: how much it can stretch a colour."""
    return np.sqrt(np.maximum(_eigenvalues(np.swapaxes(m, -1, -2) @ m)[..., 0], 0.0))


def transform_detail(image: np.ndarray, mean: np.ndarray, m: np.ndarray) -> np.ndarray:
    """mean + m (image - mean) at each pixel, with the smooth `mean` (h x w x 3) and `m`
    (h x w x 3 x 3) resized bilinearly to the image's size. float32 HxWx3."""
    h, w = image.shape[:2]

    def full(plane: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(plane, np.float32), (w, h),
                          interpolation=cv2.INTER_LINEAR)

    means = [full(mean[..., i]) for i in range(3)]
    detail = [plane - means[i] for i, plane in enumerate(cv2.split(image))]
    return cv2.merge([means[i] + sum(full(m[..., i, j]) * detail[j] for j in range(3))
                      for i in range(3)])


def _square_root(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cov + I)^(1/2) as (numerator, denominator), the root being inv(denominator) @
    numerator: with C = cov + I and s the square roots of C's eigenvalues, Cayley-Hamilton gives
    root = (C + e2(s) I)^-1 (e1(s) C + e3(s) I), exact for repeated eigenvalues too."""
    eye = np.eye(3)
    c = cov + eye
    s = np.sqrt(np.maximum(_eigenvalues(c), 1e-6))  # ... x 3; rounding can dip below 0
    e1 = s.sum(-1)[..., None, None]
    e2 = (s[..., 0] * s[..., 1] + s[..., 0] * s[..., 2] + s[..., 1] * s[..., 2])[..., None, None]
    e3 = s.prod(-1)[..., None, None]
    return e1 * c + e3 * eye, c + e2 * eye


def _eigenvalues(sym: np.ndarray) -> np.ndarray:
    """Eigenvalues (... x 3, largest first) of symmetric 3x3 matrices, by the trigonometric
    method (Smith 1961)."""
    q = np.trace(sym, axis1=-2, axis2=-1) / 3.0
    off = sym[..., 0, 1] ** 2 + sym[..., 0, 2] ** 2 + sym[..., 1, 2] ** 2
    diag = np.diagonal(sym, axis1=-2, axis2=-1) - q[..., None]
    p = np.sqrt(((diag ** 2).sum(-1) + 2.0 * off) / 6.0)
    b = (sym - q[..., None, None] * np.eye(3)) / np.maximum(p, 1e-12)[..., None, None]
    phi = np.arccos(np.clip(_determinant(b) / 2.0, -1.0, 1.0)) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    smallest = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    return np.stack([largest, 3.0 * q - largest - smallest, smallest], -1)


def _determinant(m: np.ndarray) -> np.ndarray:
    return (m[..., 0, 0] * (m[..., 1, 1] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 1])
            - m[..., 0, 1] * (m[..., 1, 0] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 0])
            + m[..., 0, 2] * (m[..., 1, 0] * m[..., 2, 1] - m[..., 1, 1] * m[..., 2, 0]))


def _inverse(m: np.ndarray) -> np.ndarray:
    """Inverses of invertible 3x3 matrices, by their adjugates."""
    adjugate = np.empty_like(m)
    for i in range(3):
        for j in range(3):  # adjugate[i, j] is the cofactor of m[j, i]
            r0, r1 = [k for k in range(3) if k != j]
            c0, c1 = [k for k in range(3) if k != i]
            minor = m[..., r0, c0] * m[..., r1, c1] - m[..., r0, c1] * m[..., r1, c0]
            adjugate[..., i, j] = minor if (i + j) % 2 == 0 else -minor
    return adjugate / _determinant(m)[..., None, None]
