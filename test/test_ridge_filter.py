"""The Frangi reference filter finds dark lines at the frame's own resolution, scaled per frame."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.evaluation.ridge_filter import FRANGI_SIGMAS, frangi_map, frangi_maps


def _dark_line_frame(shape=(40, 50), row=20, value=60, background=200) -> np.ndarray:
    """A dark line with a little noise, as any X-ray has. (On a noiseless straight line the Hessian's
    along-line eigenvalue is exactly 0, where Frangi's polarity test cannot act.)"""
    noise = np.random.default_rng(0).normal(0.0, 2.0, shape)
    image = np.full(shape, background, np.float64) + noise
    image[row, 5:45] = value + noise[row, 5:45]
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def test_a_dark_line_is_the_strongest_ridge_and_the_map_is_scaled_to_one():
    v = frangi_map(_dark_line_frame())
    assert v.dtype == np.float32 and v.shape == (40, 50)
    assert v.max() == pytest.approx(1.0) and v.min() >= 0.0
    assert v[20, 10:40].min() > 0.3  # along the line
    assert v[5, 10:40].max() < 0.01 and v[35, 10:40].max() < 0.01  # far from it


def test_bright_lines_are_not_guidewires():
    inverted = 255 - _dark_line_frame()
    assert frangi_map(inverted)[20, 10:40].max() < 0.01
    assert frangi_map(inverted, black_ridges=False)[20, 10:40].min() > 0.3


def test_flat_frames_and_bit_depths():
    assert not frangi_map(np.full((16, 16), 90, np.uint8)).any()
    # A 16-bit frame of the same picture gives the same map (to_unit_float scales both to [0, 1]).
    frame8 = _dark_line_frame()
    np.testing.assert_allclose(frangi_map(frame8.astype(np.uint16) * 257), frangi_map(frame8), atol=1e-5)
    maps = frangi_maps([frame8, frame8[:30]])
    assert [m.shape for m in maps] == [(40, 50), (30, 50)]
    assert FRANGI_SIGMAS == (1.0, 2.0)
    with pytest.raises(ValueError, match="2-D"):
        frangi_map(np.zeros((2, 8, 8), np.uint8))
