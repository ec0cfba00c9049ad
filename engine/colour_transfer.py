"""Local colour statistics, and the transform that gives one image's detail another's colours.

Blending strokes of different colours greys them: each channel keeps some contrast, but the
channels no longer vary together as the painting's do. A gain per channel cannot give that
back; matching the local 3x3 colour covariance can. This is the whitening-colouring transform
of Li et al. 2017 ("Universal Style Transfer via Feature Transforms"), taken per pixel over a
Gaussian window, on RGB. The square roots of the many small covariances are taken in closed
form (trigonometric eigenvalues, then Cayley-Hamilton), on whole planes at a time: several
times faster than numpy's batched `eigh` and `matmul` on small matrices.

Images are float32 HxWx3, 0..255. A field of 3x3 matrices is a float64 3 x 3 x h x w array:
m[i, j] is the plane of the matrices' (i, j) entries.
"""

from __future__ import annotations

import cv2
import numpy as np

_IDENTITY = np.eye(3)[:, :, None, None]


def local_mean(image: np.ndarray, small: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-weighted local mean of `image` at the (w, h) size `small`; `sigma` is in
    pixels of that size."""
    return cv2.GaussianBlur(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (0, 0), sigma)


def local_covariance(image: np.ndarray, small: tuple[int, int],
                     sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted local mean (h x w x 3) and colour covariance (a 3 x 3 x h x w field)
    of `image`, at the (w, h) size `small`; `sigma` is in pixels of that size."""
    mean = local_mean(image, small, sigma)
    planes, means = cv2.split(image), cv2.split(mean)
    cov = np.empty((3, 3, *mean.shape[:2]), np.float64)
    for i in range(3):
        for j in range(i, 3):
            cov[i, j] = cov[j, i] = (local_mean(planes[i] * planes[j], small, sigma)
                                     - means[i] * means[j])
    return mean, cov


def colouring(cov_to: np.ndarray, cov_from: np.ndarray) -> np.ndarray:
    """(cov_to + I)^(1/2) (cov_from + I)^(-1/2): the transform that turns detail of covariance
    `cov_from` into detail of covariance `cov_to` (the identity added keeps flat regions from
    dividing by nothing)."""
    num_to, den_to = _square_root(cov_to)
    num_from, den_from = _square_root(cov_from)
    return _product(_product(_inverse(den_to), num_to), _product(_inverse(num_from), den_from))


def partial(m: np.ndarray, strength: float, largest: float) -> np.ndarray:
    """I + strength (m - I): `strength` of the way from leaving colours as they are to `m`,
    scaled down where it would stretch a colour more than `largest` times."""
    part = _IDENTITY + strength * (m - _IDENTITY)
    return part / np.maximum(largest_singular_value(part) / largest, 1.0)


def largest_singular_value(m: np.ndarray) -> np.ndarray:
    """The spectral norm of each matrix of the field (h x w): how much it stretches a colour."""
    return np.sqrt(np.maximum(_eigenvalues(_product(np.swapaxes(m, 0, 1), m))[0], 0.0))


def transform_detail(image: np.ndarray, mean: np.ndarray, m: np.ndarray) -> np.ndarray:
    """mean + m (image - mean) at each pixel, with the smooth `mean` (h x w x 3) and field `m`
    resized bilinearly to the image's size. float32 HxWx3."""
    h, w = image.shape[:2]

    def full(plane: np.ndarray) -> np.ndarray:
        return cv2.resize(plane.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)

    means = [full(plane) for plane in cv2.split(mean)]
    detail = [plane - means[i] for i, plane in enumerate(cv2.split(image))]
    return cv2.merge([means[i] + sum(full(m[i, j]) * detail[j] for j in range(3))
                      for i in range(3)])


def _square_root(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cov + I)^(1/2) as (numerator, denominator), the root being inv(denominator) @
    numerator: with C = cov + I and s the square roots of C's eigenvalues, Cayley-Hamilton gives
    root = (C + e2(s) I)^-1 (e1(s) C + e3(s) I), exact for repeated eigenvalues too."""
    c = cov + _IDENTITY
    s = np.sqrt(np.maximum(_eigenvalues(c), 1e-6))  # 3 x h x w; rounding can dip below 0
    e1, e2, e3 = s.sum(0), s[0] * s[1] + s[0] * s[2] + s[1] * s[2], s.prod(0)
    return e1 * c + e3 * _IDENTITY, c + e2 * _IDENTITY


def _eigenvalues(sym: np.ndarray) -> np.ndarray:
    """Eigenvalues (3 x h x w, largest first) of a field of symmetric matrices, by the
    trigonometric method (Smith 1961)."""
    q = (sym[0, 0] + sym[1, 1] + sym[2, 2]) / 3.0
    off = sym[0, 1] ** 2 + sym[0, 2] ** 2 + sym[1, 2] ** 2
    p = np.sqrt(((sym[0, 0] - q) ** 2 + (sym[1, 1] - q) ** 2 + (sym[2, 2] - q) ** 2
                 + 2.0 * off) / 6.0)
    b = (sym - q * _IDENTITY) / np.maximum(p, 1e-12)
    phi = np.arccos(np.clip(_determinant(b) / 2.0, -1.0, 1.0)) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    smallest = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    return np.stack([largest, 3.0 * q - largest - smallest, smallest])


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The matrix product at each pixel of two fields."""
    return np.stack([np.stack([a[i, 0] * b[0, j] + a[i, 1] * b[1, j] + a[i, 2] * b[2, j]
                               for j in range(3)]) for i in range(3)])


def _determinant(m: np.ndarray) -> np.ndarray:
    return (m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]))


def _inverse(m: np.ndarray) -> np.ndarray:
    """Inverses of a field of invertible matrices, by their adjugates."""
    adjugate = np.empty_like(m)
    for i in range(3):
        for j in range(3):  # adjugate[i, j] is the cofactor of m[j, i]
            r0, r1 = [k for k in range(3) if k != j]
            c0, c1 = [k for k in range(3) if k != i]
            minor = m[r0, c0] * m[r1, c1] - m[r0, c1] * m[r1, c0]
            adjugate[i, j] = minor if (i + j) % 2 == 0 else -minor
    return adjugate / _determinant(m)
