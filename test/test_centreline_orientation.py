"""Orientation rule b of guidewire_model.runtime.centreline: the end continuing into a catheter is proximal."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from guidewire_model.runtime.centreline import extract_centrelines

from drawn_lines import draw

SIZE = 256
# A wire leaving a catheter in the middle of the frame and running right, its free tip 2 px from
# the right border: the border rule alone (rule c) takes the end at the border for the proximal one.
CATHETER = [(40, 200), (80, 160), (110, 128)]
WIRE = [(110, 128), (180, 110), (253, 100)]


def frame(catheter: bool = True, background: float = 0.8, wire_level: float = 0.55,
          catheter_level: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """A (image, wire mask) pair: a grey field, a dark 6 px catheter, and the 2 px wire leaving it."""
    image = np.full((SIZE, SIZE), background, np.float32)
    if catheter:
        cv2.polylines(image, [np.int32(CATHETER)], False, catheter_level, 6)
    cv2.polylines(image, [np.int32(WIRE)], False, wire_level, 2)
    rng = np.random.default_rng(0)
    image += rng.normal(0.0, 0.01, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0), draw([WIRE], SIZE, thickness=2)


def near(point, target, tol: float = 4.0) -> bool:
    return float(np.hypot(*(np.asarray(point) - np.asarray(target)))) < tol


def test_the_end_leaving_the_catheter_is_proximal_where_the_tip_reaches_the_border():
    image, mask = frame()
    (with_image,) = extract_centrelines(mask, image=image)
    assert near(with_image.points[0], WIRE[0]) and near(with_image.tip, WIRE[-1])
    # Control: without the frame the border rule turns the same wire the wrong way.
    (without,) = extract_centrelines(mask)
    assert near(without.points[0], WIRE[-1])


def test_a_wire_without_a_catheter_end_of_its_own_is_oriented_from_the_other_wires():
    # The second wire leaves the same catheter inside a microcatheter too faint to see: nothing
    # dark at either of its ends, its tip 11 px from the bottom border, its proximal end 44 px from
    # the first wire's (too far apart for rule a).
    second = [(140, 160), (170, 200), (200, 245)]
    image, _ = frame()
    cv2.polylines(image, [np.int32(second)], False, 0.55, 2)
    mask = draw([WIRE, second], SIZE, thickness=2)
    lines = extract_centrelines(mask, image=image)
    assert len(lines) == 2
    for truth in (WIRE, second):
        assert any(near(w.points[0], truth[0]) and near(w.tip, truth[-1]) for w in lines)
    # Control: without the frame the second wire is turned towards the border.
    assert any(near(w.points[0], second[-1]) for w in extract_centrelines(mask))


def test_without_a_catheter_the_border_rule_decides_as_before():
    image, mask = frame(catheter=False)
    (with_image,) = extract_centrelines(mask, image=image)
    (without,) = extract_centrelines(mask)
    np.testing.assert_array_equal(with_image.points, without.points)


def test_a_wire_no_darker_than_its_background_leaves_the_border_rule_in_charge():
    # Inverted display (bright wire): the wire's own contrast is not positive, so the cue abstains.
    image, mask = frame(background=0.3, wire_level=0.7, catheter_level=0.9)
    (with_image,) = extract_centrelines(mask, image=image)
    (without,) = extract_centrelines(mask)
    np.testing.assert_array_equal(with_image.points, without.points)


def test_a_dark_shutter_beside_the_tip_is_not_read_as_a_catheter():
    from guidewire_model.runtime.field_of_view import estimate_field

    image, _ = frame()
    # Texture, so the field estimate takes the grey area for anatomy rather than a blank border.
    rng = np.random.default_rng(1)
    texture = cv2.GaussianBlur(rng.normal(0.0, 1.0, image.shape).astype(np.float32), (0, 0), 8)
    image = np.clip(image + 0.05 * texture / texture.std(), 0.0, 1.0)
    short = [(110, 128), (180, 110), (230, 103)]  # the tip 6 px from a black shutter band
    image[:, 236:] = 0.0
    mask = draw([short], SIZE, thickness=2)
    field = estimate_field((image * 255).astype(np.uint8), margin_px=2.0, border_margin_px=0.0,
                           detect_text=False)
    assert field.valid[:, 238:].sum() == 0 and field.valid[mask > 0].all()
    (line,) = extract_centrelines(mask, image=image, field=field)
    assert near(line.points[0], short[0]) and near(line.tip, short[-1])
    # Control: read without the field, the band looks like a catheter at the tip.
    (unaware,) = extract_centrelines(mask, image=image)
    assert near(unaware.points[0], short[-1])


def test_an_image_of_another_shape_is_refused():
    image, mask = frame()
    with pytest.raises(ValueError, match="image shape"):
        extract_centrelines(mask, image=image[:-1])


def test_generator_wires_whose_tips_leave_the_view_are_oriented_from_their_catheter():
    """A ``varied`` scene (seed 5) whose wires leave one catheter 68 px apart and end at the image's
    right border and by burned-in text: rule a does not apply, and rule c alone turns both round."""
    from guidewire_model.evaluation.oracle_backend import OracleBackend
    from guidewire_model.runtime.pipeline import GuidewirePipeline
    from guidewire_model.synthetic import SyntheticConfig, generate_sequence

    (scene,) = generate_sequence(SyntheticConfig.preset("varied", size=512, crossing_probability=0.7,
                                                        side_by_side_probability=0.4), 5, 1)
    pipeline = GuidewirePipeline(OracleBackend(512), catheter_orientation=True)
    pipeline.backend.set_mask(scene.mask)
    wires = pipeline.process(scene.image).wires
    assert len(wires) == len(scene.wires) == 2
    for truth in scene.wires:
        assert any(near(w.tip, truth.points[-1]) and near(w.points[0], truth.points[0]) for w in wires)
    # Off (the node's default), the field's-edge rule decides and turns both round.
    off = GuidewirePipeline(OracleBackend(512))
    off.backend.set_mask(scene.mask)
    off_wires = off.process(scene.image).wires
    assert not any(near(w.tip, truth.points[-1]) for w in off_wires for truth in scene.wires)
