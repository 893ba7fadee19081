"""Wires ended where they turn faint for good (runtime.faint_tail), on hand-made profiles and frames."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.core.wire import Wire
from guidewire_model.runtime.faint_tail import cut_faint_tails, faint_tail_start, line_contrast

# uint8 grey levels: the coil about three times the body's contrast, the vessel a line runs onto
# past the tip fainter than the body.
BACKGROUND, BODY, COIL, VESSEL = 200, 175, 120, 190


def _profile(*runs):
    """A contrast profile of (value, points) runs and its arc length (1 px apart)."""
    contrast = np.concatenate([np.full(n, v, float) for v, n in runs])
    return contrast, np.arange(len(contrast), dtype=float)


@pytest.mark.parametrize("runs, start, why", [
    (((0.3, 60), (0.1, 30)), 60, "one drop"),
    (((0.4, 50), (0.12, 10), (0.02, 30)), 50, "two steps down: the sharper one"),
    (((0.3, 85), (0.1, 5)), None, "a tail shorter than 8 px"),
    (((0.3, 30), (0.1, 60)), None, "a tail longer than half the line"),
    (((0.3, 60), (0.1, 10), (0.3, 4), (0.1, 16)), None, "something as dark as the wire in the tail"),
    (((0.1, 50), (0.4, 30), (0.1, 40)), None, "a tail as faint as the wire before the dark stretch"),
])
def test_the_faint_tail_starts_at_the_sharpest_step_after_which_the_line_stays_faint(runs, start, why):
    assert faint_tail_start(*_profile(*runs), ratio=0.65) == start, why


def test_profiles_of_another_shape_are_refused():
    contrast, arc = _profile((0.3, 60), (0.1, 30))
    with pytest.raises(ValueError, match="one length"):
        faint_tail_start(contrast, arc[:-1], 0.65)
    with pytest.raises(ValueError, match="window"):
        faint_tail_start(contrast, arc, 0.65, window=0)
    assert faint_tail_start(contrast[:8], arc[:8], 0.65) is None  # shorter than the window


def _frame(coil_end=70, line_end=100, coil_px=25, size=128):
    """A frame and its mask: a 2 px wire along rows 60-61 from the left border, body then coil
    ending at ``coil_end``, and the fainter vessel beyond it up to ``line_end``, which the mask
    joins to the wire as a model marks the contrast-filled vessel past a tip."""
    image = np.full((size, size), BACKGROUND, np.uint8)
    image[60:62, 0:coil_end + 1] = BODY
    image[60:62, coil_end - coil_px:coil_end + 1] = COIL
    image[60:62, coil_end + 1:line_end + 1] = VESSEL
    mask = np.zeros((size, size), np.uint8)
    mask[60:62, 0:line_end + 1] = 1
    return image, mask


def _line(x0, x1, wire_id=4):
    step = 1.0 if x1 >= x0 else -1.0
    xs = np.arange(x0, x1 + step / 2, step)
    return Wire.from_points(np.stack([xs, np.full_like(xs, 60.5)], axis=1), wire_id=wire_id, mean_probability=0.7)


def test_contrast_is_the_brighter_side_minus_the_line():
    image, _ = _frame()
    unit = image.astype(np.float64) / 255
    contrast = line_contrast(unit, _line(0, 100).points, sigma_px=0)
    body, coil = (BACKGROUND - BODY) / 255, (BACKGROUND - COIL) / 255
    assert np.allclose(contrast[5:40], body) and np.allclose(contrast[48:68], coil)
    # A dark structure 5 px off one side only: the other side still gives the background.
    unit[54:57, :] = COIL / 255
    assert np.allclose(line_contrast(unit, _line(0, 100).points, sigma_px=0)[48:68], coil)
    with pytest.raises(ValueError, match="2-D"):
        line_contrast(unit[None], _line(0, 100).points)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        line_contrast(unit, np.zeros((1, 2)))


def test_a_line_running_on_past_its_tip_ends_there():
    image, _ = _frame(coil_end=70, line_end=100)
    (cut,) = cut_faint_tails([_line(0, 100).tracked(4, 9)], image / 255.0, 0.65)
    assert abs(cut.tip[0] - 70) <= 2 and cut.points[0].tolist() == [0.0, 60.5]
    assert (cut.wire_id, cut.frames_tracked, cut.mean_probability) == (4, 9, 0.7)
    # A cut that would leave less than min_length_px keeps the line whole.
    line = _line(0, 100)
    assert cut_faint_tails([line], image / 255.0, 0.65, min_length_px=80) == [line]


@pytest.mark.parametrize("x0, x1, why", [
    (0, 72, "a line that ends at its tip"),
    (70, 0, "a line turned round: its dark coil at its proximal end"),
])
def test_lines_the_cut_leaves_alone(x0, x1, why):
    image, _ = _frame(coil_end=70, line_end=100)
    line = _line(x0, x1)
    assert cut_faint_tails([line], image / 255.0, 0.65) == [line], why


def test_a_line_no_darker_than_its_surroundings_is_left_alone_and_bad_ratios_are_refused():
    flat = np.full((128, 128), 0.5)
    line = _line(0, 100)
    assert cut_faint_tails([line], flat, 0.65) == [line]
    for ratio in (0.0, 1.5):
        with pytest.raises(ValueError, match="ratio"):
            cut_faint_tails([line], flat, ratio)


def test_the_pipeline_cuts_faint_tails_only_when_asked():
    from guidewire_model.evaluation.oracle_backend import OracleBackend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    image, mask = _frame(coil_end=70, line_end=100)
    backend = OracleBackend(128)
    backend.set_mask(mask)
    pipe = GuidewirePipeline(backend, field_of_view=False, faint_tail_ratio=0.65)
    (wire,) = pipe.process(image).wires
    assert abs(wire.tip[0] - 70) <= 3 and wire.points[0][0] < 10 and wire.wire_id == 1
    assert len(wire.point_probability) == len(wire.points)
    pipe.reset()
    pipe.configure(faint_tail_ratio=0.0)
    (wire,) = pipe.process(image).wires
    assert abs(wire.tip[0] - 100) <= 2
    with pytest.raises(ValueError, match="faint_tail_ratio"):
        pipe.configure(faint_tail_ratio=1.5)
