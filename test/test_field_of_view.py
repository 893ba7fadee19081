"""The valid field of view (guidewire_model.runtime.field_of_view) and what the pipeline publishes with it.

The "bad model" here is a stand-in backend returning a given probability map: high on the true
wire, and -- like the shipped model on real frames -- high along shutter edges, on burned-in text
and on borders. Frames are the project's synthetic fluoroscopy with shutters, text and borders
drawn on, or a drawn thin dark curve on a noisy background.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from guidewire_model.runtime.backends.base import Backend
from guidewire_model.core.polyline import closest_point_distances
from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.runtime.field_of_view import FieldOfView, estimate_field, valid_field
from guidewire_model.runtime.model_info import ModelInfo
from guidewire_model.runtime.pipeline import GuidewirePipeline, PostprocessSettings
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

SIZE = 512
SEED = 6  # a medium sequence whose wires lie within x 177..350, y 109..293
HIGH, LOW = 0.95, 0.05
OFF = dict(field_of_view=False, edge_reject_px=0.0, require_free_tip=False)  # the pipeline before this module existed


class MapBackend(Backend):
    """A stand-in model that outputs the probability map it was given, whatever the frame."""

    name = "map"

    def __init__(self, probability: np.ndarray, threshold: float = 0.5) -> None:
        self.probability = probability.astype(np.float32)
        self.info = ModelInfo(input_size=probability.shape[0], input_mean=0.0, input_std=1.0, threshold=threshold,
                              architecture="map", encoder="none", encoder_width=0, output="probability",
                              config_sha256="", version="test", opset=None)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.probability, (len(batch), 1, *self.probability.shape)).copy()


@pytest.fixture(scope="module")
def frame():
    return generate_sequence(SyntheticConfig.preset("medium", size=SIZE), seed=SEED, n_frames=1)[0]


def wires_of(image, probability, **settings):
    pipeline = GuidewirePipeline(MapBackend(probability), track=False, **settings)
    return pipeline.process(image).wires


def on_truth(wire, truth_points, tol=3.0) -> float:
    """Share of a published wire's points within ``tol`` px of a true centreline."""
    return float(np.mean(closest_point_distances(wire.points, truth_points) < tol))


def truth(frame) -> np.ndarray:
    return np.concatenate([w.points for w in frame.wires])


# ----------------------------------------------------------------------------- valid_field alone


@pytest.mark.parametrize("preset, seed", [("easy", 1), ("medium", SEED), ("hard", 3), ("hard", 10)])
def test_field_of_a_plain_frame_is_everything_but_the_border_margin(preset, seed):
    image = generate_sequence(SyntheticConfig.preset(preset, size=SIZE), seed=seed, n_frames=1)[0].image
    fov = estimate_field(image)
    assert fov.shutter_fraction == 0.0 and fov.text_boxes == ()
    assert fov.valid[3:-3, 3:-3].all()
    assert not fov.valid[:3].any() and not fov.valid[:, -3:].any()
    assert fov.valid.mean() > 0.97
    np.testing.assert_array_equal(valid_field(image), fov.valid)


def test_black_shutter_bands_and_their_margin_are_outside(frame):
    image = frame.image.copy()
    image[:, :90] = 0
    image[:, 430:] = 0
    valid = valid_field(image)  # margin 6 px beyond the last shutter pixel
    assert not valid[:, :90 + 6 - 1].any() and not valid[:, 430 - 6 + 1:].any()
    expected = _border(image.shape, 3) & ~_near_black_anatomy(frame.image)
    expected[:, :90 + 6 + 2] = expected[:, 430 - 6 - 2:] = False
    assert valid[expected].all()


@pytest.mark.parametrize("blade", [
    [[0, 0], [150, 0], [60, SIZE - 1], [0, SIZE - 1]],  # an angled blade
    [[SIZE - 1, 0], [SIZE - 1, 200], [300, 0]],  # a corner cut off at 34 degrees
])
def test_blade_edges_are_found_to_about_a_pixel(frame, blade):
    image = frame.image.copy()
    blade = np.array(blade, np.int32)
    cv2.fillPoly(image, [blade], 0)
    dist = _distance_to(blade, image.shape)  # from each pixel to the nearest blade pixel; < 0 on it
    valid = valid_field(image, margin_px=6.0)
    assert not valid[dist < 6.0 - 1.5].any()
    assert valid[(dist > 6.0 + 2.0) & _border(image.shape, 3) & ~_near_black_anatomy(frame.image)].all()


def test_round_iris_shutter_corners_are_outside(frame):
    image = frame.image.copy()
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(xx - 256, yy - 256)
    image[r > 240] = 0
    valid = valid_field(image)
    assert not valid[r > 240 - 6 + 1.5].any()
    assert valid[(r < 240 - 6 - 2.0) & _border(image.shape, 3) & ~_near_black_anatomy(frame.image)].all()


@pytest.mark.parametrize("level", [0, 24])  # black, and a console's dark-grey blanking
def test_letterbox_bars_at_black_or_dark_grey_are_outside(frame, level):
    image = frame.image.copy()
    image[:25] = level
    image[-25:] = level
    valid = valid_field(image)
    assert not valid[:25 + 6 - 1].any() and not valid[-(25 + 6 - 1):].any()
    expected = _border(image.shape, 3) & ~_near_black_anatomy(frame.image)
    expected[:25 + 6 + 2] = expected[-(25 + 6 + 2):] = False
    assert valid[expected].all()


def test_anatomy_smoothed_flat_beside_an_iris_stays_in_the_field(frame):
    # A display's noise reduction (or an upsampled low-resolution frame) leaves anatomy constant
    # within blocks at 8 bits, though its level drifts across the frame; it meets the black iris.
    image = np.round(cv2.GaussianBlur(frame.image.astype(np.float32), (0, 0), 4)).astype(np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(xx - 256, yy - 256)
    image[r > 240] = 0
    valid = valid_field(image)
    assert not valid[r > 240 - 6 + 1.5].any()
    assert valid[(r < 240 - 6 - 2.0) & _border(image.shape, 3) & ~_near_black_anatomy(image)].all()


def test_white_border_is_outside(frame):
    image = frame.image.copy()
    image[:, :20] = 255
    valid = valid_field(image)
    assert not valid[:, :20 + 6 - 1].any()
    assert valid[3:-3, 20 + 6 + 2:-3].all()


def test_white_text_in_a_corner_is_outside(frame):
    image = frame.image.copy()
    glyphs = _text(image, "ID 0421 LAO 30", (10, 30), 255)
    fov = estimate_field(image)
    assert len(fov.text_boxes) == 1
    near_text = cv2.dilate(glyphs.view(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert not fov.valid[near_text].any()
    # Only the text's neighbourhood goes: everything 40 px away from it stays.
    far = cv2.dilate(glyphs.view(np.uint8), np.ones((81, 81), np.uint8)) == 0
    assert fov.valid[far & _border(image.shape, 3)].all()


def test_black_text_on_a_bright_corner_is_outside():
    image = _curve_frame()[0]
    glyphs = _text(image, "kV 78 mA 12", (300, 40), 0)
    valid = valid_field(image)
    assert not valid[glyphs].any()
    assert valid[100:-3, 3:-3].all()


def test_a_dark_wire_entering_from_a_shutter_stays_in_the_field(frame):
    image, curve = _curve_frame(start=(90, 300))
    image[:, :90] = 0
    valid = valid_field(image)
    dist_to_band = curve[:, 0] - 90
    cols, rows = np.rint(curve.T).astype(int)
    assert valid[rows[dist_to_band > 10], cols[dist_to_band > 10]].all()


def test_sixteen_bit_and_float_frames_give_the_same_field(frame):
    image = frame.image.copy()
    image[:, :90] = 0
    want = valid_field(image)
    np.testing.assert_array_equal(valid_field(image.astype(np.uint16) * 16), want)  # 12 bits in 16
    np.testing.assert_array_equal(valid_field(image.astype(np.float32) / 255.0), want)


def test_constant_and_noise_frames():
    assert not valid_field(np.zeros((64, 80), np.uint8)).any()
    assert not valid_field(np.full((64, 64), 0.5, np.float32)).any()
    noise = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE)).astype(np.uint8)
    fov = estimate_field(noise)
    assert fov.shutter_fraction == 0.0 and fov.text_boxes == () and fov.valid.mean() > 0.97


def test_distance_to_the_field_edge(frame):
    image = frame.image.copy()
    image[:, :90] = 0
    fov = estimate_field(image, margin_px=6.0, border_margin_px=3.0)
    d = fov.distance(np.array([[200.0, 256.0], [90 + 6 + 5.0, 256.0], [200.0, 4.0], [40.0, 256.0]]))
    assert d[0] == pytest.approx(200 - 96, abs=3.0)
    assert d[1] == pytest.approx(5.0, abs=3.0)
    assert d[2] == pytest.approx(2.0, abs=0.01)  # image border: row 4 is 2 px inside the 3 px margin
    assert d[3] <= 0.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="2-D"):
        valid_field(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="margin"):
        valid_field(np.zeros((8, 8), np.uint8), margin_px=-1.0)


# ----------------------------------------------------------------------------- through the pipeline


def test_band_edges_marked_by_the_model_never_become_centrelines(frame):
    image = frame.image.copy()
    image[:, :90] = 0
    image[:, 430:] = 0
    prob = np.where(frame.mask > 0, HIGH, LOW).astype(np.float32)
    prob[:, 86:100] = HIGH  # the model's response along both band edges, reaching 10 px into the field
    prob[:, 420:434] = HIGH
    wires = wires_of(image, prob)
    assert wires, "the true wires must still be published"
    for w in wires:
        assert on_truth(w, truth(frame)) > 0.9
        x = w.points[:, 0]
        assert np.min(np.minimum(np.abs(x - 90), np.abs(x - 430))) >= 4.0
    # Control: without the field of view and the edge rule the same model output gives edge wires.
    before = wires_of(image, prob, **OFF)
    assert any(on_truth(w, truth(frame)) < 0.5 for w in before)


def test_iris_edge_marked_by_the_model_never_becomes_a_centreline(frame):
    image = frame.image.copy()
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(xx - 256, yy - 256)
    image[r > 240] = 0
    prob = np.where((frame.mask > 0) | ((r > 232) & (r < 246)), HIGH, LOW).astype(np.float32)
    wires = wires_of(image, prob)
    assert wires
    for w in wires:
        assert on_truth(w, truth(frame)) > 0.9
        assert np.min(np.abs(np.hypot(w.points[:, 0] - 256, w.points[:, 1] - 256) - 240)) >= 4.0
    assert any(on_truth(w, truth(frame)) < 0.5 for w in wires_of(image, prob, **OFF))


def test_burned_in_text_marked_by_the_model_never_becomes_a_centreline(frame):
    image = frame.image.copy()
    glyphs = _text(image, "ID 0421 LAO 30", (10, 30), 255)
    ys, xs = np.nonzero(glyphs)
    box = (xs.min(), ys.min(), xs.max(), ys.max())
    prob = np.where((frame.mask > 0) | cv2.dilate(glyphs.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool),
                    HIGH, LOW).astype(np.float32)
    # Room for four wires, so that text strokes would be published beside the two true wires.
    wires = wires_of(image, prob, max_wires=4)
    assert len(wires) == 2
    for w in wires:
        assert on_truth(w, truth(frame)) > 0.9
        gap_x = np.maximum(np.maximum(box[0] - w.points[:, 0], w.points[:, 0] - box[2]), 0)
        gap_y = np.maximum(np.maximum(box[1] - w.points[:, 1], w.points[:, 1] - box[3]), 0)
        assert np.min(np.hypot(gap_x, gap_y)) >= 5.0
    # Control: without text detection the text's strokes are traced.
    assert any(on_truth(w, truth(frame)) < 0.5
               for w in wires_of(image, prob, max_wires=4, detect_burned_in_text=False))


def test_black_border_and_image_border_marked_by_the_model_never_become_centrelines(frame):
    image = frame.image.copy()
    image[:25] = 0
    prob = np.where(frame.mask > 0, HIGH, LOW).astype(np.float32)
    prob[20:33] = HIGH  # the letterbox edge
    prob[:, -5:] = HIGH  # the model's padding artefact along the right image border
    wires = wires_of(image, prob)
    assert wires
    for w in wires:
        assert on_truth(w, truth(frame)) > 0.9
        assert np.all(np.abs(w.points[:, 1] - 25) >= 4.0) and np.all(w.points[:, 0] < SIZE - 8)
    assert any(on_truth(w, truth(frame)) < 0.5 for w in wires_of(image, prob, **OFF))


def test_drawn_dark_wire_in_the_field_is_published_with_and_without_shutters():
    image, curve = _curve_frame()
    prob = _along(curve, image.shape)
    for shuttered in (False, True):
        img = image.copy()
        if shuttered:
            img[:, :60] = 0
            img[:, 470:] = 0
        (wire,) = wires_of(img, prob)
        assert closest_point_distances(wire.points, curve).max() < 2.0
        assert wire.length_px > 0.9 * _length(curve)


def test_a_wire_parallel_to_the_edge_well_inside_the_field_is_kept(frame):
    """The edge rule removes only what hugs the edge: 20 px inside, a straight wire is published."""
    image = frame.image.copy()
    image[:, :90] = 0
    prob = np.full(image.shape, LOW, np.float32)
    line = np.array([[90 + 20.0, 60.0], [90 + 20.0, 450.0]])
    prob = np.maximum(prob, _along(line, image.shape))
    (wire,) = wires_of(image, prob)
    assert closest_point_distances(wire.points, _dense(line)).max() < 2.0
    # ...while the same wire 8 px from the edge (2 px inside the field) is not.
    near = np.array([[90 + 8.0, 60.0], [90 + 8.0, 450.0]])
    assert wires_of(image, np.maximum(np.full(image.shape, LOW, np.float32), _along(near, image.shape))) == []


# ----------------------------------------------------------------------------- frames without a wire


@pytest.fixture(scope="module")
def shipped_pipeline():
    from guidewire_model.runtime.backends import create_backend

    path = shipped_models_dir() / "default.onnx"
    assert path.is_file(), f"the shipped default model {path} is missing"
    backend = create_backend("onnxruntime", path, threads=1)
    yield backend
    backend.close()


def _no_wire_frames() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    edge = np.full((SIZE, SIZE), 140, np.uint8)
    edge[:, :100] = 0
    noisy_edge = np.clip(rng.normal(140, 6, (SIZE, SIZE)), 0, 255).astype(np.uint8)
    noisy_edge[:, :100] = 0
    return {
        "black": np.zeros((SIZE, SIZE), np.uint8),
        "grey": np.full((SIZE, SIZE), 128, np.uint8),
        "uniform noise": rng.integers(0, 256, (SIZE, SIZE)).astype(np.uint8),
        "gaussian noise": np.clip(rng.normal(128, 30, (SIZE, SIZE)), 0, 255).astype(np.uint8),
        "straight edge": edge,
        "straight edge on noise": noisy_edge,
    }


@pytest.mark.parametrize("name", list(_no_wire_frames()))
def test_frames_without_a_wire_publish_nothing_with_the_shipped_model(shipped_pipeline, name):
    image = _no_wire_frames()[name]
    assert GuidewirePipeline(shipped_pipeline, track=False).process(image).wires == []


def test_noise_speckle_of_a_bad_model_publishes_nothing():
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(128, 30, (SIZE, SIZE)), 0, 255).astype(np.uint8)
    prob = (1.0 / (1.0 + np.exp(-rng.normal(-2.5, 1.2, image.shape)))).astype(np.float32)  # ~5 % above 0.5
    assert wires_of(image, prob) == []
    # Control: it is the length and probability gates that refuse the speckle's paths.
    assert wires_of(image, prob, min_wire_length_px=0.0, min_mean_probability=0.0)


def test_minimum_mean_probability_and_length_gate_published_wires():
    image, curve = _curve_frame()
    faint = _along(curve, image.shape, high=0.56)  # above the threshold 0.5, below 0.6
    assert len(wires_of(image, faint, min_mean_probability=0.5)) == 1
    assert wires_of(image, faint, min_mean_probability=0.6) == []
    length = _length(curve)
    assert len(wires_of(image, _along(curve, image.shape), min_wire_length_px=length - 20)) == 1
    assert wires_of(image, _along(curve, image.shape), min_wire_length_px=length + 20) == []
    for w in wires_of(image, faint, min_mean_probability=0.5):
        assert w.mean_probability >= 0.5 and w.length_px >= PostprocessSettings().min_wire_length_px


# ----------------------------------------------------------------------------- settings


def test_settings_reach_the_next_frame_and_bad_values_change_nothing(frame):
    image = _no_wire_frames()["straight edge on noise"]
    prob = np.full(image.shape, LOW, np.float32)
    prob[:, 94:104] = HIGH
    pipeline = GuidewirePipeline(MapBackend(prob), track=False)
    assert pipeline.process(image).wires == []
    pipeline.configure(field_of_view=False, edge_reject_px=0.0, require_free_tip=False)
    assert pipeline.process(image).wires  # the live change took effect on the next frame
    with pytest.raises(ValueError, match="field_margin_px"):
        pipeline.configure(field_of_view=True, field_margin_px=100.0)
    assert pipeline.settings.field_of_view is False and pipeline.settings.field_margin_px == 6.0
    result = pipeline.process(image)
    assert result.field is None and result.wires


@pytest.mark.parametrize("name, value", [
    ("field_margin_px", -1.0), ("field_margin_px", 65.0), ("min_mean_probability", 1.5),
    ("min_wire_length_px", float("nan")), ("edge_reject_run_px", 0.0), ("field_of_view", "yes"),
    ("border_margin_px", True), ("free_tip_margin_px", -1.0), ("free_tip_margin_px", 129.0),
    ("require_free_tip", "yes"),
])
def test_settings_are_validated(name, value):
    with pytest.raises(ValueError, match=name):
        PostprocessSettings(**{name: value})
    with pytest.raises(ValueError, match=name):
        GuidewirePipeline(MapBackend(np.zeros((8, 8))), **{name: value})


def test_field_is_reported_with_the_result(frame):
    image = frame.image.copy()
    image[:, :90] = 0
    result = GuidewirePipeline(MapBackend(np.zeros(image.shape, np.float32))).process(image)
    assert isinstance(result.field, FieldOfView) and not result.field.valid[:, :90].any()
    assert not result.probability[~result.field.valid].any()


# ----------------------------------------------------------------------------- helpers


def _near_black_anatomy(image: np.ndarray) -> np.ndarray:
    """Where the frame itself is near black (the synthetic display clips dense anatomy at 0): such
    regions touching a black shutter are indistinguishable from it and are excluded with it."""
    dark = (image <= 0.08 * 255).astype(np.uint8)
    return cv2.dilate(dark, np.ones((31, 31), np.uint8)).astype(bool)


def _border(shape, px: int) -> np.ndarray:
    inside = np.zeros(shape, bool)
    inside[px:-px, px:-px] = True
    return inside


def _distance_to(polygon: np.ndarray, shape) -> np.ndarray:
    """Distance of every pixel to the nearest pixel of a filled polygon (-1 on the polygon)."""
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, [polygon], 1)
    out = cv2.distanceTransform((1 - inside), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(inside > 0, -1.0, out)


def _text(image: np.ndarray, text: str, origin, value: int) -> np.ndarray:
    """Draw solid-stroke text (as consoles burn it in) and return its pixels."""
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.0, value, 2, cv2.LINE_8)
    marks = np.zeros(image.shape, np.uint8)
    cv2.putText(marks, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1, 2, cv2.LINE_8)
    return marks.astype(bool)


def _dense(points: np.ndarray, spacing: float = 0.5) -> np.ndarray:
    out = [points[0]]
    for a, b in zip(points[:-1], points[1:]):
        n = max(int(np.ceil(np.hypot(*(b - a)) / spacing)), 1)
        out.extend(a + (b - a) * t for t in np.arange(1, n + 1) / n)
    return np.asarray(out)


def _length(points: np.ndarray) -> float:
    return float(np.sum(np.hypot(*np.diff(points, axis=0).T)))


def _curve_frame(start=(120, 380)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy, smoothly shaded background with a thin dark curve (a guidewire) drawn on it."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    background = 150 + 50 * np.sin(xx / 90.0) * np.cos(yy / 120.0) + rng.normal(0, 6, (SIZE, SIZE))
    t = np.linspace(0.0, 1.0, 400)[:, None]
    x0, y0 = start
    curve = np.hstack([x0 + 260 * t, y0 - 250 * t + 40 * np.sin(6 * t)])
    image = np.clip(background, 0, 255).astype(np.uint8)
    cv2.polylines(image, [np.rint(curve).astype(np.int32)], False, 40, 2, cv2.LINE_AA)
    return image, curve


def _along(curve: np.ndarray, shape, high: float = HIGH) -> np.ndarray:
    """A probability map that is ``high`` on a 3 px band along the curve and LOW elsewhere."""
    prob = np.full(shape, LOW, np.float32)
    cv2.polylines(prob, [np.rint(curve).astype(np.int32)], False, float(high), 3)
    return prob
