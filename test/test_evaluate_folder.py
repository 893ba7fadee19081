"""guidewire-eval on a plain folder of frames of any size, with an ONNX model or a checkpoint.

The folders are written here from the synthetic generator: wire 1 is the guidewire annotation and
wire 2 the "exclude" annotation (a look-alike that is not guidewire), frames resized to non-square
sizes that differ between frames. Expected numbers are computed here from the pieces (ONNX Runtime
or the network, numpy, scipy's distance transform), not with the evaluator's own functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

from guidewire_model.evaluation import evaluate as evaluate_module
from guidewire_model.training.checkpoint import save_checkpoint
from guidewire_model.training.config import load_train_config, to_dict
from guidewire_model.evaluation.evaluate import evaluate, main
from guidewire_model.training.export import export_model
from guidewire_model.data.frame_folder import FolderError, FolderPrefixes, scan_folder
from guidewire_model.training.network import build_model
from guidewire_model.runtime.preprocess import prepare_batch, restore_size
from guidewire_model.evaluation.ridge_filter import frangi_map
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

#: (width, height) of each written frame: non-square, and not all alike.
SIZES = [(120, 84), (120, 84), (104, 90)]


def _write(path: Path, image: np.ndarray) -> None:
    assert cv2.imwrite(str(path), image), path


def _resized_frames(seed: int):
    """Generator frames resized to SIZES: (image, guidewire mask, exclude mask), masks 0/1."""
    frames = generate_sequence(SyntheticConfig.preset("easy", size=96), seed, len(SIZES))
    for f, (w, h) in zip(frames, SIZES):
        image = cv2.resize(f.image, (w, h), interpolation=cv2.INTER_AREA)
        wire = cv2.resize((f.instances == 1).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        other = cv2.resize((f.instances == 2).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        yield image, wire, other


def write_folder(folder: Path, seed: int, exclude: bool = True) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """frame_NNN.png, guidewire_NNN.png (0/255) and catheter_NNN.png, as the real example folder."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = list(_resized_frames(seed))
    for i, (image, wire, other) in enumerate(frames):
        _write(folder / f"frame_{i:03d}.png", image)
        _write(folder / f"guidewire_{i:03d}.png", wire * 255)
        if exclude:
            _write(folder / f"catheter_{i:03d}.png", other * 255)
    return frames


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A folder to evaluate, a separate validation folder, and one tiny network as ONNX and checkpoint."""
    tmp = tmp_path_factory.mktemp("eval_folder")
    frames = write_folder(tmp / "real", seed=5)
    write_folder(tmp / "val", seed=6, exclude=False)
    overrides = {"model.encoder": "resnet18", "model.encoder_width": 8, "model.pretrained": False,
                 "model.input_size": 64}
    torch.manual_seed(0)
    base = load_train_config(overrides=overrides)
    network = build_model(base.model).eval()
    # An untrained network's probabilities sit in a narrow band: the model's own threshold (stored in
    # both files) is put where it marks about a tenth of the pixels, so every count is non-trivial.
    threshold = round(float(np.percentile(np.concatenate([p.ravel() for p in _torch_probs(network, frames, base.model)]), 90)), 4)
    cfg = load_train_config(overrides={**overrides, "threshold": threshold})
    onnx_path = tmp / "tiny.onnx"
    export_model(network, cfg, onnx_path, n_check_frames=1)
    ckpt = save_checkpoint(tmp / "best.pt", {"model": network.state_dict(), "config": to_dict(cfg)})
    return tmp, frames, onnx_path, ckpt, network, cfg


def _torch_probs(network, frames, m):
    """The network's probabilities at each frame's size (``m``: its ModelConfig)."""
    with torch.no_grad():
        return [restore_size(torch.sigmoid(network(torch.from_numpy(
            prepare_batch([f[0]], m.input_size, m.input_mean, m.input_std)))).numpy(), f[0].shape) for f in frames]


def _tolerance(pred: np.ndarray, gt: np.ndarray, d: float = 2.0) -> tuple[int, int, int, int]:
    """(pred, pred_near, skeleton, skeleton_hit) with scipy's exact Euclidean distance transform."""
    def near(pixels, target):
        if not pixels.any() or not target.any():
            return 0
        return int((distance_transform_edt(~target)[pixels] <= d).sum())

    skel = skeletonize(gt) if gt.any() else gt
    return int(pred.sum()), near(pred, gt), int(skel.sum()), near(skel, pred)


def _expected(probs, frames, threshold, field=True):
    """Strict counts, tolerance counts and exclude counts of probability maps, summed here; with
    ``field`` the maps are first set to 0 outside each frame's valid field of view, as the node
    publishes the model's (the classical reference row is scored raw)."""
    from guidewire_model.runtime.field_of_view import estimate_field

    strict, tol, excl = np.zeros(4, np.int64), np.zeros(4, np.int64), np.zeros(2, np.int64)
    for prob, (image, wire, other) in zip(probs, frames):
        prob = np.array(prob, np.float32)
        if field:
            estimate_field(image).apply(prob)
        pred, gt, ex = prob >= threshold, wire.astype(bool), other.astype(bool)
        strict += [(pred & gt).sum(), (pred & ~gt).sum(), (~pred & gt).sum(), (~pred & ~gt).sum()]
        tol += _tolerance(pred, gt)
        excl += [pred.sum(), (distance_transform_edt(~ex)[pred] <= 1.0).sum() if ex.any() else 0]
    return strict, tol, excl


def _onnx_probs(path: Path, images, cfg):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    m = cfg.model
    return [restore_size(session.run(None, {name: prepare_batch([im], m.input_size, m.input_mean, m.input_std)})[0],
                         im.shape) for im in images]


def _check_counts(r: dict, strict, tol, excl) -> None:
    o = r["overall"]
    assert [o["tp"], o["fp"], o["fn"], o["tn"]] == strict.tolist()
    assert sum(strict) == sum(w * h for w, h in SIZES)  # every pixel once, at each frame's own size
    t = o["tolerance"]
    assert [t["pred"], t["pred_near"], t["skeleton"], t["skeleton_hit"]] == tol.tolist()
    assert t["tolerance_px"] == 2.0
    assert t["precision"] == pytest.approx(tol[1] / tol[0]) and t["recall"] == pytest.approx(tol[3] / tol[2])
    assert r["exclude"]["pred"] == excl[0] and r["exclude"]["on_exclude"] == excl[1]
    assert r["exclude"]["share"] == pytest.approx(excl[1] / excl[0]) and r["exclude"]["frames"] == len(SIZES)
    assert "wire_coverage" not in r  # a folder of masks has no ordered centrelines to follow


def test_onnx_model_on_a_folder_matches_a_direct_computation(setup, tmp_path):
    tmp, frames, onnx_path, _, _, cfg = setup
    out = tmp_path / "eval"
    r = evaluate(onnx_path, out, folder=tmp / "real", reference_val=tmp / "val", n_overlays=2)
    assert r["threshold"] == cfg.threshold and "metadata" in r["threshold_source"]
    strict, tol, excl = _expected(_onnx_probs(onnx_path, [f[0] for f in frames], cfg), frames, cfg.threshold)
    assert strict[0] + strict[1] > 0 and strict[2] > 0  # a non-trivial prediction
    _check_counts(r, strict, tol, excl)
    assert r["n_frames"] == len(SIZES) and list(r["per_sequence"]) == ["real"]
    assert r["per_sequence"]["real"] == r["overall"] and r["source"]["kind"] == "folder"

    # The files: JSON equal to the result, tables with both kinds of score, curve, overlays at frame size.
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(r))
    md = (out / "metrics.md").read_text()
    o, t = r["overall"], r["overall"]["tolerance"]
    assert (f"| **all** | {o['precision']:.3f} | {o['recall']:.3f} | {o['f1']:.3f} | "
            f"{t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f} |") in md
    assert "F1@2" in md and "catheter_" in md and "Frangi" in md
    assert cv2.imread(str(out / "pr_curve.png")) is not None
    assert len(r["worst_frames"]) == 2
    for w in r["worst_frames"]:
        i = int(w["file"][len("frame_"):-len(".png")])
        assert cv2.imread(str(out / w["overlay"])).shape == (SIZES[i][1], SIZES[i][0], 3)


def test_checkpoint_on_a_folder_matches_a_direct_computation(setup, tmp_path, capsys):
    tmp, frames, _, ckpt, network, cfg = setup
    code = main(["--checkpoint", str(ckpt), "--folder", str(tmp / "real"), "--out", str(tmp_path / "eval"),
                 "--no-reference", "--overlays", "0"])
    assert code == 0 and "F1@2" in capsys.readouterr().out
    r = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    _check_counts(r, *_expected(_torch_probs(network, frames, cfg.model), frames, cfg.threshold))
    assert r["model"]["kind"] == "checkpoint" and "reference" not in r and r["worst_frames"] == []


def test_frangi_reference_threshold_comes_from_the_validation_folder(setup, tmp_path):
    tmp, frames, onnx_path, *_ = setup
    r = evaluate(onnx_path, tmp_path, folder=tmp / "real", reference_val=tmp / "val", n_overlays=0)
    ref = r["reference"]
    assert "--reference-val" in ref["threshold_source"] and ref["validation"]["frames"] == len(SIZES)
    t = ref["threshold"]
    # Chosen on the validation frames: no threshold of a coarse grid beats it there.
    val = list(_resized_frames(6))
    maps = [frangi_map(image) for image, _, _ in val]

    def val_f1(threshold):
        tp = sum(int(((m >= threshold) & (w > 0)).sum()) for m, (_, w, _) in zip(maps, val))
        fp = sum(int(((m >= threshold) & (w == 0)).sum()) for m, (_, w, _) in zip(maps, val))
        fn = sum(int(((m < threshold) & (w > 0)).sum()) for m, (_, w, _) in zip(maps, val))
        return 2 * tp / (2 * tp + fp + fn)

    assert ref["validation"]["f1"] == pytest.approx(val_f1(t))
    assert all(val_f1(g) <= val_f1(t) + 1e-12 for g in np.arange(0.02, 1.0, 0.02))
    # Scored on the evaluated frames at that threshold, like the model.
    strict, tol, excl = _expected([frangi_map(f[0]) for f in frames], frames, t, field=False)
    _check_counts(ref, strict, tol, excl)
    assert "Frangi vesselness" in (tmp_path / "metrics.md").read_text()


def test_frangi_reference_falls_back_to_synthetic_frames_never_the_evaluated_ones(setup, tmp_path, monkeypatch):
    tmp, _, onnx_path, *_ = setup
    monkeypatch.setattr(evaluate_module, "REFERENCE_SYNTHETIC",
                        {"preset": "medium", "size": 96, "sequences": 1, "frames": 2, "seed": 3})
    r = evaluate(onnx_path, tmp_path, folder=tmp / "real", n_overlays=0)
    assert "synthetic frames" in r["reference"]["threshold_source"]
    assert r["reference"]["validation"]["frames"] == 2
    assert "synthetic frames" in (tmp_path / "metrics.md").read_text()
    with pytest.raises(ValueError, match="evaluated folder"):
        evaluate(onnx_path, tmp_path, folder=tmp / "real", reference_val=tmp / "real")


def test_frames_and_masks_subfolders_give_the_same_report(setup, tmp_path):
    tmp, frames, onnx_path, *_ = setup
    for sub in ("frames", "masks", "exclude"):
        (tmp_path / "pair" / sub).mkdir(parents=True)
    for i, (image, wire, other) in enumerate(frames):
        _write(tmp_path / "pair" / "frames" / f"{i:02d}.png", image)
        _write(tmp_path / "pair" / "masks" / f"{i:02d}.png", wire)  # 0/1 this time
        _write(tmp_path / "pair" / "exclude" / f"{i:02d}.png", other * 255)
    a = evaluate(onnx_path, tmp_path / "a", folder=tmp / "real", reference=None, n_overlays=0)
    b = evaluate(onnx_path, tmp_path / "b", folder=tmp_path / "pair", reference=None, n_overlays=0)
    assert a["overall"] == b["overall"] and a["exclude"]["on_exclude"] == b["exclude"]["on_exclude"]


def test_folder_problems_name_the_file_and_the_fix(setup, tmp_path, capsys):
    tmp, frames, onnx_path, *_ = setup
    folder = tmp_path / "f"
    write_folder(folder, seed=5)
    (folder / "guidewire_001.png").unlink()
    with pytest.raises(FolderError, match=r"frame_001\.png: no guidewire mask .*guidewire_001"):
        scan_folder(folder)
    assert main(["--model", str(onnx_path), "--folder", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "frame_001.png" in err and "add the mask" in err
    assert not (tmp_path / "o" / "metrics.json").exists()

    write_folder(folder, seed=5)
    _write(folder / "catheter_002.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(FolderError, match=r"catheter_002\.png: 10x10 px but its frame frame_002\.png is 104x90"):
        scan_folder(folder)
    _write(folder / "catheter_002.png", frames[2][2] * 255)
    (folder / "guidewire_000.png").write_bytes(b"not an image")
    with pytest.raises(FolderError, match=r"guidewire_000\.png: unreadable image"):
        scan_folder(folder)
    (folder / "guidewire_000.png").unlink()
    (folder / "frame_000.png").unlink()
    with pytest.raises(FolderError, match=r"catheter_000\.png: exclude annotation without a frame .*frame_000"):
        scan_folder(folder)
    (folder / "catheter_000.png").unlink()
    assert [f.key for f in scan_folder(folder)] == ["001", "002"]
    assert scan_folder(folder, FolderPrefixes(exclude=None))[0].exclude is None

    with pytest.raises(FolderError, match="no frames found"):
        scan_folder(folder, FolderPrefixes(frame="img_"))
    with pytest.raises(FolderError, match="must differ"):
        FolderPrefixes(frame="frame_", mask="frame_mask_")
    with pytest.raises(ValueError, match="split"):
        evaluate(onnx_path, tmp_path, folder=folder, split="test")


def test_an_onnx_model_on_a_data_set_needs_split_all(setup, tmp_path):
    from guidewire_model.synthetic import write_dataset

    tmp, _, onnx_path, *_ = setup
    data = tmp_path / "data"
    write_dataset(data, 2, 2, SyntheticConfig.preset("easy", size=64), seed=1, progress=False)
    with pytest.raises(ValueError, match="--split all"):
        evaluate(onnx_path, tmp_path / "e", data=data)
    r = evaluate(onnx_path, tmp_path / "e", data=data, split="all", reference_val=tmp / "val", n_overlays=1)
    assert r["n_frames"] == 4 and r["split"] == "all"
    # The generator's device masks (exclude/) are reported for a data set as a folder's annotation is.
    assert r["exclude"]["annotation"] == "exclude/" and r["exclude"]["frames"] == 4
    overall = r["overall"]
    # F1@2 is counted over the same predicted pixels as the strict score, and a predicted pixel on
    # the wire is within 2 px of it: tolerant precision can never fall below strict precision.
    assert overall["tolerance"]["pred"] == overall["tp"] + overall["fp"]
    assert overall["tolerance"]["precision"] >= overall["precision"]
    assert r["reference"]["validation"]["frames"] == len(SIZES)
