"""The free-tip rule: a centreline whose two ends both lie at the field's edge is not a guidewire.

A guidewire ends in a free distal tip inside the field of view; an ECG lead, sternal wire or pacing
lead crossing the view enters and leaves it (guidewire_model.runtime.centreline, *Free tip*). Masks are
drawn lines, the generator's ground-truth wires, or both; every test has a control showing that the
rule (not something else) is what removes the line.
"""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.runtime.centreline import extract_centrelines
from guidewire_model.core.polyline import closest_point_distances
from guidewire_model.runtime.field_of_view import estimate_field
from guidewire_model.evaluation.oracle_backend import OracleBackend
from guidewire_model.runtime.pipeline import GuidewirePipeline, PostprocessSettings
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

import drawn_lines
from drawn_lines import dense

SIZE = 512
MARGIN = PostprocessSettings().free_tip_margin_px
# A lead crossing the whole frame from the left to the right border, gently curved.
LEAD = np.array([(0, 330), (120, 300), (260, 290), (400, 300), (511, 270)], float)
# A guidewire leaving the catheter at (150, 120), crossing the lead, free tip at (260, 430).
WIRE = np.array([(150, 120), (200, 250), (240, 350), (260, 430)], float)


def draw(polylines, size=SIZE, thickness=3) -> np.ndarray:
    return drawn_lines.draw(polylines, size, thickness)




def length(points) -> float:
    return float(np.sum(np.hypot(*np.diff(np.asarray(points, float), axis=0).T)))


def noise_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(128, 10, (SIZE, SIZE)), 0, 255).astype(np.uint8)


def oracle_wires(image, mask, **settings):
    backend = OracleBackend(SIZE)
    backend.set_mask(mask)
    return GuidewirePipeline(backend, track=False, **settings).process(image).wires


def _line_across(wire: np.ndarray, size: int, angle_deg: float = 70.0) -> np.ndarray:
    """A straight line from border to border through the middle of ``wire``, at ``angle_deg`` to it."""
    mid = len(wire) // 2
    t = wire[min(mid + 5, len(wire) - 1)] - wire[max(mid - 5, 0)]
    a = np.arctan2(t[1], t[0]) + np.radians(angle_deg)
    d = np.array([np.cos(a), np.sin(a)])
    s = np.arange(-2.0 * size, 2.0 * size, 0.5)
    pts = wire[mid] + s[:, None] * d
    inside = (pts >= 0).all(axis=1) & (pts <= size - 1).all(axis=1)
    return pts[inside]


# ----------------------------------------------------------------------------- extract_centrelines


def test_a_line_crossing_the_whole_view_is_not_published():
    mask = draw([LEAD])
    assert extract_centrelines(mask, free_tip_margin_px=MARGIN) == []
    (control,) = extract_centrelines(mask)  # the rule off: the line is a 520 px "wire"
    assert control.length_px > 500


def test_a_wire_with_a_free_tip_crossing_such_a_line_is_kept_whole():
    mask = draw([LEAD, WIRE])
    for max_wires in (1, 2):
        (wire,) = extract_centrelines(mask, max_wires=max_wires, free_tip_margin_px=MARGIN)
        # Whole: from the catheter end to the tip (which is which is the orientation rule's business),
        # through the crossing, and nothing of the lead.
        ends = sorted(map(tuple, np.round(wire.points[[0, -1]])))
        assert np.hypot(*(np.subtract(ends, [WIRE[0], WIRE[-1]]).T)).max() < 4.0
        assert abs(wire.length_px - length(WIRE)) < 8.0
        assert closest_point_distances(wire.points, dense(WIRE)).max() < 3.0
    # Control: without the rule the longer lead takes the only place.
    (lead,) = extract_centrelines(mask, max_wires=1)
    assert np.median(closest_point_distances(lead.points, dense(LEAD))) < 1.5


def test_a_wire_entering_from_the_border_with_its_tip_inside_is_kept():
    entering = [(0, 200), (150, 250), (300, 300)]
    (wire,) = extract_centrelines(draw([entering]), free_tip_margin_px=MARGIN)
    assert wire.points[0][0] < 3.0 and np.hypot(*(wire.tip - entering[-1])) < 4.0
    # The margin decides: a tip 21 px from the right border is free, one 5 px from it is not.
    assert len(extract_centrelines(draw([[(0, 200), (490, 300)]]), free_tip_margin_px=MARGIN)) == 1
    assert extract_centrelines(draw([[(0, 200), (506, 300)]]), free_tip_margin_px=MARGIN) == []


def test_a_shutter_edge_counts_as_the_field_edge():
    image = noise_image(1)
    image[:, :150] = 0  # a collimator blade; the field starts about 6 px right of x = 150
    field = estimate_field(image)
    across = [(150, 250), (330, 280), (511, 330)]  # from the blade's edge to the right image border
    mask = draw([across])
    mask[~field.valid] = 0
    assert extract_centrelines(mask, field=field, free_tip_margin_px=MARGIN) == []
    # Measured against the image border alone, its left end (x ~ 157) is far inside: published.
    assert len(extract_centrelines(mask, free_tip_margin_px=MARGIN)) == 1
    # A wire entering through the blade's edge with its tip inside the field is kept.
    entering = draw([[(150, 250), (330, 280)]])
    entering[~field.valid] = 0
    assert len(extract_centrelines(entering, field=field, free_tip_margin_px=MARGIN)) == 1


def test_negative_margin_is_refused():
    with pytest.raises(ValueError, match="free_tip_margin_px"):
        extract_centrelines(draw([WIRE]), free_tip_margin_px=-1.0)


# ----------------------------------------------------------------------------- the pipeline


def test_the_pipeline_rule_follows_its_settings_and_the_field():
    image = noise_image(2)
    assert oracle_wires(image, draw([LEAD])) == []  # on by default
    (line,) = oracle_wires(image, draw([LEAD]), require_free_tip=False)  # off: published
    assert line.length_px > 480
    # A line from inside a blade (x = 100) to the right border: its end in the field lies at the
    # blade's edge, so it crosses the view; measured against the image border alone it has a free end.
    bladed = image.copy()
    bladed[:, :150] = 0
    from_blade = draw([[(100, 250), (330, 280), (511, 330)]])
    assert oracle_wires(bladed, from_blade) == []
    assert len(oracle_wires(bladed, from_blade, field_of_view=False)) == 1

    backend = OracleBackend(SIZE)
    backend.set_mask(draw([LEAD]))
    pipeline = GuidewirePipeline(backend, track=False)
    assert pipeline.process(image).wires == []
    pipeline.configure(require_free_tip=False)
    assert len(pipeline.process(image).wires) == 1  # the live change took effect on the next frame
    pipeline.configure(require_free_tip=True, free_tip_margin_px=0.0)  # ends ~1 px from the field edge
    assert len(pipeline.process(image).wires) == 1
    pipeline.configure(free_tip_margin_px=MARGIN)
    assert pipeline.process(image).wires == []


@pytest.mark.parametrize("preset, seed", [("medium", 6), ("medium", 2026), ("hard", 3)])
def test_generator_wires_crossed_by_a_lead_are_published_and_the_lead_is_not(preset, seed):
    """The generator's ground-truth wires with a drawn lead across the frame: the wires are
    published (a lead crossing them does not take them down), the lead is not."""
    frame = generate_sequence(SyntheticConfig.preset(preset, size=SIZE), seed=seed, n_frames=1)[0]
    lead = _line_across(frame.wires[0].points, SIZE)
    mask = np.maximum(frame.mask.astype(np.uint8), draw([lead]))
    assert (draw([lead]) & frame.mask.astype(np.uint8)).any()  # the lead crosses a wire
    wires = oracle_wires(frame.image, mask)
    assert len(wires) == len(frame.wires) == 2
    for w in wires:
        assert np.mean(closest_point_distances(w.points, np.concatenate([t.points for t in frame.wires])) < 3.0) > 0.95
    # Control: without the rule the lead (the longest path) is published as a wire.
    before = oracle_wires(frame.image, mask, require_free_tip=False)
    assert any(np.median(closest_point_distances(w.points, lead)) < 1.5 for w in before)
    # And on the ground truth alone the rule changes nothing (the generator's wires have free tips).
    alone = oracle_wires(frame.image, frame.mask)
    control = oracle_wires(frame.image, frame.mask, require_free_tip=False)
    assert len(alone) == len(control) == 2
    for a, b in zip(alone, control):
        np.testing.assert_array_equal(a.points, b.points)
