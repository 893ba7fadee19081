"""Tip peaks and lines ended at them (runtime.tips), on hand-made maps and lines."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.core.wire import Wire
from guidewire_model.runtime.tips import cut_at_tips, tip_peaks


def _bump(shape, x, y, height, sigma=1.5):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return height * np.exp(-((cc - x) ** 2 + (rr - y) ** 2) / (2 * sigma**2))


def test_peaks_are_local_maxima_above_the_threshold_strongest_first():
    tip = np.maximum(_bump((40, 60), 10, 12, 0.6), _bump((40, 60), 45, 30, 0.9))
    tip = np.maximum(tip, _bump((40, 60), 30, 5, 0.2))  # below the threshold
    assert np.array_equal(tip_peaks(tip, 0.5), [[45.0, 30.0], [10.0, 12.0]])
    assert np.array_equal(tip_peaks(tip, 0.1), [[45.0, 30.0], [10.0, 12.0], [30.0, 5.0]])
    valid = np.ones_like(tip, bool)
    valid[:, 40:] = False  # the stronger one behind a shutter
    assert np.array_equal(tip_peaks(tip, 0.5, valid), [[10.0, 12.0]])
    assert tip_peaks(np.zeros((8, 8)), 0.5).shape == (0, 2)
    with pytest.raises(ValueError, match="2-D"):
        tip_peaks(np.zeros((2, 8, 8)), 0.5)
    with pytest.raises(ValueError, match="shape"):
        tip_peaks(tip, 0.5, valid[:10])


def _line(x0=0.0, x1=100.0, y=20.0, wire_id=3):
    xs = np.arange(x0, x1 + 0.5, 1.0)
    return Wire.from_points(np.stack([xs, np.full_like(xs, y)], axis=1), wire_id=wire_id, mean_probability=0.8)


def test_an_interior_peak_cuts_the_line_and_the_proximal_piece_is_kept():
    line = _line()
    (cut,) = cut_at_tips([line], np.array([[60.0, 22.0]]))
    assert cut.points[0].tolist() == [0.0, 20.0] and cut.tip.tolist() == [60.0, 20.0]
    assert cut.wire_id == 3 and cut.mean_probability == 0.8
    # Two interior peaks: the piece up to the first one.
    (cut,) = cut_at_tips([line], np.array([[60.0, 20.0], [30.0, 20.0]]))
    assert cut.tip.tolist() == [30.0, 20.0]


def test_the_longest_piece_can_be_kept_instead_with_its_tip_at_the_cut():
    line = _line()
    (cut,) = cut_at_tips([line], np.array([[30.0, 20.0], [60.0, 20.0]]), keep="longest")
    # Pieces 0-30, 30-60, 60-100: the last, turned so that its cut end is the tip.
    assert cut.points[0].tolist() == [100.0, 20.0] and cut.tip.tolist() == [60.0, 20.0]
    (cut,) = cut_at_tips([line], np.array([[70.0, 20.0]]), keep="longest")
    assert cut.points[0].tolist() == [0.0, 20.0] and cut.tip.tolist() == [70.0, 20.0]


def test_a_peak_at_one_end_makes_it_the_tip():
    line = _line()
    (turned,) = cut_at_tips([line], np.array([[3.0, 21.0]]))
    assert turned.tip.tolist() == [0.0, 20.0] and turned.points[0].tolist() == [100.0, 20.0]
    (same,) = cut_at_tips([line], np.array([[97.0, 20.0]]))
    assert same is line
    # Peaks at both ends say nothing about the direction.
    (same,) = cut_at_tips([line], np.array([[2.0, 20.0], [99.0, 20.0]]))
    assert same is line


def test_lines_far_from_every_peak_are_left_alone():
    lines = [_line(), _line(y=60.0, wire_id=4)]
    out = cut_at_tips(lines, np.array([[50.0, 40.0]]))
    assert out[0] is lines[0] and out[1] is lines[1]
    assert cut_at_tips(lines, np.zeros((0, 2))) == lines
    with pytest.raises(ValueError, match="keep"):
        cut_at_tips(lines, np.zeros((0, 2)), keep="middle")
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        cut_at_tips(lines, np.zeros(3))


# --------------------------------------------------------------------------- in the pipeline


def _frame_with_a_wire(size=128):
    """A frame and the wire's mask: a horizontal line from the left border to x = 100."""
    mask = np.zeros((size, size), np.uint8)
    mask[60:62, 0:101] = 1
    image = np.full((size, size), 200, np.uint8)
    image[mask > 0] = 60
    return image, mask


def _pipeline(tips=True, **settings):
    from guidewire_model.evaluation.oracle_backend import OracleBackend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    backend = OracleBackend(128, tips=tips)
    return backend, GuidewirePipeline(backend, field_of_view=False, **settings)


def _tip_blob(x, y, height=0.9, size=128):
    rr, cc = np.mgrid[:size, :size]
    return (height * np.exp(-((cc - x) ** 2 + (rr - y) ** 2) / 8.0)).astype(np.float32)


def test_the_pipeline_ends_a_traced_wire_at_the_models_tip_peak():
    image, mask = _frame_with_a_wire()
    backend, pipe = _pipeline()
    backend.set_mask(mask, _tip_blob(70, 61))
    inference = pipe.infer(image)
    assert inference.tip is not None and inference.tip.shape == (128, 128)
    (wire,) = pipe.finish(inference).wires
    assert abs(wire.tip[0] - 70) <= 2 and wire.points[0][0] < 10  # from the border to the peak
    # Below the threshold, or the cut switched off: the traced wire as it is, to x = 100.
    for low, setting in ((0.4, {}), (0.9, {"tip_threshold": 1.0})):
        backend.set_mask(mask, _tip_blob(70, 61, height=low))
        pipe.reset()
        pipe.configure(**setting)
        (wire,) = pipe.process(image).wires
        assert abs(wire.tip[0] - 100) <= 2
    pipe.configure(tip_threshold=0.5)
    # A cut that leaves less than min_wire_length_px publishes nothing.
    backend.set_mask(mask, _tip_blob(15, 61))
    pipe.reset()
    assert pipe.process(image).wires == []


def test_a_model_without_a_tip_channel_traces_as_before():
    image, mask = _frame_with_a_wire()
    backend, pipe = _pipeline(tips=False)
    backend.set_mask(mask)
    inference = pipe.infer(image)
    assert inference.tip is None
    (wire,) = pipe.finish(inference).wires
    assert abs(wire.tip[0] - 100) <= 2
    with pytest.raises(ValueError, match="without tips"):
        backend.set_mask(mask, _tip_blob(70, 61))
