"""guidewire-import cvat: polylines clicked along known wires become masks, instances and centrelines."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from annotation_factory import SHAPE, arc, clicks, cvat_rle, cvat_xml, distance_to, pixels, write_frames
from guidewire_model.data import layout
from guidewire_model.data.sequences import scan_dataset
from guidewire_model.importers.cli import main

# Two wires leaving a catheter tip at (32, 48); the catheter comes in from the left border.
WIRE_A = arc((32, 98), 50, -90, -30)  # proximal (32, 48) -> tip (75.3, 73)
WIRE_B = arc((32, -2), 50, 90, 30)  # proximal (32, 48) -> tip (75.3, 23)
CATHETER = np.array([[0.0, 48.0], [15.0, 48.2], [30.0, 48.0]])
# A wire entering from the bottom-left border, with no catheter in view.
WIRE_C = arc((0, 180), 100, -90, -60)  # proximal (0, 80) at the border -> tip (50, 93.4)
WIDTH = 3.0


def _read(seq_dir, index):
    name = layout.frame_name(index)
    mask = cv2.imread(str(seq_dir / layout.MASKS_DIR / name), cv2.IMREAD_UNCHANGED)
    instances = cv2.imread(str(seq_dir / layout.INSTANCES_DIR / name), cv2.IMREAD_UNCHANGED)
    exclude_path = seq_dir / layout.EXCLUDE_DIR / name
    exclude = cv2.imread(str(exclude_path), cv2.IMREAD_UNCHANGED) if exclude_path.exists() else None
    wires = {w.wire_id: w.points for w in layout.read_centrelines(seq_dir / layout.CENTRELINES_DIR /
                                                                  layout.frame_name(index, ".json"))}
    return mask, instances, exclude, wires


def _task(tmp_path):
    """A frames root as guidewire-import dicom writes it, and a CVAT export of three annotated frames."""
    frames_root = tmp_path / "frames"
    frames = write_frames(frames_root / "P1", 3)
    meta = {"patient": "abc123", "frame_times_ms": [0, 67, 133]}
    (frames_root / "P1" / layout.META_FILE).write_text(json.dumps(meta))
    catheter_patch = np.zeros((12, 10), bool)
    catheter_patch[3:9, :] = True
    catheter_patch[5, 9] = False
    images = [
        {"name": "P1/000000.png", "shapes": [
            {"tag": "polyline", "label": "catheter", "points": CATHETER},
            {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_A, 6)[::-1]},  # clicked tip first
            {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_B, 5)},
            {"tag": "polyline", "label": "stent", "points": clicks(WIRE_B, 3)},
        ]},
        {"name": "P1/000001.png", "shapes": [  # moved 2 px right, 1 down, listed in the other order
            {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_B, 5) + [2, 1]},
            {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_A, 6) + [2, 1]},
        ]},
        {"name": "P1/000002.png", "shapes": [
            {"tag": "polyline", "label": "Guidewire", "points": clicks(WIRE_C, 5)[::-1], "wire_id": 7},
            {"tag": "mask", "label": "catheter", "rle": cvat_rle(catheter_patch), "box": (0, 74, 10, 12)},
        ]},
    ]
    xml = cvat_xml(tmp_path / "export" / "annotations.xml", images)
    return frames_root, frames, xml, catheter_patch


def _run(*args):
    return main(["cvat", *map(str, args), "--quiet"])


def test_polylines_become_masks_instances_and_ordered_centrelines(tmp_path, capsys):
    frames_root, frames, xml, _ = _task(tmp_path)

    assert _run(xml, "--images", frames_root, "--out", tmp_path / "data") == 0

    out = capsys.readouterr().out
    assert "stent x1" in out  # other labels are reported, not drawn
    (seq,) = scan_dataset(tmp_path / "data", check_mask_values=True)  # a valid training sequence
    assert seq.name == "P1" and seq.n_frames == 3 and seq.instance_paths and seq.centreline_paths
    for i, frame in enumerate(frames):  # the full-depth frames, found under P1/frames/
        np.testing.assert_array_equal(cv2.imread(str(seq.frame_paths[i]), cv2.IMREAD_UNCHANGED), frame)

    mask, instances, exclude, wires = _read(seq.path, 0)
    assert set(np.unique(mask)) == {0, 1} and np.array_equal(mask, (instances > 0).astype(np.uint8))
    assert set(np.unique(instances)) == {0, 1, 2}
    # Every mask pixel lies on one of the two wires (within half the drawn width), and the wires are covered.
    both = np.concatenate([WIRE_A, WIRE_B])
    assert distance_to(pixels(mask), both).max() <= WIDTH / 2 + 0.5
    covered = mask[np.round(both[:, 1]).astype(int), np.round(both[:, 0]).astype(int)]
    assert covered.all()
    assert distance_to(pixels(instances == 1), WIRE_A).max() <= WIDTH / 2 + 0.5
    assert distance_to(pixels(instances == 2), WIRE_B).max() <= WIDTH / 2 + 0.5
    # Centrelines: on the true wire, proximal end at the catheter even though A was clicked tip first.
    for wire_id, true in ((1, WIRE_A), (2, WIRE_B)):
        points = wires[wire_id]
        assert distance_to(points, true).max() < 0.3
        np.testing.assert_allclose(points[0], true[0], atol=0.5)
        np.testing.assert_allclose(points[-1], true[-1], atol=0.5)
        assert np.median(np.hypot(*np.diff(points, axis=0).T)) == pytest.approx(1.0, abs=0.05)
    # The catheter is kept apart and is never guidewire.
    assert exclude is not None and exclude[48, 15] == 1 and mask[48, 15] == 0 and not (exclude > 1).any()

    # Frame 1: no ids given and the wires listed the other way round; ids follow the wires.
    _, instances1, exclude1, wires1 = _read(seq.path, 1)
    assert exclude1 is None  # no catheter drawn: no exclude file claiming there is none
    assert distance_to(wires1[1], WIRE_A + [2, 1]).max() < 0.3
    assert distance_to(wires1[2], WIRE_B + [2, 1]).max() < 0.3

    meta = json.loads((seq.path / layout.META_FILE).read_text())
    assert meta["patient"] == "abc123" and meta["frame_times_ms"] == [0, 67, 133]  # the import's meta survives
    assert meta["annotations"]["file"] == "annotations.xml"


def test_given_wire_ids_mask_rle_and_the_border_rule(tmp_path):
    frames_root, _, xml, catheter_patch = _task(tmp_path)

    assert _run(xml, "--images", frames_root, "--out", tmp_path / "data") == 0

    mask, instances, exclude, wires = _read(tmp_path / "data" / "P1", 2)
    assert set(np.unique(instances)) == {0, 7} and list(wires) == [7]  # label matched case-insensitively
    expected = np.zeros(SHAPE, np.uint8)
    expected[74:86, 0:10] = catheter_patch
    np.testing.assert_array_equal(exclude, expected)  # CVAT's run-length mask decoded in place
    # Clicked tip first; the end at the border (and by the catheter) is proximal.
    np.testing.assert_allclose(wires[7][0], WIRE_C[0], atol=0.5)
    np.testing.assert_allclose(wires[7][-1], WIRE_C[-1], atol=0.5)


def test_as_drawn_keeps_the_click_order(tmp_path):
    frames_root, _, xml, _ = _task(tmp_path)

    assert _run(xml, "--images", frames_root, "--out", tmp_path / "data", "--as-drawn") == 0

    _, _, _, wires = _read(tmp_path / "data" / "P1", 0)
    np.testing.assert_allclose(wires[1][0], WIRE_A[-1], atol=0.5)  # A was clicked from its tip


def test_wire_width_and_labels_are_options(tmp_path):
    frames_root, _, xml, _ = _task(tmp_path)

    assert _run(xml, "--images", frames_root, "--out", tmp_path / "data", "--wire-width", "5",
                "--wire-label", "guidewire", "--wire-label", "stent", "--catheter-label", "none") == 0

    mask, instances, exclude, wires = _read(tmp_path / "data" / "P1", 0)
    assert exclude is None and mask[48, 15] == 0  # no catheter label any more: the catheter is ignored
    assert len(wires) == 3  # the stent polyline now counts as a wire
    both = np.concatenate([WIRE_A, WIRE_B])
    assert 2.0 < distance_to(pixels(mask), both).max() <= 5 / 2 + 0.5


def test_a_wire_drawn_as_polygon_is_filled_and_traced(tmp_path):
    write_frames(tmp_path / "frames" / "P2", 1, dtype=np.uint8)
    # An outline 4 px wide around WIRE_A.
    normal = np.gradient(WIRE_A, axis=0)[:, ::-1] * [1, -1]
    normal /= np.hypot(*normal.T)[:, None]
    outline = np.concatenate([WIRE_A + 2 * normal, (WIRE_A - 2 * normal)[::-1]])[::8]
    xml = cvat_xml(tmp_path / "a.xml", [{"name": "P2/000000.png", "shapes": [
        {"tag": "polygon", "label": "guidewire", "points": outline}]}])

    assert _run(xml, "--images", tmp_path / "frames", "--out", tmp_path / "data") == 0

    mask, _, _, wires = _read(tmp_path / "data" / "P2", 0)
    expected = np.zeros(SHAPE, np.uint8)
    cv2.fillPoly(expected, [np.round(outline * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    np.testing.assert_array_equal(mask, expected)
    # Traced from the pixels (skeleton, ends extended to the outline): within a pixel or so of the wire,
    # and along all of it.
    assert distance_to(wires[1], WIRE_A).max() < 1.5
    assert distance_to(WIRE_A[20:-20], wires[1]).max() < 1.0


# --------------------------------------------------------------------------- bad input


def _nothing_written(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]


def _fails(capsys, *args):
    assert _run(*args) == 2
    return capsys.readouterr().err


def test_an_image_that_does_not_exist_is_named(tmp_path, capsys):
    frames_root, _, xml, _ = _task(tmp_path)
    text = xml.read_text().replace("P1/000002.png", "P1/000009.png")
    xml.write_text(text)

    err = _fails(capsys, xml, "--images", frames_root, "--out", tmp_path / "data")

    assert str(xml) in err and "'P1/000009.png'" in err and "does not exist" in err
    _nothing_written(tmp_path / "data")


def test_a_polyline_with_one_point_is_named(tmp_path, capsys):
    write_frames(tmp_path / "frames" / "P1", 2)
    xml = cvat_xml(tmp_path / "a.xml", [
        {"name": "P1/000000.png", "shapes": [{"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_A, 4)}]},
        {"name": "P1/000001.png", "shapes": [{"tag": "polyline", "label": "guidewire", "points": WIRE_A[:1]}]},
    ])

    err = _fails(capsys, xml, "--images", tmp_path / "frames", "--out", tmp_path / "data")

    assert "'P1/000001.png'" in err and "at least two distinct points" in err
    _nothing_written(tmp_path / "data")


def test_an_annotation_for_another_image_size_is_refused(tmp_path, capsys):
    write_frames(tmp_path / "frames" / "P1", 1)
    xml = cvat_xml(tmp_path / "a.xml", [{"name": "P1/000000.png", "width": 256, "height": 192, "shapes": [
        {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_A, 4)}]}])

    err = _fails(capsys, xml, "--images", tmp_path / "frames", "--out", tmp_path / "data")

    assert "'P1/000000.png'" in err and "256x192" in err and "128x96" in err
    _nothing_written(tmp_path / "data")


def test_cvat_for_video_and_repeated_ids_are_refused(tmp_path, capsys):
    write_frames(tmp_path / "frames" / "P1", 1)
    xml = cvat_xml(tmp_path / "a.xml", [{"name": "P1/000000.png", "shapes": [
        {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_A, 4), "wire_id": 1},
        {"tag": "polyline", "label": "guidewire", "points": clicks(WIRE_B, 4), "wire_id": 1}]}])
    err = _fails(capsys, xml, "--images", tmp_path / "frames", "--out", tmp_path / "data")
    assert "same wire id 1" in err
    _nothing_written(tmp_path / "data")

    video = tmp_path / "video.xml"
    video.write_text('<annotations><version>1.1</version><track id="0" label="guidewire"/></annotations>')
    assert "CVAT for images 1.1" in _fails(capsys, video, "--out", tmp_path / "data")
    broken = tmp_path / "broken.xml"
    broken.write_text("<annotations><image")
    assert str(broken) in _fails(capsys, broken, "--out", tmp_path / "data")
    _nothing_written(tmp_path / "data")
