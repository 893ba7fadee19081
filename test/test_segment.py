"""guidewire-segment on every input kind, through the node's pipeline, and the CVAT pre-labelling round trip."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch

from dicom_factory import ramp_frames, save, xa_dataset
from guidewire_model.data import layout
from guidewire_model.runtime.backends import create_backend
from guidewire_model.training.checkpoint import save_checkpoint
from guidewire_model.training.config import load_train_config, to_dict
from guidewire_model.training.export import export_model
from guidewire_model.importers.cli import main as import_main
from guidewire_model.importers.cvat import read_cvat
from guidewire_model.importers.deidentify import load_or_create_salt
from guidewire_model.importers.dicom import read_dicom
from guidewire_model.training.network import build_model
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.inference.segment import default_model_path, main
from line_model import dark_curves, export_line_model
from test_import_frames import gray_frames, write_video


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny untrained network (ONNX and the same weights as a checkpoint) and the dark-line model."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    cfg = load_train_config(overrides={"model.encoder": "resnet18", "model.encoder_width": 8,
                                       "model.pretrained": False, "model.input_size": 64})
    network = build_model(cfg.model).eval()
    export_model(network, cfg, folder / "tiny.onnx", n_check_frames=1)
    checkpoint = save_checkpoint(folder / "tiny.pt", {"model": network.state_dict(), "config": to_dict(cfg)})
    return {"tiny": folder / "tiny.onnx", "tiny.pt": checkpoint, "lines": export_line_model(folder, size=128)}


def _pipeline(model, threshold=None):
    kind = "torch" if model.suffix == ".pt" else "onnxruntime"
    return GuidewirePipeline(create_backend(kind, model, threads=1), threshold=threshold, track=True)


def _busy_threshold(model, frame):
    """A threshold at which the untrained network marks about a tenth of the frame, so masks are not empty."""
    return round(float(np.percentile(_pipeline(model).segment([frame])[0], 90)), 6)


def _inputs(tmp_path, kind):
    """(arguments, {sequence name: frames as the pipeline must see them})."""
    rng = np.random.default_rng(0)
    if kind in ("png8", "png16", "jpeg"):
        dtype = np.uint16 if kind == "png16" else np.uint8
        frame = rng.integers(0, np.iinfo(dtype).max, (72, 90), dtype=dtype)
        path = tmp_path / ("frame.jpg" if kind == "jpeg" else "frame.png")
        cv2.imwrite(str(path), frame)
        return [path], {"frame": [cv2.imread(str(path), cv2.IMREAD_UNCHANGED)]}
    if kind == "dicom":
        stored = ramp_frames(3, (64, 80), bits_stored=12)
        path = save(xa_dataset(stored, bits_stored=12), tmp_path / "run.dcm")
        (source,) = read_dicom([path], load_or_create_salt(tmp_path / "salt")[0]).sources
        return [path], {source.name: list(source.frames())}
    if kind == "video":
        frames = gray_frames(3)
        return [write_video(tmp_path / "clip.avi", frames)], {"clip": frames}
    if kind == "folder":
        frames = [rng.integers(0, 255, (50, 60), dtype=np.uint8) for _ in range(3)]
        (tmp_path / "seq").mkdir()
        for i, f in enumerate(frames):
            cv2.imwrite(str(tmp_path / "seq" / f"{i}.png"), f)
        return [tmp_path / "seq"], {"seq": frames}
    # a data set of the layout: two sequence folders
    out = {}
    for name in ("A", "B"):
        out[name] = [rng.integers(0, 65535, (40, 40), dtype=np.uint16) for _ in range(2)]
        for i, f in enumerate(out[name]):
            layout.write_frame(tmp_path / "data" / name, i, f)
    return [tmp_path / "data"], out


@pytest.mark.parametrize("kind, model", [("png8", "tiny"), ("png16", "tiny"), ("jpeg", "tiny"), ("dicom", "tiny"),
                                         ("video", "tiny"), ("folder", "tiny"), ("dataset", "tiny"),
                                         ("png8", "tiny.pt")])
def test_every_input_kind_gives_the_pipelines_results(tmp_path, models, kind, model):
    args, expected = _inputs(tmp_path, kind)
    out = tmp_path / "out"
    threshold = _busy_threshold(models[model], next(iter(expected.values()))[0])

    rc = main([*map(str, args), "--out", str(out), "--model", str(models[model]), "--quiet", "--threads", "1",
               "--threshold", str(threshold), "--salt-file", str(tmp_path / "salt")])

    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [s["sequence"] for s in summary["sequences"]] == list(expected)
    pipeline = _pipeline(models[model], threshold)
    for name, frames in expected.items():
        seq = out / name
        pipeline.reset()
        for i, frame in enumerate(frames):
            result = pipeline.process(frame)
            mask = cv2.imread(str(seq / "masks" / layout.frame_name(i)), cv2.IMREAD_UNCHANGED)
            assert mask.shape == frame.shape and mask.any()
            np.testing.assert_array_equal(mask, result.mask * 255)  # the node's pipeline, frame for frame
            data = json.loads((seq / "centrelines" / layout.frame_name(i, ".json")).read_text())
            assert [w["id"] for w in data["wires"]] == [w.wire_id for w in result.wires]
        with open(seq / "centrelines.csv") as fh:
            assert next(csv.reader(fh)) == ["frame", "wire_id", "point", "x", "y", "probability"]
        overlay = "mp4" if kind in ("dicom", "video") else "png"
        assert summary["sequences"][list(expected).index(name)]["overlay"] == overlay
        if overlay == "mp4":
            video = cv2.VideoCapture(str(seq / "overlay.mp4"))
            assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)
            video.release()
        else:
            assert len(list((seq / "overlays").glob("*.png"))) == len(frames)


def _moving_wires(n, shift=(1.5, 0.5)):
    t = np.linspace(0, 1, 60)[:, None]
    base = [np.hstack([20 + 80 * t, 30 + 50 * t + 8 * np.sin(5 * t)]), np.hstack([20 + 30 * t, 100 - 60 * t ** 2])]
    return [[c + np.multiply(shift, k) for c in base] for k in range(n)]


def _write_sequence(folder, n, seed=0):
    folder.mkdir(parents=True)
    for k, curves in enumerate(_moving_wires(n)):
        cv2.imwrite(str(folder / f"{k:03d}.png"), dark_curves((110, 128), curves, seed=seed + k))


def test_wires_are_tracked_within_a_sequence_and_reset_between_inputs(tmp_path, models, capsys):
    _write_sequence(tmp_path / "s1", 3)
    _write_sequence(tmp_path / "s2", 2, seed=10)

    assert main([str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "out"), "--model",
                 str(models["lines"]), "--overlay", "none"]) == 0

    assert "5/5" in capsys.readouterr().err  # the progress bar counts frames over all inputs

    def frame(seq, i):
        return json.loads((tmp_path / "out" / seq / "centrelines" / layout.frame_name(i, ".json")).read_text())

    assert [[w["frames_tracked"] for w in frame("s1", i)["wires"]] for i in range(3)] == [[1, 1], [2, 2], [3, 3]]
    assert [w["frames_tracked"] for w in frame("s2", 0)["wires"]] == [1, 1]  # a new input starts afresh
    assert not (tmp_path / "out" / "s1" / "overlays").exists()
    with open(tmp_path / "out" / "s1" / "centrelines.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["frame"] == "2" and r["wire_id"] == "1"]
    wire = frame("s1", 2)["wires"][0]
    np.testing.assert_allclose([[float(r["x"]), float(r["y"])] for r in rows], wire["points"], atol=1e-3)
    with open(tmp_path / "out" / "s1" / "wires.csv") as fh:
        tip = [r for r in csv.DictReader(fh) if r["frame"] == "2" and r["wire_id"] == "1"][0]
    np.testing.assert_allclose([float(tip["tip_x"]), float(tip["tip_y"])], wire["points"][-1], atol=1e-3)
    assert wire["tip"] == wire["points"][-1]


def _mean_distance(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.min(np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1)), axis=1).mean())


@pytest.mark.parametrize("as_drawn", [True, False], ids=["as-drawn", "by-rule"])
def test_cvat_prelabels_import_back_as_the_models_centrelines(tmp_path, models, capsys, as_drawn):
    _write_sequence(tmp_path / "run", 3)
    seg = tmp_path / "seg"

    assert main([str(tmp_path / "run"), "--out", str(seg), "--model", str(models["lines"]), "--export", "cvat",
                 "--quiet"]) == 0
    assert "CVAT task" in capsys.readouterr().out

    xml = seg / "cvat" / "annotations.xml"
    parsed = read_cvat(xml)
    assert [i.name for i in parsed] == ["run/000.png", "run/001.png", "run/002.png"]
    assert import_main(["cvat", str(xml), "--out", str(tmp_path / "data"), "--quiet"]
                       + (["--as-drawn"] if as_drawn else [])) == 0

    for i in range(3):
        model = {w["id"]: w for w in json.loads((seg / "run" / "centrelines" / layout.frame_name(i, ".json"))
                                                 .read_text())["wires"]}
        imported = {w.wire_id: w.points for w in layout.read_centrelines(
            tmp_path / "data" / "run" / "centrelines" / layout.frame_name(i, ".json"))}
        assert sorted(imported) == sorted(model) == [1, 2]  # the tracker's ids travel as wire_id
        for wire_id, points in imported.items():
            ours = np.asarray(model[wire_id]["points"])
            # Exported every 10 px and re-fitted: the spline follows the traced line to a fraction of a pixel.
            assert _mean_distance(points, ours) < 0.5 and _mean_distance(ours, points) < 0.5
            ends = (points[0], points[-1])
            if as_drawn:
                np.testing.assert_allclose(ends, (ours[0], ours[-1]), atol=0.6)
            else:
                assert min(np.abs(np.subtract(ends, (ours[0], ours[-1]))).max(),
                           np.abs(np.subtract(ends, (ours[-1], ours[0]))).max()) < 0.6
        frame = cv2.imread(str(tmp_path / "data" / "run" / "frames" / layout.frame_name(i)), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(frame, cv2.imread(str(tmp_path / "run" / f"{i:03d}.png"), cv2.IMREAD_UNCHANGED))


def test_the_shipped_model_is_the_default_and_dicom_names_are_hashed(tmp_path, capsys):
    path = save(xa_dataset(ramp_frames(1, (64, 64), 8), bits_stored=8), tmp_path / "Doe_Jane.dcm")

    assert main([str(path), "--out", str(tmp_path / "out"), "--salt-file", str(tmp_path / "salt"), "--quiet"]) == 0

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model"] == str(default_model_path()) and default_model_path().name == "default.onnx"
    (name,) = [s["sequence"] for s in summary["sequences"]]
    assert name.startswith("P") and "_S" in name and "Doe" not in name
    assert summary["sequences"][0]["overlay"] == "png"  # one frame: an image, not a video


def test_bad_inputs_are_named(tmp_path, capsys, models):
    text = tmp_path / "notes.txt"
    text.write_text("x")
    for args, needle in (([tmp_path / "missing.png"], "no such file"), ([text], "not an image")):
        assert main([*map(str, args), "--out", str(tmp_path / "out"), "--model", str(models["tiny"])]) == 2
        err = capsys.readouterr().err
        assert str(args[0]) in err and needle in err
    assert main([str(text), "--out", str(tmp_path / "out"), "--model", str(tmp_path / "none.onnx")]) == 2
    # A damaged checkpoint: one line naming it, not a traceback.
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.zeros((32, 32), np.uint8))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(models["tiny.pt"].read_bytes()[:100])
    capsys.readouterr()
    assert main([str(frame), "--out", str(tmp_path / "out2"), "--model", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("guidewire-segment: error:") and str(broken) in err and "Traceback" not in err
