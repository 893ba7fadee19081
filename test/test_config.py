"""Config loading: the paper's values, base chains, and errors that name the file, key and fix."""

from pathlib import Path

import pytest

from guidewire_model.training.config import (
    ConfigError,
    TrainConfig,
    config_dir,
    load_train_config,
    parse_override,
)


def test_paper_defaults_are_the_papers_hyperparameters():
    cfg = load_train_config()
    assert isinstance(cfg, TrainConfig)
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.momentum) == (1e-3, 5e-4, 0.9)
    assert (cfg.optim.batch_size, cfg.optim.epochs, cfg.optim.plateau_factor) == (32, 300, 0.5)
    assert (cfg.loss.alpha, cfg.loss.gamma, cfg.loss.reduction) == (100.0, 2.5, "sum")
    assert cfg.model.encoder == "resnet50" and cfg.model.architecture == "linknet"
    assert cfg.model.input_size == 512
    assert (cfg.data.test_patients, cfg.data.val_patients) == (6, 2)
    assert cfg.augment.rotate and cfg.augment.flip_x and cfg.augment.flip_y


def _write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_base_chain_overrides_only_what_differs(tmp_path):
    base = config_dir() / "train_paper.yaml"
    path = _write(tmp_path, f"base: {base}\noptim:\n  epochs: 3\nloss:\n  gamma: 0\n")
    cfg = load_train_config(path)
    assert cfg.optim.epochs == 3 and cfg.loss.gamma == 0.0
    assert cfg.optim.lr == 1e-3  # inherited


@pytest.mark.parametrize(
    "body, words",
    [
        ("optim:\n  lrr: 0.1\n", ["optim.lrr", "allowed"]),
        ("optim:\n  lr: -1\n", ["optim.lr", "range"]),
        ("optim:\n  epochs: two\n", ["optim.epochs", "integer"]),
        ("model:\n  encoder: vgg11\n", ["model.encoder", "resnet50"]),
        ("augment:\n  rotate: 1\n", ["augment.rotate", "true or false"]),
        ("optim:\n  micro_batch_size: 5\n", ["micro_batch_size", "divide"]),
        ("model:\n  pretrained: true\n  pretrained_weights: null\n", ["pretrained_weights"]),
        ("model:\n  encoder_width: 32\n", ["encoder_width: 64"]),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, body, words):
    path = _write(tmp_path, "base: train_paper.yaml\n" + body)
    with pytest.raises(ConfigError) as err:
        load_train_config(path)
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_key_is_reported(tmp_path):
    path = _write(tmp_path, "seed: 1\n")
    with pytest.raises(ConfigError, match="missing key 'model'"):
        load_train_config(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(_write(tmp_path, "optim: [1, 2\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_train_config(_write(tmp_path, "- 1\n- 2\n", "list.yaml"))


def test_base_loop_detected(tmp_path):
    _write(tmp_path, "base: b.yaml\n", "a.yaml")
    _write(tmp_path, "base: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="loops"):
        load_train_config(tmp_path / "a.yaml")


def test_yaml_is_data_not_code(tmp_path):
    path = _write(tmp_path, "base: train_paper.yaml\nseed: !!python/object/apply:os.getpid []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(path)


def test_overrides():
    cfg = load_train_config(overrides=dict([parse_override("optim.epochs=2"), parse_override("loss.alpha=50")]))
    assert cfg.optim.epochs == 2 and cfg.loss.alpha == 50.0
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("optim.epochs")
