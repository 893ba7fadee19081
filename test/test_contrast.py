"""Tests of guidewire_model.evaluation.contrast: the contrast-to-noise ratio against hand-made
frames of known depth and noise, and the command on a generator data set and a plain folder."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from guidewire_model.evaluation.contrast import (
    FrameContrast,
    contrast_to_noise,
    cross_sections,
    fine_noise,
    frame_contrast,
    main,
    summarise,
)
from guidewire_model.synthetic import SyntheticConfig, write_dataset


def _line_frame(depth: float, sigma: float, seed: int = 0, dtype=np.uint8):
    """A flat 128 px frame at 128 with white noise ``sigma`` and a 2 px line ``depth`` darker."""
    rng = np.random.default_rng(seed)
    image = 128.0 + rng.normal(0.0, sigma, (128, 128))
    mask = np.zeros((128, 128), np.uint8)
    mask[20:110, 63:65] = 1
    image[mask > 0] -= depth
    return np.clip(np.round(image), 0, 255 if dtype == np.uint8 else 65535).astype(dtype), mask


def test_fine_noise_of_white_noise_is_a_fixed_share_of_its_sigma():
    a, _ = _line_frame(0.0, 4.0)
    b, _ = _line_frame(0.0, 8.0, seed=1)
    # Subtracting a 1 px blur keeps the same share of white noise whatever its sigma.
    assert fine_noise(b) / fine_noise(a) == pytest.approx(2.0, rel=0.05)
    flat = np.full((32, 32), 7, np.uint8)
    assert fine_noise(flat) == 0.0
    assert math.isnan(fine_noise(flat, np.ones((32, 32), bool)))


def test_ratio_grows_with_the_depth_and_falls_with_the_noise():
    ratios = {}
    for depth in (8.0, 16.0, 32.0):
        image, mask = _line_frame(depth, 4.0)
        noise = fine_noise(image, mask)
        # The 90th percentile of darkness: the depth, plus 1.28 sigma of the pixel's own noise, less the
        # 9 x 9 median's own shift (18 of its 81 pixels are on the line: their rank moves it down to
        # the 36th percentile of the background, -0.36 sigma).
        expected = (depth + (1.28 - 0.36) * 4.0) / noise
        ratios[depth] = contrast_to_noise(image, mask)
        assert ratios[depth] == pytest.approx(expected, rel=0.15)
    assert ratios[8.0] < ratios[16.0] < ratios[32.0]
    image, mask = _line_frame(16.0, 8.0)
    assert contrast_to_noise(image, mask) < ratios[16.0]


def test_sixteen_bit_frames_give_the_ratio_of_the_same_frame_in_eight_bit():
    image8, mask = _line_frame(20.0, 4.0)
    image16 = image8.astype(np.uint16) * 257
    assert contrast_to_noise(image16, mask) == pytest.approx(contrast_to_noise(image8, mask), rel=0.1)


def test_empty_mask_and_noiseless_frame_give_nan_and_bad_shapes_raise():
    image, mask = _line_frame(10.0, 4.0)
    assert math.isnan(contrast_to_noise(image, np.zeros_like(mask)))
    assert math.isnan(contrast_to_noise(np.full((64, 64), 9, np.uint8), np.eye(64, dtype=np.uint8)))
    with pytest.raises(ValueError, match="2-D image"):
        contrast_to_noise(image, mask[:10])


def test_frame_and_summary_report_devices_against_the_wire():
    image, wire = _line_frame(10.0, 4.0)
    catheter = np.zeros_like(wire)
    catheter[20:110, 30:33] = 1
    image[catheter > 0] -= 25
    result = frame_contrast("f", image, wire, catheter)
    assert result.devices > 2.0 * result.wire
    assert result.device_to_wire == pytest.approx(result.devices / result.wire)
    alone = frame_contrast("g", image, wire, None)
    assert math.isnan(alone.devices) and math.isnan(alone.device_to_wire)
    summary = summarise([result, alone, FrameContrast("h", 2 * result.wire, math.nan, 1.0)])
    assert summary["frames"] == 3
    assert summary["wire_median"] == pytest.approx(result.wire)  # median of (w, w, 2w)
    assert summary["devices_median"] == pytest.approx(result.devices)  # nan frames left out


def test_command_on_a_data_set_sees_the_faint_wire_variation(tmp_path, capsys):
    figures = {}
    for faint in (0.0, 1.0):
        root = tmp_path / f"faint{faint}"
        cfg = SyntheticConfig(size=160, n_distractors=0, contrast=0.0, wire_width=(2.0, 3.0),
                              faint_wire_probability=faint)
        write_dataset(root, 3, 1, cfg, seed=11, progress=False)
        out = tmp_path / f"faint{faint}.json"
        assert main(["--data", str(root), "--json", str(out)]) == 0
        figures[faint] = json.loads(out.read_text())["summary"]
    assert "devices / wire" in capsys.readouterr().out
    assert figures[1.0]["wire_median"] < 0.75 * figures[0.0]["wire_median"]
    assert figures[1.0]["device_to_wire_median"] > 1.5 * figures[0.0]["device_to_wire_median"]


def test_command_on_a_folder_resizes_to_the_long_side(tmp_path, capsys):
    image, wire = _line_frame(20.0, 4.0)
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "frame_0.png"), small)
    cv2.imwrite(str(tmp_path / "guidewire_0.png"), cv2.resize(wire, (64, 64), interpolation=cv2.INTER_NEAREST) * 255)
    assert main(["--folder", str(tmp_path), "--json", str(tmp_path / "a.json")]) == 0
    assert main(["--folder", str(tmp_path), "--long-side", "256", "--json", str(tmp_path / "b.json")]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["frames"][0]
    b = json.loads((tmp_path / "b.json").read_text())["frames"][0]
    # Up-scaling by 4 smooths the pixel noise the ratio is measured against (the network sees that).
    assert b["noise"] < 0.5 * a["noise"] and b["wire"] != a["wire"]
    assert math.isnan(a["devices"])


def test_command_names_a_broken_folder(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "frame_0.png"), np.zeros((8, 8), np.uint8))
    assert main(["--folder", str(tmp_path)]) == 2
    assert "guidewire_" in capsys.readouterr().err


def _band(width: int, value: float, angle_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A 128 px frame at 200 with a straight band ``width`` px wide at ``value`` through its centre:
    the pixels whose centres lie within ``width / 2`` of the centre line, 80 px long."""
    a = math.radians(angle_deg)
    ys, xs = np.mgrid[0:128, 0:128].astype(float)
    along = (xs - 64.0) * math.cos(a) + (ys - 64.0) * math.sin(a)
    across = -(xs - 64.0) * math.sin(a) + (ys - 64.0) * math.cos(a)
    mask = ((np.abs(across) < width / 2) & (np.abs(along) <= 40)).astype(np.uint8)
    image = np.full((128, 128), 200.0, np.float32)
    image[mask > 0] = value
    return image, mask


@pytest.mark.parametrize("angle", [0.0, 90.0, 30.0])
def test_cross_sections_of_hand_made_bands(angle):
    # A band 50 below a background of 200 (depth 0.25); widths 3 and 7 px by construction.
    for width in (3, 7):
        image, mask = _band(width, 150.0, angle)
        rows = cross_sections(image, mask)
        assert len(rows) >= 15
        depth, wide = np.median(rows, axis=0)
        assert depth == pytest.approx(0.25, abs=0.01)
        # Bilinear samples of a sharp-edged band cross half depth at its edges (pixelated at a slant).
        assert wide == pytest.approx(width, abs=0.1 if angle % 90 == 0 else 1.0)
    # The catheter-like band is told apart by width, the darker band by depth.
    assert np.median(cross_sections(*_band(7, 150.0, angle))[:, 1]) > np.median(cross_sections(*_band(3, 150.0, angle))[:, 1]) + 2
    assert np.median(cross_sections(*_band(3, 50.0, angle))[:, 0]) == pytest.approx(0.75, abs=0.01)


def test_cross_sections_of_nothing_and_bad_input():
    image, mask = _band(3, 150.0)
    assert cross_sections(image, np.zeros_like(mask)).shape == (0, 2)
    assert cross_sections(np.full((128, 128), 200.0), mask).shape == (0, 2)  # no dip: no section
    with pytest.raises(ValueError, match="2-D"):
        cross_sections(image, mask[:10])
    with pytest.raises(ValueError, match="step"):
        cross_sections(image, mask, step=0)


def test_command_reports_cross_sections(tmp_path, capsys):
    image, wire = _band(3, 150.0)
    _, catheter = _band(7, 100.0, 90.0)
    image[catheter > 0] = 100.0
    cv2.imwrite(str(tmp_path / "frame_0.png"), image.astype(np.uint8))
    cv2.imwrite(str(tmp_path / "guidewire_0.png"), wire * 255)
    cv2.imwrite(str(tmp_path / "catheter_0.png"), catheter * 255)
    out = tmp_path / "c.json"
    assert main(["--folder", str(tmp_path), "--exclude-prefix", "catheter_", "--cross-sections", "--json", str(out)]) == 0
    assert "width at half depth" in capsys.readouterr().out
    summary = json.loads(out.read_text())["summary"]
    assert summary["devices_depth_median"] == pytest.approx(0.5, abs=0.02)
    assert summary["devices_width_median"] > summary["wire_width_median"] + 2
    assert summary["wire_depth_median"] == pytest.approx(0.25, abs=0.02)
