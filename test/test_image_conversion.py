"""sensor_msgs/Image decoding: every supported encoding, padded rows, byte order, and refusals.

The tests above the cv_bridge section run the default path (the own decoder where cv_bridge is absent).
The cv_bridge section runs the bridge path twice: with ROS 2's cv_bridge where it is installed (the two
decoders compared on every encoding), and everywhere with a stand-in CvBridge put into ``sys.modules``
(ROS 2's cv_bridge is not on PyPI), which proves the selection, the validation before the bridge is
called, and the fallbacks.
"""

import importlib
import sys
import types

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image

from guidewire_model.runtime.image_decoding import check_image_fields
from guidewire_seg_ros import image_conversion
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


# --- cv_bridge -------------------------------------------------------------------------------------------

# Frames of every encoding, row padding and byte order the decoders must agree on. The padding is a whole
# number of pixels (12 bytes: a multiple of every pixel size, 1 to 4 bytes), which cv_bridge's passthrough reads.
BRIDGE_CASES = [(encoding, pad, bigendian) for encoding in ENCODINGS for pad in (0, 12)
                for bigendian in (False, True)]


def _frame(encoding: str, pad: int = 0, bigendian: bool = False, seed: int = 1) -> Image:
    """A random 12 x 13 frame of ``encoding`` (float frames with one NaN, repaired by both paths)."""
    channels, dtype = ENCODINGS[encoding]
    shape = (12, 13, channels) if channels > 1 else (12, 13)  # one NaN is 0.6 %, under the 1 % bound
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        a = rng.random(shape, dtype=np.float32)
        a[2, 3] = np.nan
    else:
        a = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    return _msg(a, encoding, pad, bigendian)


def _bridge_id(case):
    encoding, pad, bigendian = case
    return f"{encoding}-pad{pad}-{'be' if bigendian else 'le'}"


@pytest.mark.skipif(not image_conversion.cv_bridge_available(),
                    reason="ROS 2 cv_bridge is not importable (not on PyPI; PyPI's cv-bridge is ROS 1's): "
                           "the own decoder is the one in use, compared with a stand-in bridge below")
@pytest.mark.parametrize("case", BRIDGE_CASES, ids=_bridge_id)
def test_real_cv_bridge_and_own_decoder_agree(case):  # pragma: no cover - only on a ROS 2 install
    encoding, pad, bigendian = case
    msg = _frame(encoding, pad, bigendian)
    ours = image_to_gray(msg, use_cv_bridge=False)
    theirs = image_to_gray(msg, use_cv_bridge=True)
    assert theirs.dtype == ours.dtype and theirs.flags.c_contiguous
    np.testing.assert_array_equal(theirs, ours)
    if not bigendian:  # the bridge itself read it (big-endian frames may fall back on numpy 2)
        layout = check_image_fields(msg.encoding, msg.height, msg.width, msg.step, msg.data)
        assert image_conversion._bridge_pixels(msg, layout) is not None


class StandInCvBridge:
    """Stand-in for ROS 2's ``cv_bridge.CvBridge``, which cannot be installed here.

    ``imgmsg_to_cv2(msg, "passthrough")`` reads the data as ROS 2's cv_bridge does (python/cv_bridge/
    core.py): dtype and channels from the encoding, rows of ``step // pixel size`` pixels cut to
    ``width``, then swapped to native byte order. Every call is recorded.
    """

    TYPES = {"mono8": ("uint8", 1), "8UC1": ("uint8", 1), "mono16": ("uint16", 1), "16UC1": ("uint16", 1),
             "32FC1": ("float32", 1), "rgb8": ("uint8", 3), "bgr8": ("uint8", 3), "rgba8": ("uint8", 4),
             "bgra8": ("uint8", 4)}
    calls: list = []

    def imgmsg_to_cv2(self, img_msg, desired_encoding="passthrough"):
        type(self).calls.append((img_msg.encoding, desired_encoding))
        if desired_encoding != "passthrough":
            raise NotImplementedError("the stand-in reads passthrough only")
        name, n = self.TYPES[img_msg.encoding]
        dtype = np.dtype(name).newbyteorder(">" if img_msg.is_bigendian else "<")
        h, w = img_msg.height, img_msg.width
        if n == 1:
            im = np.ndarray(shape=(h, int(img_msg.step / dtype.itemsize)), dtype=dtype, buffer=img_msg.data)
            im = np.ascontiguousarray(im[:h, :w])
        else:
            im = np.ndarray(shape=(h, int(img_msg.step / dtype.itemsize / n), n), dtype=dtype,
                            buffer=img_msg.data)
            im = np.ascontiguousarray(im[:h, :w, :])
        if img_msg.is_bigendian == (sys.byteorder == "little"):
            im = self._swap(im)
        return im

    @staticmethod
    def _swap(im):
        return im.byteswap().view(im.dtype.newbyteorder())


class StandInNumpy1CvBridge(StandInCvBridge):
    """A cv_bridge build that swaps bytes with ``ndarray.newbyteorder()``, which numpy 2 removed."""

    @staticmethod
    def _swap(im):
        raise AttributeError("`newbyteorder` was removed from the ndarray class in NumPy 2.0")


class StandInChannelAxisCvBridge(StandInCvBridge):
    """A bridge that keeps a channel axis on one-channel images, (H, W, 1) as some cv::Mat bindings do."""

    def imgmsg_to_cv2(self, img_msg, desired_encoding="passthrough"):
        im = super().imgmsg_to_cv2(img_msg, desired_encoding)
        return im[..., None] if im.ndim == 2 else im


def _reload_with_cv_bridge(module):
    """Re-import image_conversion with ``module`` as ``cv_bridge`` (None: cv_bridge not importable)."""
    saved = sys.modules.get("cv_bridge", importlib.util.find_spec)  # sentinel: was not in sys.modules
    sys.modules["cv_bridge"] = module
    try:
        importlib.reload(image_conversion)
    finally:
        if saved is importlib.util.find_spec:
            del sys.modules["cv_bridge"]
        else:
            sys.modules["cv_bridge"] = saved


@pytest.fixture
def stand_in_bridge(request):
    """image_conversion re-imported with a stand-in cv_bridge; the real state is restored afterwards."""
    bridge_class = getattr(request, "param", StandInCvBridge)
    bridge_class.calls = []
    _reload_with_cv_bridge(types.SimpleNamespace(CvBridge=bridge_class))
    try:
        yield bridge_class
    finally:
        importlib.reload(image_conversion)


def test_cv_bridge_is_used_by_default_when_importable(stand_in_bridge):
    assert image_conversion.cv_bridge_available()
    msg = _frame("mono16", pad=4)
    out = image_conversion.image_to_gray(msg)
    assert stand_in_bridge.calls == [("mono16", "passthrough")]
    np.testing.assert_array_equal(out, image_conversion.image_to_gray(msg, use_cv_bridge=False))
    assert len(stand_in_bridge.calls) == 1  # use_cv_bridge=False did not call it


def test_own_decoder_is_used_when_cv_bridge_is_not_importable():
    _reload_with_cv_bridge(None)  # `import cv_bridge` raises ImportError
    try:
        assert not image_conversion.cv_bridge_available()
        a = RNG.integers(0, 256, (H, W), dtype=np.uint8)
        np.testing.assert_array_equal(image_conversion.image_to_gray(_msg(a, "mono8")), a)
        with pytest.raises(RuntimeError, match="cv_bridge is not importable"):
            image_conversion.image_to_gray(_msg(a, "mono8"), use_cv_bridge=True)
    finally:
        importlib.reload(image_conversion)


@pytest.mark.parametrize("case", BRIDGE_CASES, ids=_bridge_id)
def test_stand_in_bridge_path_matches_own_decoder(stand_in_bridge, case):
    encoding, pad, bigendian = case
    msg = _frame(encoding, pad, bigendian)
    theirs = image_conversion.image_to_gray(msg, use_cv_bridge=True)
    assert stand_in_bridge.calls == [(encoding, "passthrough")]
    ours = image_conversion.image_to_gray(msg, use_cv_bridge=False)
    assert theirs.dtype == ours.dtype and theirs.dtype.isnative and theirs.flags.c_contiguous
    np.testing.assert_array_equal(theirs, ours)
    assert np.isfinite(theirs).all()  # the float frame's NaN went through the same repair


def test_bridge_result_does_not_alias_message_buffer(stand_in_bridge):
    # Unpadded mono8: the bridge's passthrough array is a view of msg.data; the grey rules copy it.
    a = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    msg = _msg(a, "mono8")
    out = image_conversion.image_to_gray(msg, use_cv_bridge=True)
    assert stand_in_bridge.calls
    out[:] = 0
    assert bytes(msg.data) == a.tobytes()


@pytest.mark.parametrize("change, kind", [
    (dict(encoding="yuv422"), "encoding"),
    (dict(height=0), "size"),
    (dict(step=W - 1), "step"),
    (dict(data=b"\x00" * (H * W - 1)), "data_length"),
    (dict(height=100_000, width=100_000, step=100_000), "too_large"),
])
def test_malformed_frames_are_refused_before_the_bridge_reads_them(stand_in_bridge, change, kind):
    fields = dict(height=H, width=W, encoding="mono8", is_bigendian=False, step=W, data=b"\x00" * (H * W))
    fields.update(change)
    with pytest.raises(ImageFormatError) as err:
        image_conversion.image_to_gray(Image(**fields), max_pixels=4096 * 4096, use_cv_bridge=True)
    assert err.value.kind == kind
    assert stand_in_bridge.calls == []


def test_padding_of_a_partial_pixel_is_read_by_the_own_decoder(stand_in_bridge):
    a = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    msg = _msg(a, "rgb8", pad=2)  # 35-byte rows: not a whole number of 3-byte pixels
    expected = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    # What the bridge would give: rows read 33 bytes apart, so every row after the first is shifted.
    assert not np.array_equal(cv2.cvtColor(stand_in_bridge().imgmsg_to_cv2(msg), cv2.COLOR_RGB2GRAY), expected)
    stand_in_bridge.calls.clear()
    np.testing.assert_array_equal(image_conversion.image_to_gray(msg, use_cv_bridge=True), expected)
    assert stand_in_bridge.calls == []


@pytest.mark.parametrize("stand_in_bridge", [StandInNumpy1CvBridge], indirect=True)
def test_a_bridge_error_on_a_checked_frame_falls_back_to_the_own_decoder(stand_in_bridge, caplog):
    a = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    msg = _msg(a, "mono16", bigendian=sys.byteorder == "little")  # the bridge must swap bytes: it fails
    with caplog.at_level("WARNING", logger=image_conversion.__name__):
        out = image_conversion.image_to_gray(msg, use_cv_bridge=True)
        again = image_conversion.image_to_gray(msg, use_cv_bridge=True)
    assert len(stand_in_bridge.calls) == 2
    np.testing.assert_array_equal(out, a)
    np.testing.assert_array_equal(again, a)
    warnings = [r for r in caplog.records if "cv_bridge could not decode" in r.getMessage()]
    assert len(warnings) == 1 and "AttributeError" in warnings[0].getMessage()  # logged once


@pytest.mark.parametrize("stand_in_bridge", [StandInChannelAxisCvBridge], indirect=True)
def test_a_bridge_result_of_another_shape_is_not_used(stand_in_bridge):
    a = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    out = image_conversion.image_to_gray(_msg(a, "mono8"), use_cv_bridge=True)
    assert stand_in_bridge.calls and out.shape == (H, W)
    np.testing.assert_array_equal(out, a)


def test_a_float_frame_mostly_non_finite_is_refused_on_the_bridge_path_too(stand_in_bridge):
    a = np.full((H, W), np.nan, np.float32)
    with pytest.raises(ImageFormatError) as err:
        image_conversion.image_to_gray(_msg(a, "32FC1"), use_cv_bridge=True)
    assert err.value.kind == "non_finite" and stand_in_bridge.calls == [("32FC1", "passthrough")]
