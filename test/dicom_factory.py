"""Real DICOM files for the importer tests, written with pydicom (no fixtures from elsewhere).

Every file carries the identifying values of :data:`IDENTITY`, so a test can prove that none of them
reaches an imported data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, XRayAngiographicImageStorage, generate_uid

#: Identifying values set on every file (keyword -> value); none may survive an import.
IDENTITY = {
    "PatientName": "Doe^Jane^Quincy",
    "PatientID": "HOSP-0042-7781",
    "PatientBirthDate": "19450317",
    "PatientAddress": "12 Harbour Lane, Exampleton",
    "OtherPatientIDs": "ALT-99812",
    "InstitutionName": "St Example Heart Centre",
    "InstitutionAddress": "1 Cardiac Way, Exampleton",
    "ReferringPhysicianName": "Hartley^Miriam",
    "PerformingPhysicianName": "Okafor^Bede",
    "OperatorsName": "Lindqvist^Aino",
    "AccessionNumber": "ACC55123908",
    "StationName": "CATHLAB-EAST-2",
    "DeviceSerialNumber": "SN-77X-310245",
    "StudyID": "STUDY-8841",
    "StudyDate": "20230611",
    "SeriesDate": "20230611",
    "AcquisitionDate": "20230611",
    "ContentDate": "20230611",
    "StudyTime": "093512",
    "StudyDescription": "PCI LAD Jane Doe",
}


def xa_dataset(frames: np.ndarray, bits_stored: int, photometric: str = "MONOCHROME2", *,
               patient_id: str = IDENTITY["PatientID"], series_uid: str | None = None,
               identity: dict | None = None) -> Dataset:
    """An XA image data set holding ``frames`` ((N, H, W) or (H, W) unsigned integers)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = XRayAngiographicImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = "XA"
    for keyword, value in (identity or IDENTITY).items():
        setattr(ds, keyword, value)
    ds.PatientID = patient_id
    ds.set_pixel_data(np.ascontiguousarray(frames), photometric, bits_stored)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def ramp_frames(n: int, shape: tuple[int, int], bits_stored: int, seed: int = 0) -> np.ndarray:
    """(n, H, W) frames using the whole stored range, each different (random texture + ramp)."""
    rng = np.random.default_rng(seed)
    top = (1 << bits_stored) - 1
    ramp = np.linspace(0, top, shape[0] * shape[1]).reshape(shape)
    frames = [(ramp + rng.integers(0, top // 8 + 1, shape) * k) % (top + 1) for k in range(n)]
    dtype = np.uint8 if bits_stored <= 8 else np.uint16
    out = np.stack(frames).astype(dtype)
    out[0, 0, 0], out[0, 0, 1] = 0, top  # both ends of the range present
    return out


def read_back(path: Path) -> Dataset:
    return pydicom.dcmread(path)
