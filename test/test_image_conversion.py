"""sensor_msgs/Image decoding: every supported encoding, padded rows, byte order, and refusals."""

import sys

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image

from guidewire_seg_ros.image_conversion import (
    ENCODINGS,
    ImageFormatError,
    bgr_to_image_fields,
    gray_to_image_fields,
    image_to_gray,
)

RNG = np.random.default_rng(0)
H, W = 7, 11


def _msg(array: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Pack ``array`` (H, W[, C]) as an Image with ``pad`` bytes of padding per row."""
    a = array.astype(array.dtype.newbyteorder(">" if bigendian else "<"))
    rows = a.reshape(a.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return Image(height=a.shape[0], width=a.shape[1], encoding=encoding, is_bigendian=bigendian,
                 step=padded.shape[1], data=padded.tobytes())


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_8bit_gray(encoding, pad):
    a = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    out = image_to_gray(_msg(a, encoding, pad))
    assert out.dtype == np.uint8 and np.array_equal(out, a)


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 6])
@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_16bit_gray_both_byte_orders(encoding, pad, bigendian):
    a = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    out = image_to_gray(_msg(a, encoding, pad, bigendian))
    assert out.dtype == np.uint16 and out.dtype.isnative and np.array_equal(out, a)


@pytest.mark.parametrize("bigendian", [False, True])
def test_32fc1_keeps_finite_values_and_replaces_a_few_non_finite_pixels_by_the_median(bigendian):
    a = RNG.random((40, 50), dtype=np.float32)  # 2000 pixels: 3 bad ones are 0.15 %, under the 1 % bound
    bad = [(0, 0), (1, 1), (39, 49)]
    for (r, c), value in zip(bad, (np.nan, np.inf, -np.inf)):
        a[r, c] = value
    out = image_to_gray(_msg(a, "32FC1", pad=4, bigendian=bigendian))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    finite = np.isfinite(a)
    np.testing.assert_array_equal(out[finite], a[finite])
    median = np.median(a[finite])
    for r, c in bad:
        assert out[r, c] == median


@pytest.mark.parametrize("fill", ["nan", "inf", "-inf", "nan_and_inf"])
def test_32fc1_frames_mostly_non_finite_are_refused(fill):
    a = np.full((H, W), float(fill.split("_")[0]), np.float32)
    if fill == "nan_and_inf":
        a[::2] = np.inf
    with pytest.raises(ImageFormatError) as err:
        image_to_gray(_msg(a, "32FC1"))
    assert err.value.kind == "non_finite" and "NaN or infinite" in str(err.value)


def test_non_finite_bound_is_the_stated_share():
    from guidewire_model.runtime.image_decoding import MAX_NON_FINITE_SHARE

    a = RNG.random((100, 100), dtype=np.float32)
    allowed = int(MAX_NON_FINITE_SHARE * a.size)  # exactly at the bound: repaired
    a.reshape(-1)[:allowed] = np.nan
    assert np.isfinite(image_to_gray(_msg(a, "32FC1"))).all()
    a.reshape(-1)[allowed] = np.inf  # one more: refused
    with pytest.raises(ImageFormatError) as err:
        image_to_gray(_msg(a, "32FC1"))
    assert err.value.kind == "non_finite"


@pytest.mark.parametrize("encoding, code, channels", [
    ("rgb8", cv2.COLOR_RGB2GRAY, 3), ("bgr8", cv2.COLOR_BGR2GRAY, 3),
    ("rgba8", cv2.COLOR_RGBA2GRAY, 4), ("bgra8", cv2.COLOR_BGRA2GRAY, 4)])
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_is_converted_to_luma(encoding, code, channels, pad):
    a = RNG.integers(0, 256, (H, W, channels), dtype=np.uint8)
    out = image_to_gray(_msg(a, encoding, pad))
    np.testing.assert_array_equal(out, cv2.cvtColor(a, code))


def test_red_and_blue_are_not_swapped():
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 255  # red in rgb8
    as_rgb = image_to_gray(_msg(red, "rgb8"))
    as_bgr = image_to_gray(_msg(red, "bgr8"))  # same bytes read as blue
    assert as_rgb[0, 0] == 76 and as_bgr[0, 0] == 29  # BT.601: 0.299 R vs 0.114 B


def test_every_listed_encoding_is_decoded():
    for encoding, (channels, dtype) in ENCODINGS.items():
        shape = (H, W, channels) if channels > 1 else (H, W)
        a = np.ones(shape, dtype=dtype)
        assert image_to_gray(_msg(a, encoding)).shape == (H, W)


def test_result_does_not_alias_message_buffer():
    a = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    msg = _msg(a, "mono8")
    out = image_to_gray(msg)
    out[:] = 0
    assert bytes(msg.data) == a.tobytes()


@pytest.mark.parametrize("change, kind", [
    (dict(encoding="yuv422"), "encoding"),
    (dict(encoding=""), "encoding"),
    (dict(height=0), "size"),
    (dict(width=0), "size"),
    (dict(step=W - 1), "step"),
    (dict(data=b"\x00" * (H * W - 1)), "data_length"),
    (dict(data=b"\x00" * (H * W + 1)), "data_length"),
    (dict(height=H + 1), "data_length"),
])
def test_malformed_frames_are_refused_with_a_kind(change, kind):
    fields = dict(height=H, width=W, encoding="mono8", is_bigendian=False, step=W, data=b"\x00" * (H * W))
    fields.update(change)
    with pytest.raises(ImageFormatError) as err:
        image_to_gray(Image(**fields))
    assert err.value.kind == kind


def test_odd_step_for_16bit_is_refused():
    msg = Image(height=2, width=2, encoding="mono16", step=5, data=b"\x00" * 10)
    with pytest.raises(ImageFormatError) as err:
        image_to_gray(msg)
    assert err.value.kind == "step"


def test_oversized_frame_refused_before_reading_data():
    # Claims 100k x 100k pixels with almost no data: must be refused by size, not by a huge allocation.
    msg = Image(height=100_000, width=100_000, encoding="mono8", step=100_000, data=b"\x00" * 16)
    with pytest.raises(ImageFormatError) as err:
        image_to_gray(msg, max_pixels=4096 * 4096)
    assert err.value.kind == "too_large"


def test_round_trip_of_output_fields():
    a8 = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    a16 = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    assert np.array_equal(image_to_gray(Image(**gray_to_image_fields(a8))), a8)
    m16 = Image(**gray_to_image_fields(a16))
    assert m16.encoding == "mono16" and m16.is_bigendian == (sys.byteorder == "big")
    assert np.array_equal(image_to_gray(m16), a16)
    bgr = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mb = Image(**bgr_to_image_fields(bgr))
    assert mb.encoding == "bgr8" and mb.step == 3 * W
    np.testing.assert_array_equal(image_to_gray(mb), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
