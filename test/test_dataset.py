"""Tests of guidewire_model.training.dataset: validation errors, patient splits and the torch Dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from guidewire_model.data import layout

from guidewire_model.runtime import preprocess
from guidewire_model.training.config import AugmentConfig
from guidewire_model.data.sequences import DatasetError, Split, load_frame, resize_mask, scan_dataset, split_by_patient
from guidewire_model.training.dataset import SegmentationDataset
from guidewire_model.core.wire import Wire

SIZE = 96
MEAN, STD = 0.449, 0.226
AUG = AugmentConfig(rotate=True, flip_x=True, flip_y=True, intensity=False)


def _line_frame(seed: int, size: int = SIZE, bit_depth: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(2):
        p0, p1 = rng.integers(4, size - 4, 2), rng.integers(4, size - 4, 2)
        cv2.line(mask, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1, 1)
    top = 255 if bit_depth == 8 else 65535
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    image = (rng.uniform(0.55, 0.75, (size, size)) * top).astype(dtype)
    image[mask > 0] = int(0.25 * top)
    return image, mask


def _write_sequence(root: Path, name: str, n_frames: int = 2, patient: str | None = None, bit_depth: int = 8) -> Path:
    seq = root / name
    for i in range(n_frames):
        image, mask = _line_frame(hash((name, i)) % 2**32, bit_depth=bit_depth)
        layout.write_sample(seq, i, image, mask)
    if patient is not None:
        (seq / layout.META_FILE).write_text(json.dumps({"patient": patient}))
    return seq


def _make_dataset(root: Path, n_sequences: int, n_frames: int = 2) -> list[Path]:
    """A small data set: the synthetic generator's when it exists, else drawn lines."""
    try:
        from guidewire_model import synthetic
    except ImportError:
        synthetic = None
    if not hasattr(synthetic, "write_dataset"):  # generator not (fully) there yet
        return [_write_sequence(root, f"P{i:03d}", n_frames) for i in range(n_sequences)]
    cfg = synthetic.SyntheticConfig.preset("easy", size=SIZE)
    return [Path(p) for p in synthetic.write_dataset(root, n_sequences, n_frames, cfg, seed=0, progress=False)]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _make_dataset(root, 4, 2)
    return root


# --------------------------------------------------------------------------- scanning


def test_scan_reads_the_layout(data_root: Path):
    seqs = scan_dataset(data_root, check_mask_values=True)
    assert [s.name for s in seqs] == sorted(p.name for p in data_root.iterdir())
    s = seqs[0]
    assert s.n_frames == len(s) == 2 and s.shape == (SIZE, SIZE) and s.dtype in ("uint8", "uint16")
    assert [p.name for p in s.frame_paths] == [layout.frame_name(0), layout.frame_name(1)]
    assert all(p.parent.name == layout.MASKS_DIR for p in s.mask_paths)
    image, mask = load_frame(s, 1)
    assert image.shape == (SIZE, SIZE) and image.dtype == np.dtype(s.dtype)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}


def test_patient_from_meta_json_or_folder_name(tmp_path: Path):
    _write_sequence(tmp_path, "a", patient="P7")
    _write_sequence(tmp_path, "b")
    (tmp_path / "_notes").mkdir()  # '_' folders are not sequences
    seqs = scan_dataset(tmp_path)
    assert [(s.name, s.patient) for s in seqs] == [("a", "P7"), ("b", "b")]


def test_16_bit_frames_and_255_masks_and_optional_annotations(tmp_path: Path):
    seq = tmp_path / "s"
    image, mask = _line_frame(1, bit_depth=16)
    wire = Wire.from_points(np.array([[1.0, 2.0], [3.0, 4.0]]), wire_id=1)
    layout.write_sample(seq, 0, image, mask, instances=mask, wires=[wire])
    cv2.imwrite(str(seq / "masks" / "000000.png"), mask * 255)  # the {0, 255} convention
    (info,) = scan_dataset(tmp_path, check_mask_values=True)
    assert info.dtype == "uint16"
    assert info.instance_paths == (seq / "instances" / "000000.png",)
    assert info.centreline_paths == (seq / "centrelines" / "000000.json",)
    loaded_image, loaded_mask = load_frame(info, 0)
    np.testing.assert_array_equal(loaded_image, image)
    np.testing.assert_array_equal(loaded_mask, mask)  # 255 read back as 1


def test_error_missing_optional_annotation_and_orphan_mask(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    (seq / layout.INSTANCES_DIR).mkdir()
    assert "instances/" in _error(tmp_path, seq / layout.INSTANCES_DIR / "000000.png")
    (seq / layout.INSTANCES_DIR).rmdir()
    cv2.imwrite(str(seq / "masks" / "000005.png"), np.zeros((SIZE, SIZE), np.uint8))
    assert "mask has no frame" in _error(tmp_path, seq / "masks" / "000005.png")


def _error(root: Path, match_file: Path, *, check_masks: bool = False) -> str:
    with pytest.raises(DatasetError) as info:
        seqs = scan_dataset(root, check_mask_values=check_masks)
        for s in seqs:  # errors found only on load
            for i in range(len(s)):
                load_frame(s, i)
    message = str(info.value)
    assert str(match_file) in message, message
    return message


def test_error_root_missing_or_without_sequences(tmp_path: Path):
    assert "not found" in _error(tmp_path / "nope", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert "no sequence folders" in _error(tmp_path / "empty", tmp_path / "empty")
    (tmp_path / "odd" / "stuff").mkdir(parents=True)
    assert "frames/" in _error(tmp_path / "odd", tmp_path / "odd" / "stuff")


def test_error_sequence_without_frames(tmp_path: Path):
    (tmp_path / "s" / layout.FRAMES_DIR).mkdir(parents=True)
    assert "no frames" in _error(tmp_path, tmp_path / "s" / layout.FRAMES_DIR)


def test_error_frame_without_mask(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    (seq / "masks" / "000001.png").unlink()
    assert "has no mask" in _error(tmp_path, seq / "frames" / "000001.png")


def test_error_mask_size_differs_from_frame(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    cv2.imwrite(str(seq / "masks" / "000000.png"), np.zeros((SIZE, SIZE + 2), np.uint8))
    assert "size" in _error(tmp_path, seq / "masks" / "000000.png")


def test_error_non_binary_mask_named_on_load_and_on_full_check(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    bad = np.zeros((SIZE, SIZE), np.uint8)
    bad[3, 3] = 128
    cv2.imwrite(str(seq / "masks" / "000001.png"), bad)
    assert "not binary" in _error(tmp_path, seq / "masks" / "000001.png")
    assert "not binary" in _error(tmp_path, seq / "masks" / "000001.png", check_masks=True)
    seqs = scan_dataset(tmp_path)  # the cheap scan passes; the load names the file
    ds = SegmentationDataset(seqs, 32, MEAN, STD, None, 0)
    with pytest.raises(DatasetError, match="000001.png"):
        ds[1]


def test_error_corrupt_png(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    (seq / "frames" / "000000.png").write_bytes(b"not a png at all, sorry")
    assert "not a valid PNG" in _error(tmp_path, seq / "frames" / "000000.png")
    # Truncated after a valid header: caught when the frame is decoded.
    seq2 = _write_sequence(tmp_path / "t", "s")
    path = seq2 / "frames" / "000001.png"
    path.write_bytes(path.read_bytes()[:60])
    assert "corrupt" in _error(tmp_path / "t", path)


def test_error_frame_not_single_channel_8_or_16_bit(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    cv2.imwrite(str(seq / "frames" / "000000.png"), np.zeros((SIZE, SIZE, 3), np.uint8))
    assert "single-channel" in _error(tmp_path, seq / "frames" / "000000.png")


def test_error_mask_without_frame_and_bad_meta(tmp_path: Path):
    seq = _write_sequence(tmp_path, "s")
    (seq / "frames" / "000001.png").rename(seq / "frames" / "000009.png")
    assert "has no mask" in _error(tmp_path, seq / "frames" / "000009.png")
    (seq / "frames" / "000009.png").rename(seq / "frames" / "000001.png")
    (seq / layout.META_FILE).write_text("{patient: oops")
    assert "JSON" in _error(tmp_path, seq / layout.META_FILE)


# --------------------------------------------------------------------------- splits


def _patient_root(tmp_path: Path, n_patients: int, seqs_per_patient: int = 1) -> list:
    for p in range(n_patients):
        for s in range(seqs_per_patient):
            _write_sequence(tmp_path, f"seq{p:02d}{'abc'[s]}", n_frames=1, patient=f"PAT{p:02d}")
    return scan_dataset(tmp_path)


def test_split_keeps_patients_whole_and_is_reproducible(tmp_path: Path):
    seqs = _patient_root(tmp_path, 10, seqs_per_patient=2)
    split = split_by_patient(seqs, test_patients=3, val_patients=2, seed=5)
    patient_of = {s.name: s.patient for s in seqs}
    parts = {part: {patient_of[n] for n in getattr(split, part)} for part in ("train", "val", "test")}
    assert [len(parts[p]) for p in ("train", "val", "test")] == [5, 2, 3]
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"] or parts["val"] & parts["test"])
    assert sorted(split.train + split.val + split.test) == sorted(patient_of)  # every sequence once
    for part in ("train", "val", "test"):  # both sequences of a patient stay together
        names = set(getattr(split, part))
        assert all((n[:-1] + "a" in names) == (n[:-1] + "b" in names) for n in names)
        assert set(getattr(split, f"{part}_patients")) == parts[part]
    assert split_by_patient(seqs, 3, 2, seed=5) == split
    others = {split_by_patient(seqs, 3, 2, seed=s).test for s in range(6, 12)}
    assert len(others | {split.test}) > 1


def test_split_json_round_trip_and_sequences(tmp_path: Path):
    seqs = _patient_root(tmp_path / "d", 5)
    split = split_by_patient(seqs, 1, 1, seed=0)
    assert Split.from_json(split.to_json()) == split
    split.save(tmp_path / "run" / "split.json")
    assert Split.load(tmp_path / "run" / "split.json") == split
    test_seqs = split.sequences("test", seqs)
    assert [s.name for s in test_seqs] == list(split.test)
    with pytest.raises(DatasetError, match="not found"):
        split.sequences("train", seqs[:1] if seqs[0].name not in split.train else seqs[1:2])
    with pytest.raises(DatasetError, match="bad.json"):
        Split.from_json('{"train": []}', source="bad.json")


def test_split_too_few_patients_says_how_many(tmp_path: Path):
    seqs = _patient_root(tmp_path, 3)
    with pytest.raises(DatasetError, match=r"3 patient\(s\).*2 test \+ 1 val"):
        split_by_patient(seqs, test_patients=2, val_patients=1, seed=0)


# --------------------------------------------------------------------------- torch Dataset


def test_dataset_items_match_inference_preprocessing_without_augmentation(data_root: Path):
    seqs = scan_dataset(data_root)
    ds = SegmentationDataset(seqs, 64, MEAN, STD, augment=None, seed=0)
    assert len(ds) == sum(len(s) for s in seqs)
    image, mask = ds[3]
    assert image.shape == mask.shape == (1, 64, 64)
    assert image.dtype == mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0} and mask.sum() > 0
    name, frame = ds.sample_id(3)
    seq = next(s for s in seqs if s.name == name)
    raw_image, raw_mask = load_frame(seq, frame)
    np.testing.assert_allclose(image.numpy(), preprocess.prepare_input(raw_image, 64, MEAN, STD), atol=1e-6)
    np.testing.assert_array_equal(mask[0].numpy(), resize_mask(raw_mask, 64))
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_augmentation_is_a_pure_function_of_seed_epoch_index(data_root: Path):
    seqs = scan_dataset(data_root)
    a = SegmentationDataset(seqs, 64, MEAN, STD, AUG, seed=3)
    b = SegmentationDataset(seqs, 64, MEAN, STD, AUG, seed=3)
    b[5], b[0]  # touching other samples first changes nothing
    for ds in (a, b):
        ds.set_epoch(2)
    for i in (0, 5):
        torch.testing.assert_close(a[i], b[i])
    first = a[1]
    a.set_epoch(3)
    assert not torch.equal(first[1], a[1][1]) or not torch.equal(first[0], a[1][0])
    c = SegmentationDataset(seqs, 64, MEAN, STD, AUG, seed=4)
    c.set_epoch(2)
    assert not torch.equal(c[0][0], b[0][0])
    # The augmented mask still lines up with the wire in the augmented image (dark pixels).
    image, mask = a[0]
    wire = image[0][mask[0] > 0].mean()
    background = image[0][mask[0] == 0].mean()
    assert wire < background


def test_resize_mask_keeps_a_thin_diagonal_wire_connected():
    mask = np.zeros((128, 128), np.uint8)
    cv2.line(mask, (0, 5), (127, 122), 1, 1)  # 1-pixel diagonal wire
    small = resize_mask(mask, 64)
    assert small.dtype == np.uint8 and set(np.unique(small)) == {0, 1}
    n_components, _ = cv2.connectedComponents(small, connectivity=8)
    assert n_components == 2  # background + one wire
    # Not smeared either: about one pixel per column.
    assert small.sum() < 2 * 64
    big = resize_mask(mask[:64, :64], 128)
    assert set(np.unique(big)) == {0, 1}


def test_exclude_masks_may_cover_some_frames_only(tmp_path):
    # An annotator draws the catheter where it is seen: frames without an exclude file have none.
    from guidewire_model.data.sequences import load_exclude

    seq_dir = tmp_path / "data" / "seq"
    for i in range(3):
        exclude = np.eye(8, dtype=np.uint8) if i != 1 else None
        layout.write_sample(seq_dir, i, np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), exclude=exclude)
    (seq,) = scan_dataset(tmp_path / "data")
    assert [p is None for p in seq.exclude_paths] == [False, True, False]
    np.testing.assert_array_equal(load_exclude(seq, 0), np.eye(8, dtype=np.uint8))
    assert load_exclude(seq, 1) is None
    (seq_dir / layout.EXCLUDE_DIR / layout.frame_name(2)).write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="000002.png"):
        scan_dataset(tmp_path / "data")


def test_with_devices_puts_the_exclude_mask_into_the_target(tmp_path):
    from guidewire_model.training.dataset import SegmentationDataset
    from guidewire_model.training.losses import DEVICE_LABEL

    seq_dir = tmp_path / "seq_000"
    mask = np.zeros((16, 16), np.uint8)
    mask[8, :] = 1
    exclude = np.zeros((16, 16), np.uint8)
    exclude[:, 3] = 1  # crosses the wire at (8, 3): the wire wins there
    layout.write_sample(seq_dir, 0, np.full((16, 16), 128, np.uint8), mask, exclude=exclude)
    layout.write_sample(seq_dir, 1, np.full((16, 16), 128, np.uint8), mask)  # no exclude file
    seq = scan_dataset(tmp_path)[0]
    plain = SegmentationDataset([seq], 16, 0.5, 0.25, None, 0)
    marked = SegmentationDataset([seq], 16, 0.5, 0.25, None, 0, with_devices=True)
    y = marked[0][1][0].numpy()
    expected = np.where(mask > 0, 1, np.where(exclude > 0, DEVICE_LABEL, 0)).astype(np.float32)
    assert np.array_equal(y, expected) and y[8, 3] == 1
    assert torch.equal(marked[0][0], plain[0][0])
    assert torch.equal(marked[1][1], plain[1][1])  # a frame without an exclude mask: plain 0/1
