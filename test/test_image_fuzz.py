"""Property-based fuzzing of the image path: any header, any data -> a frame or ImageFormatError, nothing else."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import Image

from guidewire_seg_ros.image_conversion import ENCODINGS, ImageFormatError, image_to_gray

MAX_PIXELS = 4096 * 4096

encodings = st.one_of(st.sampled_from(sorted(ENCODINGS)), st.text(max_size=12))


@st.composite
def frames(draw):
    encoding = draw(encodings)
    height = draw(st.integers(0, 8192))
    width = draw(st.integers(0, 8192))
    channels, dtype = ENCODINGS.get(encoding, (1, np.dtype(np.uint8)))
    row = width * channels * dtype.itemsize
    step = draw(st.one_of(st.just(row), st.integers(0, row + 64)))
    # Keep real allocations small: large frames get deliberately short or empty data.
    wanted = step * height
    length = draw(st.one_of(st.just(wanted), st.integers(0, 4096))) if wanted <= 1 << 16 else draw(
        st.integers(0, 4096))
    data = draw(st.binary(min_size=min(length, 4096), max_size=min(length, 4096))) if length <= 4096 else bytes(length)
    if encoding == "32FC1" and len(data) >= 4 and draw(st.booleans()):
        special = np.array([np.nan, np.inf, -np.inf], dtype=np.float32).tobytes()
        data = (special * (len(data) // len(special) + 1))[: len(data)]
    return Image(height=height, width=width, encoding=encoding, is_bigendian=draw(st.booleans()), step=step,
                 data=data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames())
def test_any_frame_decodes_or_is_refused_cleanly(msg):
    try:
        out = image_to_gray(msg, max_pixels=MAX_PIXELS)
    except ImageFormatError as exc:
        assert exc.kind in {"encoding", "size", "too_large", "step", "data_length", "non_finite"}
        return
    assert out.shape == (msg.height, msg.width)
    assert out.dtype != np.float32 or np.isfinite(out).all()
    assert out.dtype in (np.uint8, np.uint16, np.float32) and out.dtype.isnative
    assert msg.height * msg.width <= MAX_PIXELS


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.booleans(), st.floats(0.0, 1.0))
def test_float_frames_are_refused_above_the_non_finite_bound_and_finite_below(h, w, bigendian, share):
    """NaN/Inf frames are never served as they are: above the bound refused (the node counts and skips
    them), at or below it repaired to finite values that preprocessing takes as any frame."""
    from guidewire_model.runtime.image_decoding import MAX_NON_FINITE_SHARE
    from guidewire_model.runtime.preprocess import prepare_input

    values = np.random.default_rng(h * 100 + w).random((h, w), dtype=np.float32)
    n_bad = int(round(share * h * w))
    values.reshape(-1)[:n_bad] = np.array([np.nan, np.inf, -np.inf], np.float32)[np.arange(n_bad) % 3]
    raw = values.astype(">f4" if bigendian else "<f4").tobytes()
    msg = Image(height=h, width=w, encoding="32FC1", is_bigendian=bigendian, step=4 * w, data=raw)
    if n_bad > MAX_NON_FINITE_SHARE * h * w:
        try:
            image_to_gray(msg)
        except ImageFormatError as exc:
            assert exc.kind == "non_finite"
        else:
            raise AssertionError(f"{n_bad} of {h * w} non-finite pixels were not refused")
        return
    image = image_to_gray(msg)
    assert np.isfinite(image).all()
    assert np.isfinite(prepare_input(image, 64, 0.449, 0.226)).all()
