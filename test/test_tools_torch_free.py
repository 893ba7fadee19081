"""``guidewire-segment`` and ``guidewire-import`` run where PyTorch is not installed (``pip install .[tools]``).

Each command runs in a fresh interpreter in which torch cannot be imported: a meta-path finder,
installed before the command's entry point is loaded, answers every ``torch`` / ``torch.*`` import
with the ``ModuleNotFoundError`` an absent package gives, and records who asked. The commands must
succeed and write their output, nothing may have asked for torch (an optional ``try: import torch``
would still load it where torch *is* installed), and no torch module may be loaded at the end.
The entry points are read from the installed package's metadata, so the commands tested are the ones
``setup.py`` installs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import distributions

import cv2
import numpy as np
import pytest

from annotation_factory import arc, clicks, cvat_xml, write_frames
from dicom_factory import ramp_frames, save, xa_dataset
from guidewire_model.data import layout
from line_model import dark_curves, export_line_model

#: Runs ``sys.argv[1]`` (``module:function``) with ``sys.argv[2:]`` where torch cannot be imported,
#: then prints one line ``NO_TORCH_REPORT {json}`` to stderr: torch modules loaded, import attempts.
RUN_WITHOUT_TORCH = textwrap.dedent("""
    import importlib, importlib.abc, json, sys, traceback

    class NoTorch(importlib.abc.MetaPathFinder):
        attempts = []

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "torch":
                self.attempts.append("".join(traceback.format_stack(limit=10)))
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    module, _, function = sys.argv[1].partition(":")
    try:
        code = getattr(importlib.import_module(module), function)(sys.argv[2:])
    finally:
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] == "torch")
        print("NO_TORCH_REPORT " + json.dumps({"loaded": loaded, "attempts": NoTorch.attempts}), file=sys.stderr)
    sys.exit(code)
""")


def _entry_point(command: str) -> str:
    # Every installed distribution, not entry_points()'s first one per name: colcon's egg-info of the
    # message package guidewire_seg normalises to the pip package guidewire-seg's name and, earlier
    # on sys.path, hides its console scripts when no egg-info of the latter sits in the checkout.
    found = [e.value for d in distributions() for e in d.entry_points
             if e.group == "console_scripts" and e.name == command]
    assert found, f"{command} is not installed as a console script; run scripts/setup.sh (pip install -e .)"
    return found[0]


def run_without_torch(command: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """Run console script ``command`` with ``args`` where torch cannot be imported; assert it never asked."""
    proc = subprocess.run([sys.executable, "-c", RUN_WITHOUT_TORCH, _entry_point(command), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    reports = [line for line in proc.stderr.splitlines() if line.startswith("NO_TORCH_REPORT ")]
    assert len(reports) == 1, f"{command} did not finish its entry point:\n{proc.stderr}"
    report = json.loads(reports[0].removeprefix("NO_TORCH_REPORT "))
    assert proc.returncode == 0, f"{command} {' '.join(args)} failed without torch:\n{proc.stderr}"
    assert not report["attempts"], f"{command} tried to import torch:\n" + "\n".join(report["attempts"])
    assert not report["loaded"], f"{command} loaded {report['loaded']}"
    return proc


def test_segment_a_png_without_torch(tmp_path):
    model = export_line_model(tmp_path, size=128)
    t = np.linspace(0.0, 1.0, 50)
    frame = dark_curves((128, 128), [np.c_[30 + 60 * t, 10 + 100 * t]])
    cv2.imwrite(str(tmp_path / "frame.png"), frame)

    run_without_torch("guidewire-segment", str(tmp_path / "frame.png"), "--model", str(model),
                      "--out", str(tmp_path / "seg"), "--quiet", cwd=tmp_path)

    summary = json.loads((tmp_path / "seg" / "summary.json").read_text())
    assert [(s["frames"], s["frames_with_wires"]) for s in summary["sequences"]] == [(1, 1)]


def test_segment_a_checkpoint_without_torch_names_the_file_and_the_fixes(tmp_path):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"not opened: torch is missing")
    cv2.imwrite(str(tmp_path / "frame.png"), np.zeros((32, 32), np.uint8))

    proc = subprocess.run([sys.executable, "-c", RUN_WITHOUT_TORCH, _entry_point("guidewire-segment"),
                           str(tmp_path / "frame.png"), "--model", str(checkpoint), "--out", str(tmp_path / "seg"),
                           "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert proc.returncode == 2, proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("guidewire-segment: error:")]
    assert len(error) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(checkpoint) in error[0] and "pip install .[train]" in error[0] and "guidewire-export" in error[0]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_import_images_without_torch(tmp_path, dtype):
    folder = tmp_path / "clip"
    folder.mkdir()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, np.iinfo(dtype).max, (40, 50), dtype=dtype, endpoint=True) for _ in range(3)]
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"f{index}.png"), frame)

    run_without_torch("guidewire-import", "images", str(folder), "--out", str(tmp_path / "out"), "--quiet",
                      cwd=tmp_path)

    written = sorted((tmp_path / "out" / "clip" / layout.FRAMES_DIR).iterdir())
    assert len(written) == len(frames)
    for path, frame in zip(written, frames):
        np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), frame)


def test_import_dicom_without_torch(tmp_path):
    frames = ramp_frames(3, (40, 50), bits_stored=12)
    save(xa_dataset(frames, bits_stored=12), tmp_path / "runs" / "run.dcm")

    run_without_torch("guidewire-import", "dicom", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                      "--salt-file", str(tmp_path / "salt"), "--quiet", cwd=tmp_path)

    (sequence,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(list((sequence / layout.FRAMES_DIR).iterdir())) == len(frames)


def test_import_cvat_polylines_without_torch(tmp_path):
    write_frames(tmp_path / "frames" / "P1", 1)
    wire = arc((32, 98), 50, -90, -30)
    xml = cvat_xml(tmp_path / "annotations.xml", [
        {"name": "P1/000000.png", "shapes": [{"tag": "polyline", "label": "guidewire", "points": clicks(wire, 6)}]}])

    run_without_torch("guidewire-import", "cvat", str(xml), "--images", str(tmp_path / "frames"),
                      "--out", str(tmp_path / "data"), "--quiet", cwd=tmp_path)

    mask = cv2.imread(str(tmp_path / "data" / "P1" / layout.MASKS_DIR / layout.frame_name(0)), cv2.IMREAD_UNCHANGED)
    assert np.count_nonzero(mask) > 0


def test_evaluate_an_onnx_model_on_a_plain_folder_without_torch(tmp_path):
    model = export_line_model(tmp_path, size=128)
    folder = tmp_path / "frames"
    folder.mkdir()
    t = np.linspace(0.0, 1.0, 60)
    for index, offset in enumerate((20, 60)):
        curve = np.c_[offset + 30 * t, 10 + 100 * t]
        frame = dark_curves((128, 128), [curve])
        mask = np.zeros((128, 128), np.uint8)
        cv2.polylines(mask, [np.round(curve).astype(np.int32)], False, 255, 2)
        cv2.imwrite(str(folder / f"frame_{index}.png"), frame)
        cv2.imwrite(str(folder / f"guidewire_{index}.png"), mask)

    run_without_torch("guidewire-eval", "--model", str(model), "--folder", str(folder), "--out",
                      str(tmp_path / "report"), "--no-reference", cwd=tmp_path)

    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_frames"] == 2 and metrics["overall"]["tolerance"]["f1"] > 0.5


def test_measure_contrast_of_a_plain_folder_without_torch(tmp_path):
    t = np.linspace(0.0, 1.0, 60)
    curve = np.c_[20 + 30 * t, 10 + 100 * t]
    mask = np.zeros((128, 128), np.uint8)
    cv2.polylines(mask, [np.round(curve).astype(np.int32)], False, 255, 2)
    noise = np.random.default_rng(0).normal(0.0, 3.0, (128, 128))
    frame = np.clip(dark_curves((128, 128), [curve]).astype(float) + noise, 0, 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "frame_0.png"), frame)
    cv2.imwrite(str(tmp_path / "guidewire_0.png"), mask)

    proc = run_without_torch("guidewire-contrast", "--folder", str(tmp_path), cwd=tmp_path)

    assert "1 frames; median" in proc.stdout
