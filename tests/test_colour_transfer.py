"""The local colour transform of the stabiliser's texture restoration, against numpy's
eigendecomposition and on the images it is for."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dreamreel.engine import colour_transfer, temporal


def _random_covariances(n: int, scale: float, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(0.0, scale, (n, 3, 3))
    return a @ np.swapaxes(a, -1, -2)


def _reference(cov_to: np.ndarray, cov_from: np.ndarray) -> np.ndarray:
    def power(cov: np.ndarray, p: float) -> np.ndarray:
        values, vectors = np.linalg.eigh(cov + np.eye(3))
        return (vectors * values[..., None, :] ** p) @ np.swapaxes(vectors, -1, -2)

    return power(cov_to, 0.5) @ power(cov_from, -0.5)


def test_colouring_agrees_with_an_eigendecomposition_and_maps_one_covariance_to_the_other() -> None:
    cov_to, cov_from = _random_covariances(2000, 40.0, 1), _random_covariances(2000, 10.0, 2)
    cov_to[:5] = 0.0  # a flat region
    cov_from[5:10] = np.eye(3) * 300.0  # grey noise: a repeated eigenvalue
    cov_to[10:15] = np.diag([900.0, 900.0, 0.0])  # two equal and one nothing

    def field(matrices: np.ndarray) -> np.ndarray:  # n x 3 x 3 -> 3 x 3 x n x 1
        return matrices.transpose(1, 2, 0)[..., None]

    m = colour_transfer.colouring(field(cov_to), field(cov_from))[..., 0].transpose(2, 0, 1)
    reference = _reference(cov_to, cov_from)
    assert np.abs(m - reference).max() <= 1e-6 * np.abs(reference).max() + 1e-9
    mapped = m @ (cov_from + np.eye(3)) @ np.swapaxes(m, -1, -2)
    np.testing.assert_allclose(mapped, cov_to + np.eye(3), rtol=1e-6, atol=1e-6)
    singular = np.linalg.svd(m, compute_uv=False)[..., 0]
    np.testing.assert_allclose(colour_transfer.largest_singular_value(field(m))[..., 0],
                               singular, rtol=1e-6)


def test_greyed_strokes_get_their_colours_back() -> None:
    """Red and blue strokes averaged with shifted copies of themselves turn purple-grey; the
    full transform toward the strokes' own statistics gives back their colour contrast."""
    rng = np.random.default_rng(3)
    red, blue = np.float32([220, 40, 40]), np.float32([40, 40, 220])
    pick = cv2.resize(rng.integers(0, 2, (30, 40)).astype(np.float32), (320, 240),
                      interpolation=cv2.INTER_NEAREST)[..., None]  # 240 x 320 x 1, 0 or 1
    strokes = pick * red + (1.0 - pick) * blue
    washed = np.mean([np.roll(strokes, k, axis=1) for k in range(0, 24, 6)], axis=0)
    small = (40, 30)
    mean, cov_washed = colour_transfer.local_covariance(washed, small, 2.0)
    _, cov_strokes = colour_transfer.local_covariance(strokes, small, 2.0)
    restored = colour_transfer.transform_detail(
        washed, mean, colour_transfer.colouring(cov_strokes, cov_washed))

    def red_minus_blue(image: np.ndarray) -> float:
        return float((image[..., 0] - image[..., 2]).std())

    assert red_minus_blue(washed) < 0.6 * red_minus_blue(strokes)
    assert abs(red_minus_blue(restored) / red_minus_blue(strokes) - 1.0) < 0.15
    assert np.abs(restored.mean(axis=(0, 1)) - strokes.mean(axis=(0, 1))).max() < 3.0
    assert np.abs(restored[..., 1] - 40.0).mean() < 3.0  # green never varied; it stays put


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (9, 17), (17, 9), (240, 320)])
def test_restoration_is_finite_and_bounded_at_any_size(size: tuple[int, int]) -> None:
    """Flat, saturated and noisy frames of odd and tiny sizes: the restored blend stays finite
    and keeps its size and mean."""
    rng = np.random.default_rng(4)
    noisy = rng.uniform(0, 255, (*size, 3)).astype(np.float32)
    for blended, stylized in [(np.full((*size, 3), 255, np.float32), noisy),
                              (noisy * 0.1 + 100, noisy), (noisy, np.zeros_like(noisy))]:
        out = temporal.restore_texture(blended, stylized)
        assert out.shape == blended.shape and np.isfinite(out).all()
        assert abs(float(out.mean() - blended.mean())) < 2.0


def test_restoration_goes_part_of_the_way_and_stretches_no_colour_too_far() -> None:
    """A blend that kept half of the stylized frame's contrast gets 0.3 of the rest back; one
    that kept a tenth is stretched by at most TEXTURE_MAX_GAIN, not the 3.7 that 0.3 of the
    way would take."""
    rng = np.random.default_rng(5)
    smooth = cv2.GaussianBlur(rng.normal(0, 1, (240, 320, 3)).astype(np.float32), (0, 0), 3.0)
    stylized = 128 + smooth / smooth.std() * 40  # detail coarser than the finest octave

    def gain(kept: float) -> float:
        blended = 128 + kept * (stylized - 128)
        return float((temporal.restore_texture(blended, stylized) - 128).std()
                     / (blended - 128).std())

    assert 1.15 < gain(0.5) < 1.3 + 0.02
    assert 1.8 < gain(0.1) <= temporal.TEXTURE_MAX_GAIN


def test_the_finest_strokes_get_a_gain_only_up_to_standard_definition() -> None:
    """Single-pixel strokes that the blend kept a third of: at 480 px high (and below) their
    contrast comes partly back; at 720 px they are left as blended, where raising them costs
    more flicker than the eye gains."""
    rng = np.random.default_rng(6)

    def finest_kept(h: int) -> float:
        stylized = rng.uniform(0, 255, (h, 640, 3)).astype(np.float32)
        blended = 128 + (stylized - 128) / 3
        out = temporal.restore_texture(blended, stylized)

        def finest(image: np.ndarray) -> np.ndarray:
            return image - cv2.pyrUp(cv2.pyrDown(image), dstsize=(640, h))

        return float(finest(out).std() / finest(blended).std())

    small, large = finest_kept(temporal.TEXTURE_FINEST_MAX_SIDE), finest_kept(720)
    assert abs(large - 1.0) < 0.05
    assert 1.3 < small <= temporal.TEXTURE_MAX_GAIN
