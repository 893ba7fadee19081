"""A motion-input model at run time: the file says so, every runtime path builds its second channel
from the run's earlier frames as training does, and a one-frame model is untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from guidewire_model.evaluation.evaluate import evaluate
from guidewire_model.runtime.backends import create_backend
from guidewire_model.runtime.model_info import (INPUT_FRAME, INPUT_FRAME_AND_MOTION, METADATA_PREFIX,
                                                ModelFileError, ModelInfo, read_onnx_info)
from guidewire_model.runtime.motion import MOTION_GAIN, MOTION_LAG, MotionHistory, motion_channel
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.runtime.preprocess import prepare_batch
from guidewire_model.synthetic import SyntheticConfig, generate_sequence, write_dataset
from guidewire_model.training.config import describe_model, load_train_config
from guidewire_model.training.export import ProbabilityModel, export_model
from guidewire_model.training.network import build_model
from guidewire_model.training.quantize import QuantizationError, quantize_model

SIZE = 64
TINY = {"model.encoder": "resnet18", "model.encoder_width": 8, "model.pretrained": False, "model.input_size": SIZE,
        "model.stem_skip": True, "model.full_resolution_head": True, "threshold": 0.5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def motion_model(tmp_path_factory):
    """A tiny motion-input network whose motion weights are not zero, exported."""
    cfg = load_train_config(overrides={**TINY, "model.motion_input": True})
    torch.manual_seed(0)
    net = build_model(cfg.model).eval()
    with torch.no_grad():
        net.encoder.conv1.weight[:, 1] = torch.randn_like(net.encoder.conv1.weight[:, 1]) * 0.5
    path = tmp_path_factory.mktemp("motion") / "motion.onnx"
    export_model(net, cfg, path, threshold=0.5)
    return net, cfg, path


def _run(size: int = SIZE, frames: int = 6, seed: int = 11):
    return generate_sequence(SyntheticConfig.preset("medium", size=size), seed, frames)


def test_the_file_names_its_input_and_older_files_read_as_one_frame(motion_model, tmp_path):
    _, cfg, path = motion_model
    info = read_onnx_info(path)
    assert info.input == INPUT_FRAME_AND_MOTION and info.input_channels == 2 and info.motion_input
    assert describe_model(load_train_config(overrides=TINY)).input == INPUT_FRAME
    # A file written before the key existed is a one-frame model; an unknown convention is refused.
    props = {k: v for k, v in ModelInfo(**{**info.__dict__, "input": INPUT_FRAME}).to_metadata().items()
             if k != METADATA_PREFIX + "input"}
    assert ModelInfo.from_metadata(props).input == INPUT_FRAME
    with pytest.raises(ModelFileError, match="guidewire.input"):
        ModelInfo.from_metadata({**props, METADATA_PREFIX + "input": "frame+depth"}, source="x.onnx")
    # Metadata that disagrees with the graph's input is refused, naming the file.
    proto = onnx.load(str(path))
    for p in proto.metadata_props:
        if p.key == METADATA_PREFIX + "input":
            p.value = INPUT_FRAME
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    with pytest.raises(ModelFileError, match=r"bad\.onnx.*input.*\[N, 1, 64, 64\]"):
        read_onnx_info(bad)


def test_motion_history_subtracts_the_frame_lag_before_and_starts_each_run_at_zero():
    history = MotionHistory()
    frames = [np.full((1, 1, 4, 4), float(k), np.float32) for k in range(5)]
    out = [history.stack(f) for f in frames]
    for k, x in enumerate(out):
        assert x.shape == (1, 2, 4, 4) and np.array_equal(x[:, :1], frames[k])
        expected = 0.0 if k < MOTION_LAG else MOTION_LAG * MOTION_GAIN
        assert np.allclose(x[0, 1], expected)
    history.reset()
    assert not history.stack(frames[4])[0, 1].any()
    with pytest.raises(ValueError, match="one normalised frame"):
        history.stack(np.zeros((2, 1, 4, 4), np.float32))
    np.testing.assert_allclose(motion_channel(np.ones((2, 2)), np.zeros((2, 2)), 0.5), 2 * MOTION_GAIN)


def test_the_pipeline_feeds_each_frame_with_its_motion_channel_as_training_builds_it(motion_model):
    net, cfg, path = motion_model
    m = cfg.model
    pipeline = GuidewirePipeline(create_backend("onnxruntime", path, device="cpu", threads=1))
    run = _run()
    wrapped = ProbabilityModel(net).eval()
    got = [pipeline.infer(f.image).probability for f in run]
    for k, frame in enumerate(run):
        x = prepare_batch([frame.image], SIZE, m.input_mean, m.input_std)
        motion = np.zeros_like(x) if k < MOTION_LAG else motion_channel(
            x, prepare_batch([run[k - MOTION_LAG].image], SIZE, m.input_mean, m.input_std), 1.0)
        with torch.no_grad():
            want = wrapped(torch.from_numpy(np.concatenate([x, motion], 1))).numpy()[0, 0]
        np.testing.assert_allclose(got[k], want, atol=1e-4)
    assert not np.allclose(got[MOTION_LAG], pipeline.segment([run[MOTION_LAG].image])[0], atol=1e-3)

    # A blank measurement while the run goes on leaves the run's frames alone; reset forgets them.
    pipeline.reset()
    for f in run[:MOTION_LAG]:
        pipeline.infer(f.image)
    pipeline.infer(np.zeros((SIZE, SIZE), np.uint8), in_run=False)
    np.testing.assert_allclose(pipeline.infer(run[MOTION_LAG].image).probability, got[MOTION_LAG], atol=1e-6)
    # segment() takes the earlier frames explicitly, and without them sees frames alone.
    np.testing.assert_allclose(pipeline.segment([run[MOTION_LAG].image], earlier=[run[0].image])[0],
                               got[MOTION_LAG], atol=1e-6)
    pipeline.reset()
    np.testing.assert_allclose(pipeline.infer(run[MOTION_LAG].image).probability,
                               pipeline.segment([run[MOTION_LAG].image])[0], atol=1e-6)


def test_evaluation_of_a_data_set_scores_what_the_pipeline_publishes_frame_after_frame(motion_model, tmp_path):
    _, _, path = motion_model
    cfg = SyntheticConfig.preset("medium", size=SIZE)
    write_dataset(tmp_path / "data", 2, 5, cfg, seed=21, progress=False)
    report = evaluate(path, tmp_path / "eval", data=tmp_path / "data", split="all", reference=None, n_overlays=1)

    from guidewire_model.metrics.pixels import AccuracyCounts, accuracy_counts

    pipeline = GuidewirePipeline(create_backend("onnxruntime", path, device="cpu", threads=1))
    counts = AccuracyCounts()
    for s in range(2):
        pipeline.reset()
        from guidewire_model.synthetic import sequence_seed

        for frame in generate_sequence(cfg, sequence_seed(21, s), 5):
            counts = counts + accuracy_counts(pipeline.process(frame.image).mask.astype(bool), frame.mask > 0)
    assert report["overall"]["tp"] == counts.pixel.tp and report["overall"]["fp"] == counts.pixel.fp


def test_a_motion_model_compared_with_a_one_frame_model_sees_its_earlier_frames(motion_model, tmp_path):
    # guidewire-eval --compare: whichever side reads motion, it gets the frames it would alone.
    net, motion_cfg, probe = motion_model
    cfg = load_train_config(overrides=TINY)
    torch.manual_seed(1)
    one_frame = tmp_path / "one_frame.onnx"
    export_model(build_model(cfg.model).eval(), cfg, one_frame, threshold=0.5)
    write_dataset(tmp_path / "data", 2, 5, SyntheticConfig.preset("medium", size=SIZE), seed=21, progress=False)
    # The motion model at a threshold inside its probabilities' range, so its masks are not empty.
    middle = evaluate(probe, tmp_path / "probe", data=tmp_path / "data", split="all", reference=None, n_overlays=0)
    path = tmp_path / "motion_mid.onnx"
    export_model(net, motion_cfg, path, threshold=round(middle["best_threshold"]["threshold"], 3))
    alone = evaluate(path, tmp_path / "alone", data=tmp_path / "data", split="all", reference=None, n_overlays=0)
    assert alone["overall"]["tp"] + alone["overall"]["fp"] > 0
    both = evaluate(one_frame, tmp_path / "both", data=tmp_path / "data", split="all", reference=None,
                    n_overlays=0, compare=path, resamples=20)
    assert both["comparison"]["overall"] == alone["overall"]
    assert both["overall"] == evaluate(one_frame, tmp_path / "one", data=tmp_path / "data", split="all",
                                       reference=None, n_overlays=0)["overall"]


def test_a_tensorrt_engine_is_built_and_run_for_the_models_input_channels():
    from guidewire_model.runtime.backends.tensorrt_build import BuildRecipe

    assert BuildRecipe(input_size=512, max_batch=4, input_channels=2).profile() == (
        (1, 2, 512, 512), (4, 2, 512, 512), (4, 2, 512, 512))
    assert BuildRecipe(input_size=512).profile()[0] == (1, 1, 512, 512)
    with pytest.raises(ValueError, match="input_channels"):
        BuildRecipe(input_channels=0)


def test_int8_copies_of_motion_models_are_refused_naming_the_file(motion_model, tmp_path):
    _, _, path = motion_model
    with pytest.raises(QuantizationError, match=r"motion\.onnx: a motion-input model"):
        quantize_model(path, tmp_path / "int8.onnx")
    assert not (tmp_path / "int8.onnx").exists()
