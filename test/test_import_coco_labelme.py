"""guidewire-import coco / labelme: the same wires from the other two annotation formats."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np

from annotation_factory import SHAPE, arc, clicks, coco_rle_string, distance_to, pixels, write_json
from guidewire_model.data import layout
from guidewire_model.data.sequences import scan_dataset
from guidewire_model.importers.cli import main
from guidewire_model.importers.wire_geometry import draw_curve

WIRE_A = arc((32, 98), 50, -90, -30)  # proximal (32, 48) -> tip (75.3, 73)
WIRE_B = arc((32, -2), 50, 90, 30)
CATHETER = np.array([[0.0, 46.0], [30.0, 46.0], [30.0, 50.0], [0.0, 50.0]])  # an outline around the catheter


def _image(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, SHAPE, dtype=np.uint8)
    cv2.imwrite(str(path), image)
    return image


def _band(curve, width=4.0):
    return draw_curve(np.zeros(SHAPE, np.uint8), curve, width).astype(bool)


def _labels(seq_dir, index):
    name = layout.frame_name(index)
    read = lambda sub: cv2.imread(str(seq_dir / sub / name), cv2.IMREAD_UNCHANGED)  # noqa: E731
    exclude = read(layout.EXCLUDE_DIR) if (seq_dir / layout.EXCLUDE_DIR / name).exists() else None
    wires = {w.wire_id: w.points for w in layout.read_centrelines(seq_dir / layout.CENTRELINES_DIR /
                                                                  layout.frame_name(index, ".json"))}
    return read(layout.MASKS_DIR), read(layout.INSTANCES_DIR), exclude, wires


def _coco(tmp_path):
    images = tmp_path / "images"
    frames = {name: _image(images / name, seed) for seed, name in enumerate(["runA/0010.png", "runA/0002.png",
                                                                            "runB/x.png"])}
    keypoints = []
    for k, (x, y) in enumerate(clicks(WIRE_A, 6)):
        keypoints += [float(x), float(y), 2]
        if k == 2:
            keypoints += [0.0, 0.0, 0]  # an unlabelled keypoint (v = 0) is no click
    data = {
        "images": [{"id": 1, "file_name": "runA/0010.png", "width": SHAPE[1], "height": SHAPE[0]},
                   {"id": 2, "file_name": "runA/0002.png", "width": SHAPE[1], "height": SHAPE[0]},
                   {"id": 3, "file_name": "runB/x.png", "width": SHAPE[1], "height": SHAPE[0]}],
        "categories": [{"id": 1, "name": "guidewire"}, {"id": 2, "name": "catheter"}, {"id": 3, "name": "stent"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "keypoints": keypoints, "num_keypoints": 6, "track_id": 1},
            {"id": 11, "image_id": 1, "category_id": 2, "segmentation": [CATHETER.ravel().tolist()]},
            {"id": 12, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]},
            {"id": 13, "image_id": 2, "category_id": 1, "attributes": {"wire_id": 2},
             "segmentation": {"counts": coco_rle_string(_band(WIRE_B)), "size": list(SHAPE)}},
            {"id": 14, "image_id": 3, "category_id": 1,
             "segmentation": {"counts": _rle_counts(_band(WIRE_A)), "size": list(SHAPE)}},
        ],
    }
    return write_json(tmp_path / "coco.json", data), frames


def _rle_counts(mask):
    """Uncompressed COCO RLE: column-major runs, background first."""
    flat = mask.T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    return ([0] + counts) if flat[0] else counts


def test_coco_keypoints_polygons_and_rle_masks(tmp_path, capsys):
    path, frames = _coco(tmp_path)

    assert main(["coco", str(path), "--images", str(tmp_path / "images"), "--out", str(tmp_path / "data"),
                 "--quiet"]) == 0

    assert "stent" in capsys.readouterr().out
    seqs = {s.name: s for s in scan_dataset(tmp_path / "data", check_mask_values=True)}
    assert sorted(seqs) == ["runA", "runB"] and seqs["runA"].n_frames == 2
    # Frames by name with numbers compared as numbers: 0002 before 0010.
    np.testing.assert_array_equal(cv2.imread(str(seqs["runA"].frame_paths[0]), cv2.IMREAD_UNCHANGED),
                                  frames["runA/0002.png"])
    mask, instances, exclude, wires = _labels(seqs["runA"].path, 1)  # runA/0010.png: keypoints + catheter
    assert distance_to(pixels(mask), WIRE_A).max() <= 1.5 + 0.3
    assert distance_to(wires[1], WIRE_A).max() < 0.3
    np.testing.assert_allclose(wires[1][0], WIRE_A[0], atol=0.5)  # proximal end at the catheter
    assert exclude[48, 15] == 1 and exclude[40, 15] == 0 and mask[48, 15] == 0
    mask, instances, exclude, wires = _labels(seqs["runA"].path, 0)  # runA/0002.png: compressed RLE, id 2
    np.testing.assert_array_equal(mask.astype(bool), _band(WIRE_B))
    assert set(np.unique(instances)) == {0, 2} and exclude is None
    assert distance_to(wires[2], WIRE_B).max() < 1.5
    mask, _, _, _ = _labels(seqs["runB"].path, 0)  # uncompressed RLE
    np.testing.assert_array_equal(mask.astype(bool), _band(WIRE_A))


def test_coco_annotation_naming_a_missing_image_is_refused(tmp_path, capsys):
    path, _ = _coco(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][3]["image_id"] = 99
    path.write_text(json.dumps(data))

    assert main(["coco", str(path), "--images", str(tmp_path / "images"), "--out", str(tmp_path / "data"),
                 "--quiet"]) == 2

    err = capsys.readouterr().err
    assert str(path) in err and "annotation 13" in err and "image_id 99" in err
    assert not (tmp_path / "data").exists()


def _labelme(folder, name, shapes, image=None, embed=None, size=SHAPE):
    data = {"version": "5.4.1", "shapes": shapes, "imageHeight": size[0], "imageWidth": size[1],
            "imagePath": image, "imageData": embed}
    return write_json(folder / name, data)


def _shape(label, kind, points, group=None):
    return {"label": label, "shape_type": kind, "points": np.asarray(points).tolist(), "group_id": group, "flags": {}}


def test_labelme_linestrips_polygons_and_embedded_images(tmp_path):
    folder = tmp_path / "labelme" / "run1"
    first = _image(folder / "a.png", seed=1)
    second = np.random.default_rng(2).integers(0, 255, SHAPE, dtype=np.uint8)
    embedded = base64.b64encode(cv2.imencode(".png", second)[1].tobytes()).decode()
    _labelme(folder, "a.json", [_shape("guidewire", "linestrip", clicks(WIRE_A, 6)[::-1], 3),
                                _shape("catheter", "polygon", CATHETER),
                                _shape("marker", "point", [[5, 5]])], image="a.png")
    _labelme(folder, "b.json", [_shape("guidewire", "line", [WIRE_B[0], WIRE_B[-1]], 3)], embed=embedded)

    assert main(["labelme", str(tmp_path / "labelme"), "--out", str(tmp_path / "data"), "--quiet"]) == 0

    (seq,) = scan_dataset(tmp_path / "data", check_mask_values=True)
    assert seq.name == "run1" and seq.n_frames == 2
    np.testing.assert_array_equal(cv2.imread(str(seq.frame_paths[0]), cv2.IMREAD_UNCHANGED), first)
    np.testing.assert_array_equal(cv2.imread(str(seq.frame_paths[1]), cv2.IMREAD_UNCHANGED), second)
    mask, instances, exclude, wires = _labels(seq.path, 0)
    assert set(np.unique(instances)) == {0, 3} and exclude[48, 10] == 1
    assert distance_to(wires[3], WIRE_A).max() < 0.3
    np.testing.assert_allclose(wires[3][0], WIRE_A[0], atol=0.5)  # clicked tip first, re-ordered
    _, instances, _, wires = _labels(seq.path, 1)
    straight = np.linspace(WIRE_B[0], WIRE_B[-1], 5000)  # a two-point line is the straight segment
    assert distance_to(wires[3], straight).max() < 0.01 and set(np.unique(instances)) == {0, 3}


def test_labelme_line_with_one_point_is_refused(tmp_path, capsys):
    folder = tmp_path / "labelme"
    _image(folder / "a.png")
    bad = _labelme(folder, "a.json", [_shape("guidewire", "line", [[10, 10], [10, 10]])], image="a.png")

    assert main(["labelme", str(folder), "--out", str(tmp_path / "data"), "--quiet"]) == 2

    err = capsys.readouterr().err
    assert str(bad) in err and "at least two distinct points" in err
    assert not (tmp_path / "data").exists()
