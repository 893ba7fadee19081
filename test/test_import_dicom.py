"""guidewire-import dicom: real DICOM files written with pydicom, imported, compared with what was written."""

from __future__ import annotations

import json
import os
import stat

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid

from dicom_factory import IDENTITY, ramp_frames, read_back, save, xa_dataset
from guidewire_model.data import layout
from guidewire_model.importers.cli import main

SALT = ["--salt", "test-salt"]


def _import(args, capsys=None):
    rc = main(["dicom", *map(str, args), "--quiet"])
    return rc, (capsys.readouterr() if capsys is not None else None)


def _frames(seq_dir):
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((seq_dir / layout.FRAMES_DIR).glob("*.png"))]


def _sequences(root):
    return sorted(p for p in root.iterdir() if p.is_dir())


def _meta(seq_dir):
    return json.loads((seq_dir / layout.META_FILE).read_text())


def _scaled(stored: np.ndarray, bits: int) -> np.ndarray:
    """The layout frame expected for stored values: the stored range mapped linearly onto 16 bits."""
    return np.rint(stored.astype(np.float64) * 65535.0 / ((1 << bits) - 1)).astype(np.uint16)


def test_multiframe_12_bit_run_scaled_to_16_bit_with_frame_times(tmp_path):
    stored = ramp_frames(4, (48, 64), bits_stored=12)
    ds = xa_dataset(stored, bits_stored=12)
    ds.FrameTime = 66.7
    ds.PositionerPrimaryAngle = -30.5
    # Bits above BitsStored can carry overlays; they are not image and must be ignored.
    ds.PixelData = (stored | np.uint16(0x8000)).tobytes()
    save(ds, tmp_path / "in" / "run1.dcm")

    rc, _ = _import([tmp_path / "in" / "run1.dcm", "--out", tmp_path / "out", *SALT])

    assert rc == 0
    (seq,) = _sequences(tmp_path / "out")
    frames = _frames(seq)
    assert len(frames) == 4 and all(f.dtype == np.uint16 and f.shape == (48, 64) for f in frames)
    for got, want in zip(frames, stored):
        np.testing.assert_array_equal(got, _scaled(want, 12))
    assert frames[0][0, 0] == 0 and frames[0][0, 1] == 65535  # 4095 -> the full 16-bit range
    meta = _meta(seq)
    assert meta["frame_times_ms"] == [0.0, 66.7, 133.4, 200.1]
    assert meta["frame_time_source"] == "FrameTime"
    assert meta["bits_stored"] == 12 and meta["modality"] == "XA" and meta["positioner_primary_angle_deg"] == -30.5
    assert meta["frames"] == 4


def test_monochrome1_is_inverted_and_8_bit_stays_8_bit(tmp_path):
    stored = ramp_frames(2, (40, 40), bits_stored=8)
    save(xa_dataset(stored, bits_stored=8, photometric="MONOCHROME1"), tmp_path / "m1.dcm")

    assert _import([tmp_path / "m1.dcm", "--out", tmp_path / "out", *SALT])[0] == 0

    (seq,) = _sequences(tmp_path / "out")
    frames = _frames(seq)
    assert all(f.dtype == np.uint8 for f in frames)
    for got, want in zip(frames, stored):
        np.testing.assert_array_equal(got, 255 - want)
    assert _meta(seq)["inverted"] is True


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_compressed_runs_decode_to_the_same_frames(tmp_path, syntax):
    stored = ramp_frames(3, (64, 64), bits_stored=12, seed=3)
    ds = xa_dataset(stored, bits_stored=12)
    ds.compress(syntax)  # pydicom's own RLE encoder / pylibjpeg-openjpeg
    path = save(ds, tmp_path / "c.dcm")
    assert read_back(path).file_meta.TransferSyntaxUID == syntax  # really stored compressed

    assert _import([path, "--out", tmp_path / "out", *SALT])[0] == 0

    (seq,) = _sequences(tmp_path / "out")
    for got, want in zip(_frames(seq), stored):
        np.testing.assert_array_equal(got, _scaled(want, 12))
    assert _meta(seq)["transfer_syntaxes"] == [syntax.name]


def test_single_frame_files_are_one_series_in_acquisition_order(tmp_path):
    series = generate_uid()
    stored = ramp_frames(3, (32, 48), bits_stored=10, seed=5)
    # File names and instance numbers run against acquisition time: time decides.
    for k, (name, instance) in enumerate([("c.dcm", 3), ("a.dcm", 1), ("b.dcm", 2)]):
        ds = xa_dataset(stored[k], bits_stored=10, series_uid=series)
        ds.InstanceNumber = instance
        ds.AcquisitionDateTime = f"20230611093512.{k * 100000:06d}"
        save(ds, tmp_path / "in" / name)

    assert _import([tmp_path / "in", "--out", tmp_path / "out", *SALT])[0] == 0

    (seq,) = _sequences(tmp_path / "out")
    for got, want in zip(_frames(seq), stored):
        np.testing.assert_array_equal(got, _scaled(want, 10))
    meta = _meta(seq)
    assert meta["frame_times_ms"] == [0.0, 100.0, 200.0]
    assert meta["frame_time_source"] == "AcquisitionDateTime"


def test_frame_time_vector_and_a_negative_rescale_slope(tmp_path):
    stored = ramp_frames(3, (32, 32), bits_stored=10, seed=7)
    ds = xa_dataset(stored, bits_stored=10)
    ds.FrameTimeVector = [0, 50, 70]
    ds.RescaleSlope, ds.RescaleIntercept = -1, 1023  # inverts the stored scale
    save(ds, tmp_path / "v.dcm")

    assert _import([tmp_path / "v.dcm", "--out", tmp_path / "out", *SALT])[0] == 0

    (seq,) = _sequences(tmp_path / "out")
    for got, want in zip(_frames(seq), stored):
        np.testing.assert_array_equal(got, 65535 - _scaled(want, 10))
    meta = _meta(seq)
    assert meta["frame_times_ms"] == [0.0, 50.0, 120.0]
    assert meta["rescale"] == [-1.0, 1023.0]


def test_enhanced_per_frame_acquisition_times(tmp_path):
    stored = ramp_frames(3, (24, 24), bits_stored=8)
    ds = xa_dataset(stored, bits_stored=8)
    ds.FrameTime = 999  # per-frame times win over the nominal frame time
    groups = []
    for stamp in ("20230611093512.000000", "20230611093512.040000", "20230611093512.110000"):
        content = Dataset()
        content.FrameAcquisitionDateTime = stamp
        item = Dataset()
        item.FrameContentSequence = [content]
        groups.append(item)
    ds.PerFrameFunctionalGroupsSequence = groups
    save(ds, tmp_path / "e.dcm")

    assert _import([tmp_path / "e.dcm", "--out", tmp_path / "out", *SALT])[0] == 0

    meta = _meta(_sequences(tmp_path / "out")[0])
    assert meta["frame_times_ms"] == [0.0, 40.0, 110.0]
    assert meta["frame_time_source"] == "FrameAcquisitionDateTime"


def test_colour_frames_become_their_luminance(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 255, (2, 20, 30, 3), dtype=np.uint8)
    save(xa_dataset(rgb, bits_stored=8, photometric="RGB"), tmp_path / "rgb.dcm")

    assert _import([tmp_path / "rgb.dcm", "--out", tmp_path / "out", *SALT])[0] == 0

    for got, want in zip(_frames(_sequences(tmp_path / "out")[0]), rgb):
        np.testing.assert_array_equal(got, cv2.cvtColor(want, cv2.COLOR_RGB2GRAY))


def test_one_folder_per_series_grouped_by_salted_patient_hash(tmp_path):
    for name, patient in (("a.dcm", "PAT-1"), ("b.dcm", "PAT-1"), ("c.dcm", "PAT-2")):
        save(xa_dataset(ramp_frames(2, (16, 16), 8), bits_stored=8, patient_id=patient), tmp_path / "in" / name)

    assert _import([tmp_path / "in", "--out", tmp_path / "out1", "--salt", "one"])[0] == 0
    assert _import([tmp_path / "in", "--out", tmp_path / "out2", "--salt", "two"])[0] == 0

    patients1 = sorted(_meta(s)["patient"] for s in _sequences(tmp_path / "out1"))
    patients2 = sorted(_meta(s)["patient"] for s in _sequences(tmp_path / "out2"))
    assert len(patients1) == 3 and len(set(patients1)) == 2  # two series of PAT-1 stay together
    assert not set(patients1) & set(patients2)  # the salt changes every hash
    for seq in _sequences(tmp_path / "out1"):
        assert seq.name.startswith("P" + _meta(seq)["patient"][:8])


def _identifying_values(paths) -> set[str]:
    values = set()
    for path in paths:
        ds = read_back(path)
        for keyword in IDENTITY:
            values.add(str(getattr(ds, keyword)))
        values |= {str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                   str(ds.file_meta.MediaStorageSOPInstanceUID), str(ds.PatientID)}
    for value in list(values):
        values |= {part for part in value.replace(",", " ").replace("^", " ").split() if len(part) >= 4}
    return values


def test_no_identifying_value_survives_anywhere_in_the_output(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    files = [save(xa_dataset(ramp_frames(3, (32, 32), 12), bits_stored=12), tmp_path / "in" / "run.dcm")]
    compressed = xa_dataset(ramp_frames(2, (64, 64), 12), bits_stored=12, patient_id="HOSP-0042-9999")
    compressed.compress(RLELossless)
    files.append(save(compressed, tmp_path / "in" / "Doe_Jane" / "run2.dcm"))  # a name in the path, too
    single = xa_dataset(ramp_frames(1, (32, 32), 8)[0], bits_stored=8)
    single.AcquisitionDateTime = "20230611093512"
    files.append(save(single, tmp_path / "in" / "single.dcm"))

    assert _import([tmp_path / "in", "--out", tmp_path / "out"])[0] == 0

    values = _identifying_values(files)
    salt = (tmp_path / "config" / "guidewire_seg" / "import_salt").read_text().strip()
    values.add(salt)
    outputs = [p for p in (tmp_path / "out").rglob("*")]
    assert len(_sequences(tmp_path / "out")) == 3
    for path in outputs:
        name = str(path.relative_to(tmp_path / "out")).lower()
        data = path.read_bytes().lower() if path.is_file() else b""
        for value in values:
            assert value.lower() not in name, f"{value!r} in the path {path}"
            assert value.lower().encode() not in data, f"{value!r} in the bytes of {path}"
    allowed = {"patient", "source", "series", "frames", "modality", "rows", "columns", "bits_stored",
               "photometric_interpretation", "transfer_syntaxes", "inverted", "stored_range_scaled_to", "rescale",
               "frame_time_source", "frame_times_ms"}
    for seq in _sequences(tmp_path / "out"):
        assert set(_meta(seq)) <= allowed


def test_a_generated_salt_is_kept_outside_the_output_and_reused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    save(xa_dataset(ramp_frames(1, (16, 16), 8), bits_stored=8), tmp_path / "a.dcm")

    rc1, out1 = _import([tmp_path / "a.dcm", "--out", tmp_path / "out1"], capsys)
    rc2, out2 = _import([tmp_path / "a.dcm", "--out", tmp_path / "out2"], capsys)

    salt_file = tmp_path / "config" / "guidewire_seg" / "import_salt"
    assert rc1 == rc2 == 0 and salt_file.is_file()
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    assert str(salt_file) in out1.out and "created now" in out1.out and "reused" in out2.out
    (seq1,), (seq2,) = _sequences(tmp_path / "out1"), _sequences(tmp_path / "out2")
    assert _meta(seq1)["patient"] == _meta(seq2)["patient"]


# --------------------------------------------------------------------------- bad input


def _assert_nothing_written(out, before: dict | None = None):
    partial = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]
    assert not partial, f"staging folder left behind: {partial}"
    if before is None:
        assert not out.exists()
    else:
        assert _snapshot(out) == before


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _valid(tmp_path, name="good.dcm"):
    return save(xa_dataset(ramp_frames(3, (32, 32), 12), bits_stored=12), tmp_path / "in" / name)


_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little endian


@pytest.mark.parametrize("cut", [lambda data: len(data) * 2 // 3, lambda data: data.index(_PIXEL_DATA_TAG) - 6],
                         ids=["in-pixel-data", "in-header"])
def test_truncated_dicom_is_named_and_nothing_half_is_written(tmp_path, capsys, cut):
    _valid(tmp_path, "a_good.dcm")  # imported first, then the damaged one fails
    data = _valid(tmp_path, "b_cut.dcm").read_bytes()
    (tmp_path / "in" / "b_cut.dcm").write_bytes(data[: cut(data)])

    rc, out = _import([tmp_path / "in", "--out", tmp_path / "out", *SALT], capsys)

    assert rc == 2
    assert "b_cut.dcm" in out.err and "truncated" in out.err
    _assert_nothing_written(tmp_path / "out")


def test_corrupt_header_is_named(tmp_path, capsys):
    bad = tmp_path / "in" / "bad.dcm"
    bad.parent.mkdir()
    bad.write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)

    rc, out = _import([bad, "--out", tmp_path / "out", *SALT], capsys)

    assert rc == 2 and str(bad) in out.err and "corrupt" in out.err
    _assert_nothing_written(tmp_path / "out")


def _report(path):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR: no pixels
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.PatientID = IDENTITY["PatientID"]
    return save(ds, path)


def test_a_dicom_that_is_not_an_image_is_refused_by_name_and_skipped_in_folders(tmp_path, capsys):
    report = _report(tmp_path / "in" / "report.dcm")

    rc, out = _import([report, "--out", tmp_path / "out", *SALT], capsys)
    assert rc == 2 and str(report) in out.err and "not an image" in out.err
    _assert_nothing_written(tmp_path / "out")

    _valid(tmp_path)
    (tmp_path / "in" / "notes.txt").write_text("not dicom")
    rc, out = _import([tmp_path / "in", "--out", tmp_path / "out", *SALT], capsys)
    assert rc == 0 and "skipped 2 files" in out.out
    assert len(_sequences(tmp_path / "out")) == 1


def test_a_file_that_is_not_dicom_is_refused(tmp_path, capsys):
    text = tmp_path / "x.dcm"
    text.write_text("hello")
    rc, out = _import([text, "--out", tmp_path / "out", *SALT], capsys)
    assert rc == 2 and str(text) in out.err and "not a DICOM file" in out.err
    _assert_nothing_written(tmp_path / "out")


def test_mismatched_sizes_in_one_series_are_refused(tmp_path, capsys):
    series = generate_uid()
    save(xa_dataset(ramp_frames(1, (32, 32), 8)[0], 8, series_uid=series), tmp_path / "in" / "a.dcm")
    save(xa_dataset(ramp_frames(1, (32, 40), 8)[0], 8, series_uid=series), tmp_path / "in" / "b.dcm")

    rc, out = _import([tmp_path / "in", "--out", tmp_path / "out", *SALT], capsys)

    assert rc == 2 and "same series" in out.err and "32x32" in out.err
    _assert_nothing_written(tmp_path / "out")


def test_a_failed_import_leaves_an_existing_data_set_as_it_was(tmp_path, capsys):
    good = _valid(tmp_path)
    assert _import([good, "--out", tmp_path / "out", *SALT])[0] == 0
    before = _snapshot(tmp_path / "out")
    data = good.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 700])

    rc, _ = _import([cut, "--out", tmp_path / "out", *SALT], capsys)

    assert rc == 2
    _assert_nothing_written(tmp_path / "out", before)


def test_reimporting_a_series_into_the_same_data_set_is_refused(tmp_path, capsys):
    good = _valid(tmp_path)
    assert _import([good, "--out", tmp_path / "out", *SALT])[0] == 0
    before = _snapshot(tmp_path / "out")
    rc, out = _import([good, "--out", tmp_path / "out", *SALT], capsys)
    assert rc == 2 and "already exists" in out.err
    _assert_nothing_written(tmp_path / "out", before)
    assert os.listdir(tmp_path / "out") == [p.name for p in _sequences(tmp_path / "out")]
