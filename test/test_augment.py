"""Tests of guidewire_model.training.augment: same geometry for image and mask, binary masks, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from guidewire_model.training.augment import augment_pair, rotate_pair
from guidewire_model.training.config import AugmentConfig

ALL = AugmentConfig(rotate=True, flip_x=True, flip_y=True, intensity=True)
GEOMETRIC = AugmentConfig(rotate=True, flip_x=True, flip_y=True, intensity=False)
NONE = AugmentConfig(rotate=False, flip_x=False, flip_y=False, intensity=False)


def _wire_pair(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((size, size), np.uint8)
    cv2.line(mask, (5, 9), (size - 12, size // 2), 1, 1)
    cv2.line(mask, (size // 3, size - 4), (size - 6, 6), 1, 2)
    image = np.full((size, size), 0.7, np.float32)
    image[mask > 0] = 0.2
    return image, mask


def test_mask_stays_binary_and_dtypes_and_shapes_are_kept():
    image, mask = _wire_pair()
    for i in range(20):
        out_img, out_mask = augment_pair(image, mask, np.random.default_rng(i), ALL)
        assert out_img.dtype == np.float32 and out_mask.dtype == np.uint8
        assert out_img.shape == out_mask.shape == image.shape
        assert set(np.unique(out_mask)) <= {0, 1}
        assert 0.0 <= out_img.min() and out_img.max() <= 1.0
        assert out_img.flags.c_contiguous and out_mask.flags.c_contiguous
    bool_mask = augment_pair(image, mask.astype(bool), np.random.default_rng(0), GEOMETRIC)[1]
    assert bool_mask.dtype == bool
    u16 = augment_pair((image * 65535).astype(np.uint16), mask, np.random.default_rng(0), ALL)[0]
    assert u16.dtype == np.uint16


def test_image_and_mask_get_the_same_geometric_transform():
    # An image equal to the mask must still equal the mask after rotation + flips (up to the
    # bilinear vs nearest resampling on the wire's edges).
    _, mask = _wire_pair()
    for i in range(30):
        out_img, out_mask = augment_pair(mask.astype(np.float32), mask, np.random.default_rng(i), GEOMETRIC)
        agree = (out_img >= 0.5) == out_mask.astype(bool)
        assert agree.mean() > 0.99, i
        # The wire is neither lost nor smeared: nearest-neighbour keeps the pixel count close.
        assert abs(int(out_mask.sum()) - int(mask.sum())) < 0.15 * mask.sum()


def test_quarter_turn_is_an_exact_rotation_about_the_centre():
    image, mask = _wire_pair(48)
    rot_img, rot_mask = rotate_pair(image, mask, 90.0)
    # cv2's positive angle is counter-clockwise on screen, as np.rot90.
    np.testing.assert_allclose(rot_img, np.rot90(image), atol=1e-5)
    np.testing.assert_array_equal(rot_mask, np.rot90(mask))


def test_flips_follow_the_config_and_are_independent():
    image, mask = _wire_pair()
    seen = set()
    for cfg in (AugmentConfig(False, True, False, False), AugmentConfig(False, False, True, False)):
        for i in range(40):
            out_img, out_mask = augment_pair(image, mask, np.random.default_rng(i), cfg)
            if np.array_equal(out_mask, mask):
                kind = "none"
            elif cfg.flip_x and np.array_equal(out_mask, mask[:, ::-1]):
                kind = "x"
            elif cfg.flip_y and np.array_equal(out_mask, mask[::-1]):
                kind = "y"
            else:
                raise AssertionError(f"unexpected transform for {cfg} seed {i}")
            seen.add(kind)
            np.testing.assert_array_equal(out_img == 0.2, out_mask.astype(bool))
    assert seen == {"none", "x", "y"}
    both = AugmentConfig(False, True, True, False)
    kinds = set()
    for i in range(64):
        out = augment_pair(image, mask, np.random.default_rng(i), both)[1]
        kinds.add((np.array_equal(out, mask[:, ::-1]) or np.array_equal(out, mask[::-1, ::-1]),
                   np.array_equal(out, mask[::-1]) or np.array_equal(out, mask[::-1, ::-1])))
    assert len(kinds) == 4  # all four combinations occur


def test_disabled_augmentation_is_identity():
    image, mask = _wire_pair()
    out_img, out_mask = augment_pair(image, mask, np.random.default_rng(3), NONE)
    np.testing.assert_array_equal(out_img, image)
    np.testing.assert_array_equal(out_mask, mask)
    assert out_img is not image


def _angle_of(mask_out: np.ndarray) -> float:
    # Direction (0-360) from the centre to the centroid of an off-centre blob.
    ys, xs = np.nonzero(mask_out)
    c = (mask_out.shape[0] - 1) / 2
    return float(np.degrees(np.arctan2(-(ys.mean() - c), xs.mean() - c)) % 360)


def test_rotation_covers_the_full_circle():
    mask = np.zeros((65, 65), np.uint8)
    cv2.circle(mask, (52, 32), 3, 1, -1)  # a blob to the right of the centre: angle 0
    image = mask.astype(np.float32)
    cfg = AugmentConfig(rotate=True, flip_x=False, flip_y=False, intensity=False)
    angles = np.array([_angle_of(augment_pair(image, mask, np.random.default_rng(i), cfg)[1]) for i in range(200)])
    hist, _ = np.histogram(angles, bins=12, range=(0, 360))
    assert (hist > 0).all(), hist  # every 30 degree sector is reached
    assert hist.max() < 40  # and roughly uniformly (expected 16.7 per sector)


def test_same_generator_state_gives_same_result_and_flips_do_not_depend_on_rotation():
    image, mask = _wire_pair()
    a = augment_pair(image, mask, np.random.default_rng([7, 2, 5]), ALL)
    b = augment_pair(image, mask, np.random.default_rng([7, 2, 5]), ALL)
    c = augment_pair(image, mask, np.random.default_rng([7, 3, 5]), ALL)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # The flips drawn for one state are the same whether rotation is on or off.
    flips_only = AugmentConfig(False, True, True, False)
    rot_then = augment_pair(image, mask, np.random.default_rng(11), AugmentConfig(True, True, True, False))[1]
    rng = np.random.default_rng(11)
    angle = rng.uniform(0, 360)
    rotated = rotate_pair(image, mask, angle)
    np.testing.assert_array_equal(rot_then, augment_pair(*rotated, np.random.default_rng(11), flips_only)[1])


def test_intensity_changes_only_the_image():
    image, mask = _wire_pair()
    cfg = AugmentConfig(rotate=False, flip_x=False, flip_y=False, intensity=True)
    out_img, out_mask = augment_pair(image, mask, np.random.default_rng(4), cfg)
    np.testing.assert_array_equal(out_mask, mask)
    assert not np.allclose(out_img, image)
    # The wire stays darker than the background on average.
    assert out_img[mask > 0].mean() < out_img[mask == 0].mean()


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        augment_pair(np.zeros((8, 8), np.float32), np.zeros((8, 9), np.uint8), np.random.default_rng(0), ALL)
