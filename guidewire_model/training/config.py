"""Typed, validated configuration loaded from YAML.

Every training hyperparameter of the paper lives in one file, ``config/train_paper.yaml``; other
training configs name it as ``base:`` and override only what differs. The dataclasses below carry
the *types* and *allowed ranges*; the YAML files carry the *values*, so there is one source of
truth per constant.

A config error always names the file, the dotted key and the fix, and is raised before any work
starts.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

import yaml

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.runtime.model_info import (INPUT_FRAME, INPUT_FRAME_AND_MOTION, OUTPUT_PROBABILITY,
                                               OUTPUT_PROBABILITY_AND_TIP, ModelInfo, config_sha256)

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "SyntheticDataConfig",
    "TrainConfig",
    "describe_model",
    "from_mapping",
    "load_train_config",
    "load_yaml",
    "to_dict",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file, key and fix."""


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> dict:
    return {"range": (lo, hi, lo_open)}


@dataclass(frozen=True)
class ModelConfig:
    """Network architecture (paper Fig. 2/3 and the Table III variants)."""

    #: ``linknet``: the paper's improved U-Net (ResNet encoder, LinkNet decoder);
    #: ``unet``: the regular U-Net of Table III.
    architecture: Literal["linknet", "unet"]
    encoder: Literal["resnet18", "resnet34", "resnet50"]
    #: Channels of the stem conv; 64 is torchvision's ResNet and the only width ImageNet weights fit.
    encoder_width: int = field(metadata=_range(4, 256))
    #: Load ImageNet weights into the encoder (Table III "without pre-trained ResNet-50" = false).
    pretrained: bool
    #: torchvision ResNet state dict (.pth); required when ``pretrained`` is true.
    pretrained_weights: str | None
    #: Channels of the first level of the regular U-Net (``architecture: unet`` only).
    unet_base_channels: int = field(metadata=_range(4, 256))
    #: Side of the square network input in pixels; frames are resized to it.
    input_size: int = field(metadata=_range(32, 4096))
    #: Normalisation of the [0, 1] grayscale input, stored with the model and in the ONNX file.
    input_mean: float = field(metadata=_range(0.0, 1.0))
    input_std: float = field(metadata=_range(0.0, 10.0, lo_open=True))
    #: ``linknet`` only; not in the paper (false there). Adds the stem's half-resolution features to
    #: the last decoder block, as segmentation_models_pytorch's Linknet does, so the head sees detail
    #: finer than layer1's quarter resolution: a 2 px wire is half a pixel wide at 1/4 scale.
    stem_skip: bool = False
    #: ``linknet`` only; not in the paper (false there). The head's last layer also sees two 3x3
    #: convolutions of the input frame at full resolution (linknet.FullResolutionHead), for wires
    #: 1-2 px wide that coarser features cannot place to the pixel.
    full_resolution_head: bool = False
    #: ``linknet`` only; not in the paper. The head reads the frame as 2x2 pixel blocks and computes
    #: at half resolution, each position giving the logits of its four pixels
    #: (linknet.SubPixelHead): the full-resolution head's detail at a fraction of its time on a CPU.
    #: Not together with ``full_resolution_head``.
    subpixel_head: bool = False
    #: ``linknet`` only. Channels of the head; empty: half the encoder width (LinkNet's, and the
    #: paper's 32), or the encoder width with ``subpixel_head``.
    head_channels: int | None = field(default=None, metadata=_range(1, 1024))
    #: ``linknet`` only; not in the paper. A second logit channel, trained to find the pixels of
    #: everything the data marks as not guidewire (devices, and phantom outlines where the
    #: generator draws them), weighted by ``loss.device_head_weight``. Only training sees it: in
    #: eval mode, and so in validation, export and every backend, the network gives the guidewire
    #: channel alone. It makes the shared features tell a catheter from a wire by naming the
    #: catheter, instead of only weighing it up as background (``loss.device_weight``).
    device_head: bool = False
    #: ``linknet`` only; not in the paper. A logit channel for the guidewires' distal tips: a
    #: heatmap peaking at each visible tip (``loss.tip_weight``), from its own small branch on the
    #: decoder's features (linknet.TipBranch), which the tip loss does not train. The guidewire
    #: channel gives the wire's pixels but no sign of where it ends: along the published lines that
    #: run past a true tip onto something else its probability stays as high after the tip as
    #: before it (docs/accuracy.md, "A tip channel"). The network's eval-mode output stays the
    #: guidewire channel (validation scores it); the exported file and the torch backend give both
    #: (``ModelInfo.output`` ``"probability+tip"``, ``network.output_logits``), and the pipeline ends
    #: traced wires at the tip peaks. Synthetic data only.
    tip_head: bool = False
    #: Not in the paper. A second input channel, the frame minus an earlier frame of its run
    #: (guidewire_model.runtime.motion; zero without one): a wire moves with the heart, ECG leads and
    #: sternal wires lie on the skin and move only with breathing, and without contrast agent the
    #: two are the same thin dark line in one frame. The exported file says so (``ModelInfo.input``)
    #: and every runtime feeds it; an ``init_from`` one-frame network starts with zero weights on
    #: the new channel, so it computes what it did.
    motion_input: bool = False
    #: Channels of the tip branch.
    tip_channels: int = field(default=8, metadata=_range(1, 1024))
    #: ``linknet`` only. Middle width of each decoder block as a share of its input channels; empty:
    #: the paper's and LinkNet's quarter (Fig. 3; linknet.PAPER_DECODER_MID_RATIO), which at encoder
    #: width 16 leaves 4-32 channels to carry the deep layers' context up to the head.
    decoder_mid_ratio: float | None = field(default=None, metadata=_range(0.0, 4.0, lo_open=True))
    #: ``linknet`` only; not in the paper. A residual context block on layer4's output: dilated and
    #: image-level views of the deepest features (linknet.BottleneckContext), for telling a wire
    #: from a look-alike by what lies far from it; cheap, on the smallest map.
    bottleneck_context: bool = False
    #: With ``bottleneck_context`` only. False leaves out the block's image-level (global average)
    #: branch, which carries most of what the block adds and learns a per-frame calibration
    #: (docs/accuracy.md, "A context block at the bottleneck"); the dilated branches stay.
    bottleneck_context_image_level: bool = True
    #: ``linknet`` only; not in the paper. Deep supervision: the decoder's outputs at 1/8, 1/4 and
    #: 1/2 of the input each get a 1x1 logit convolution, trained against the labels max-pooled to
    #: that scale (``loss.deep_supervision_weight``), so the deep layers learn where a wire runs
    #: from their own loss, not only through the head. Training's alone: eval mode, validation,
    #: export and every backend see the guidewire channel as without it.
    deep_supervision: bool = False


@dataclass(frozen=True)
class LossConfig:
    """Modified focal loss, paper eq. (1); ``gamma = 0`` is the alpha-balanced BCE of eq. (2)."""

    alpha: float = field(metadata=_range(0.0))
    gamma: float = field(metadata=_range(0.0))
    #: The paper trains on the *sum* over pixels; ``mean`` divides by the pixel count.
    reduction: Literal["sum", "mean"]
    #: Weight of the skeleton recall term added to eq. (1) (not in the paper; 0 there): one minus
    #: the share of the true wire's skeleton covered by the predicted probability (Kirchhoff et
    #: al., "Skeleton Recall Loss for Connectivity Conserving and Resource Efficient Segmentation
    #: of Thin Tubular Structures", ECCV 2024). It rewards keeping every stretch of a thin wire, which
    #: the per-pixel focal loss weighs no more than a pixel of background.
    skeleton_recall_weight: float = field(default=0.0, metadata=_range(0.0))
    #: Weight of the skeleton precision term (not in the paper; 0 there): one minus the share of the
    #: predicted map's soft skeleton on the true wire, clDice's topology precision (Shit et al.,
    #: "clDice - a Novel Topology-Preserving Loss Function for Tubular Structure Segmentation", CVPR
    #: 2021). Where the recall term keeps the wire whole, this one charges a look-alike marked along
    #: its length (lead, catheter, vessel rim) by its share of the predicted lines.
    skeleton_precision_weight: float = field(default=0.0, metadata=_range(0.0))
    #: Weight of the background term on pixels of devices that are not guidewires (catheters,
    #: leads, sternal wires, stents; not in the paper, 1 there): the synthetic generator draws
    #: them and data sets may hold them as ``exclude/`` masks. About half of what the models
    #: marked on synthetic frames lay on such devices; weighing those pixels up as negatives
    #: aims the loss at the look-alikes the paper says a learned model should reject.
    device_weight: float = field(default=1.0, metadata=_range(0.0))
    #: Weight of the device channel's loss (``model.device_head``): eq. (1) with alpha 1 and this
    #: config's gamma, the devices as the positives.
    device_head_weight: float = field(default=1.0, metadata=_range(0.0))
    #: Weight of the device channel's background term on guidewire pixels (1 = plain background).
    #: With 1 the channel learned "dark line": its mean probability was 0.40 on device pixels and
    #: 0.51 on wire pixels of validation frames. The wires are the negatives it must tell apart.
    device_head_wire_weight: float = field(default=1.0, metadata=_range(0.0))
    #: Weight of the tip channel's loss (``model.tip_head``): the penalty-reduced focal loss of
    #: keypoint heatmaps (CornerNet / CenterNet: alpha 2, beta 4) on a Gaussian of ``tip_sigma_px``
    #: around each visible tip, divided by the number of tips in the batch.
    tip_weight: float = field(default=1.0, metadata=_range(0.0))
    #: Width of each tip's Gaussian in the tip channel's target [input pixels].
    tip_sigma_px: float = field(default=2.0, metadata=_range(0.5, 20.0))
    #: Weight of the background term within ``tip_zone_px`` of each visible distal tip (1 = plain
    #: background; synthetic data only). The traced lines ran on past the true tips onto the
    #: vessel the wire had followed, which the guidewire channel marked as wire.
    tip_zone_weight: float = field(default=1.0, metadata=_range(0.0))
    #: Radius of the zone around each tip weighted by ``tip_zone_weight`` [input pixels].
    tip_zone_px: float = field(default=32.0, metadata=_range(1.0, 256.0))
    #: Weight of the deep supervision maps' loss (``model.deep_supervision``): the mean over the
    #: three maps of this loss's guidewire terms (eq. (1) with its device and tip-zone weights, the
    #: skeleton terms) against labels max-pooled to each map's scale: a cell holding any wire pixel
    #: is wire, else one holding a device pixel is device.
    deep_supervision_weight: float = field(default=1.0, metadata=_range(0.0))


@dataclass(frozen=True)
class OptimConfig:
    """SGD and the plateau schedule of paper section II-D."""

    lr: float = field(metadata=_range(0.0, lo_open=True))
    momentum: float = field(metadata=_range(0.0, 1.0))
    weight_decay: float = field(metadata=_range(0.0))
    #: Effective batch size (the paper's 32); reached by gradient accumulation when
    #: ``micro_batch_size`` is smaller.
    batch_size: int = field(metadata=_range(1))
    #: Samples per forward pass; must divide ``batch_size``.
    micro_batch_size: int = field(metadata=_range(1))
    epochs: int = field(metadata=_range(1))
    #: The lr is multiplied by this when validation F1 has not improved for ``plateau_patience`` epochs.
    plateau_factor: float = field(metadata=_range(0.0, 1.0, lo_open=True))
    plateau_patience: int = field(metadata=_range(0))
    min_lr: float = field(metadata=_range(0.0))
    #: ``sgd`` with ``momentum`` (the paper); ``adam`` / ``adamw`` (Kingma & Ba; Loshchilov &
    #: Hutter), whose per-parameter step sizes train a narrow network from scratch far faster.
    #: ``weight_decay`` is L2 in the gradient for sgd/adam and decoupled for adamw.
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    #: Validate, keep and export an exponential moving average of the weights over optimizer
    #: steps (``training/weight_average.py``) instead of the weights of the last step; it spans
    #: about ``1 / (1 - ema_decay)`` steps. 0 = off (the paper).
    ema_decay: float = field(default=0.0, metadata=_range(0.0, 0.9999))
    #: The first optimizer steps of a run take a share of the rate rising linearly to 1 over this
    #: many steps (step k: (k + 1) / warmup_steps); the schedule's rate is untouched. Adam's first
    #: steps, before its moment estimates settle, move every weight by about ``lr`` whatever its
    #: gradient: a fine-tune from a trained network starts by knocking it back. 0 = off.
    warmup_steps: int = field(default=0, metadata=_range(0))


@dataclass(frozen=True)
class AugmentConfig:
    """Paper section II-A: rotation over the full circle and x/y flips; intensity jitter is ours."""

    rotate: bool
    flip_x: bool
    flip_y: bool
    intensity: bool


@dataclass(frozen=True)
class SyntheticDataConfig:
    """Training on fresh synthetic frames (``data.source: synthetic``) instead of a fixed folder.

    Every epoch draws new scenes from the generator (:mod:`guidewire_model.synthetic`), seeded by
    (seed, epoch, scene), so no frame is seen twice and a resumed run sees exactly the frames the
    uninterrupted run would have. Validation uses a fixed set of scenes from seeds
    ``val_seed, val_seed + 1, ...``, never drawn for training.
    """

    #: Generator presets to draw scenes from (``SyntheticConfig.preset`` names).
    presets: tuple[str, ...] = ("medium", "hard")
    #: Relative frequency of each preset in training (same length as ``presets``).
    weights: tuple[float, ...] = (1.0, 1.0)
    #: Training samples per epoch (an epoch is a validation and checkpoint interval here).
    samples_per_epoch: int = field(default=2048, metadata=_range(1))
    #: Consecutive frames rendered per scene: the scene costs about as much as three frames, so a
    #: few frames of each amortise it.
    frames_per_scene: int = field(default=8, metadata=_range(1, 256))
    #: Random crops taken from each rendered frame (``data.crop_size``); more is cheaper per sample.
    crops_per_frame: int = field(default=2, metadata=_range(1, 64))
    #: Scenes whose samples are interleaved: consecutive samples cycle through this many scenes, so
    #: a batch of consecutive samples mixes them (one scene per batch makes a poor gradient and
    #: poor BatchNorm statistics) while each scene is still rendered once.
    scenes_in_flight: int = field(default=8, metadata=_range(1, 256))
    #: Validation frames (whole frames at ``model.input_size``), presets taken in turn.
    val_frames: int = field(default=64, metadata=_range(1))
    #: Frames per validation scene.
    val_frames_per_scene: int = field(default=4, metadata=_range(1, 256))
    #: First generator seed of the validation scenes.
    val_seed: int = field(default=1_000_000, metadata=_range(0))
    #: Generator settings (``SyntheticConfig`` fields, e.g. ``faint_wire_probability: 0``) changed
    #: in every preset's *training* scenes: an ablation of one variation. Validation scenes keep
    #: the presets as they are, so runs with and without an override are scored on the same frames.
    generator_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # YAML gives lists; the generator's pair settings are tuples.
        object.__setattr__(self, "generator_overrides", {
            str(k): tuple(v) if isinstance(v, list) else v for k, v in self.generator_overrides.items()})


@dataclass(frozen=True)
class DataConfig:
    """Where the data set is and how it is split by patient (never by frame)."""

    #: Folder in the layout of docs/dataset-layout.md (``source: folder``).
    root: str
    #: Number of patients held out for testing (paper: 6 of 30).
    test_patients: int = field(metadata=_range(0))
    #: Number of training patients (sequences) held out for validation (paper: 2).
    val_patients: int = field(metadata=_range(1))
    split_seed: int
    num_workers: int = field(metadata=_range(0, 64))
    #: Train on random square crops of this side (input pixels) of each resized frame; 0 = whole
    #: frames. Validation and inference always see whole frames (the network is fully convolutional).
    crop_size: int = field(metadata=_range(0, 4096))
    #: ``folder``: frames and masks under ``root``, split by patient; ``synthetic``: fresh frames
    #: from the project's generator every epoch (``synthetic``), no folder needed.
    source: Literal["folder", "synthetic"] = "folder"
    synthetic: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)

    def __post_init__(self) -> None:
        syn = self.synthetic
        if len(syn.presets) == 0 or len(syn.presets) != len(syn.weights):
            raise ConfigError(
                f"data.synthetic.presets ({list(syn.presets)}) and data.synthetic.weights "
                f"({list(syn.weights)}) must be non-empty lists of equal length"
            )
        if any(not w >= 0 for w in syn.weights) or not sum(syn.weights) > 0:
            raise ConfigError(f"data.synthetic.weights must be >= 0 with a positive sum, got {list(syn.weights)}")
        if self.source == "synthetic":
            from guidewire_model.synthetic.config import PRESETS

            unknown = [p for p in syn.presets if p not in PRESETS]
            if unknown:
                raise ConfigError(
                    f"data.synthetic.presets: unknown preset(s) {', '.join(unknown)}; choose from {', '.join(PRESETS)}"
                )
            _check_generator_overrides(syn)


def _check_generator_overrides(syn: SyntheticDataConfig) -> None:
    """Refuse overrides the generator would refuse, naming the key, before any scene is drawn."""
    from guidewire_model.synthetic.config import SyntheticConfig

    if "size" in syn.generator_overrides:
        raise ConfigError("data.synthetic.generator_overrides: 'size' is model.input_size; set that instead")
    for preset in syn.presets:
        try:
            SyntheticConfig.preset(preset, **syn.generator_overrides)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"data.synthetic.generator_overrides (preset {preset}): {exc}") from None


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; written next to its checkpoints."""

    model: ModelConfig
    loss: LossConfig
    optim: OptimConfig
    augment: AugmentConfig
    data: DataConfig
    seed: int
    #: ``auto`` = CUDA when available, else CPU.
    device: Literal["auto", "cpu", "cuda"]
    #: Mixed precision in training steps: float16 (with a gradient scaler) on CUDA, bfloat16 on
    #: the CPU, where it pays only with bfloat16 matrix units (AMX, AVX-512 BF16). Validation and
    #: the export stay float32.
    amp: bool
    #: Probability threshold for the binary mask in validation metrics.
    threshold: float = field(metadata=_range(0.0, 1.0))
    #: Run folder: checkpoints, TensorBoard logs, the resolved config and the split.
    output_dir: str
    #: Start from the weights of this checkpoint (``best.pt`` / ``last.pt`` of an earlier run with
    #: the same ``model`` settings) instead of random ones: fine-tuning, or a later stage of a
    #: curriculum. The optimizer and schedule start fresh. Ignored when resuming (the run's own
    #: ``last.pt`` wins).
    init_from: str | None = None
    #: Parts of the network (``encoder``, ``decoder``, ``head``) that keep their fresh
    #: initialisation instead of taking ``init_from``'s weights: a new head on a trained encoder
    #: and decoder. Empty: ``init_from`` must hold the same network.
    init_fresh: tuple[str, ...] = ()
    #: Parts of the network (``encoder``, ``decoder``, ``head``, ``tip``) that do not train: their
    #: weights and BatchNorm statistics stay as ``init_from`` gave them, so a new part (a tip
    #: branch) learns on a finished network without changing what it already computes.
    frozen: tuple[str, ...] = ()
    #: Train only the weights that read the motion channel (``model.motion_input``): every other
    #: weight and BatchNorm statistic stays as ``init_from`` gave them, so on a frame without
    #: motion (a run's first two, a single frame) the network answers exactly as ``init_from``
    #: did (``training.motion_only``).
    motion_only: bool = False
    #: Also keep every epoch's weights, config and history (slim) as ``epochs/epoch_NNN.pt``: a run
    #: judged on a few real frames is judged on its spread over epochs, not on one lucky epoch.
    keep_epochs: bool = False

    def __post_init__(self) -> None:
        if self.optim.batch_size % self.optim.micro_batch_size:
            raise ConfigError(
                f"optim.micro_batch_size ({self.optim.micro_batch_size}) must divide "
                f"optim.batch_size ({self.optim.batch_size})"
            )
        if self.data.crop_size > self.model.input_size or self.data.crop_size % 32:
            raise ConfigError(
                f"data.crop_size ({self.data.crop_size}) must be 0 or a multiple of 32 no larger than "
                f"model.input_size ({self.model.input_size})"
            )
        if self.model.pretrained and not self.model.pretrained_weights:
            raise ConfigError(
                "model.pretrained is true but model.pretrained_weights is empty: set it to a local "
                "torchvision ResNet state dict (.pth) or set model.pretrained: false"
            )
        if self.model.pretrained and self.model.encoder_width != 64:
            raise ConfigError(
                "model.pretrained needs model.encoder_width: 64 (ImageNet weights fit only the "
                f"torchvision width), got {self.model.encoder_width}"
            )
        if self.motion_only and not (self.model.motion_input and self.init_from and not self.frozen):
            raise ConfigError(
                "motion_only trains the motion channel's weights of a trained network: it needs "
                "model.motion_input: true, init_from (--init-from) and frozen: []; got motion_input "
                f"{self.model.motion_input}, init_from {self.init_from!r}, frozen {list(self.frozen)}"
            )
        if self.init_fresh and not self.init_from:
            raise ConfigError(
                f"init_fresh lists {list(self.init_fresh)} but init_from is empty: name the checkpoint the "
                "other parts come from (--init-from), or set init_fresh: []"
            )


# --------------------------------------------------------------------------- loading


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader, resolving ``base:`` chains.

    ``base`` is a path relative to the file (or a bare name found in :func:`config_dir`); the
    file's keys are deep-merged over the base's.
    """
    return _load_yaml(Path(path), seen=())


def _load_yaml(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing YAML file")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the syntax") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / base) if (path.parent / base).is_file() else config_dir() / base
    return _deep_merge(_load_yaml(base_path, seen + (path,)), data)


def _deep_merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def from_mapping(cls: type[T], data: Mapping[str, Any], source: str = "<config>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys, types and ranges.

    Parameters
    ----------
    cls : dataclass type
        Target type; nested dataclass fields are built recursively.
    data : mapping
        Values, typically from :func:`load_yaml`.
    source : str
        File name used in error messages.
    prefix : str
        Dotted key prefix used in error messages.

    Raises
    ------
    ConfigError
        On an unknown or missing key, a wrong type or a value out of range.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: '{prefix.rstrip('.') or '<top>'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"allowed under '{prefix.rstrip('.') or '<top>'}': {', '.join(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                continue
            raise ConfigError(f"{source}: missing key '{key}'; add it (see config/train_paper.yaml)")
        kwargs[name] = _convert(hints[name], data[name], source, key, f.metadata)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _convert(tp: Any, value: Any, source: str, key: str, meta: Mapping) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, source, key + ".")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{source}: '{key}' is {value!r}; allowed: {', '.join(map(repr, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, source, key, meta)
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{source}: '{key}' must be a mapping of names to values, got {value!r}")
        return dict(value)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
        args = typing.get_args(tp)
        elem = args[0] if args else Any
        return tuple(_convert(elem, v, source, f"{key}[{i}]", {}) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
        _check_range(value, meta, source, key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
        _check_range(float(value), meta, source, key)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
        return value
    return value


def _check_range(value: float, meta: Mapping, source: str, key: str) -> None:
    if "range" not in meta:
        return
    lo, hi, lo_open = meta["range"]
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and value > hi
    if too_low or too_high:
        lo_txt = "-inf" if lo is None else f"{lo}"
        hi_txt = "inf" if hi is None else f"{hi}"
        bracket = "(" if lo_open else "["
        raise ConfigError(f"{source}: '{key}' is {value}; allowed range {bracket}{lo_txt}, {hi_txt}]")


def load_train_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Load a training config (default: the paper's) and apply dotted-key overrides.

    Parameters
    ----------
    path : path-like, optional
        YAML file; ``None`` loads ``train_paper.yaml`` from :func:`config_dir`.
    overrides : mapping, optional
        ``{"optim.epochs": 2, ...}`` applied after the file, e.g. from ``--set`` on a command line.
    """
    path = Path(path) if path is not None else config_dir() / "train_paper.yaml"
    data = load_yaml(path)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{dotted}': '{part}' is not a section")
        node[leaf] = value
    return from_mapping(TrainConfig, data, source=str(path))


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config dataclass, for YAML/JSON dumps and checkpoint metadata."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key.sub=value`` (value read as YAML) from a ``--set`` option."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. optim.epochs=2")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def describe_model(cfg: TrainConfig, opset: int | None = None, threshold: float | None = None) -> ModelInfo:
    """The :class:`~guidewire_model.runtime.model_info.ModelInfo` of a training config's network.

    Parameters
    ----------
    cfg : TrainConfig
        The run's config (e.g. from ``checkpoint.load_model``).
    opset : int, optional
        ONNX opset of the exported file.
    threshold : float, optional
        Overrides ``cfg.threshold`` (e.g. the best threshold of a sweep).
    """
    from guidewire_model import __version__

    m = cfg.model
    return ModelInfo(
        input_size=int(m.input_size),
        input_mean=float(m.input_mean),
        input_std=float(m.input_std),
        threshold=float(cfg.threshold if threshold is None else threshold),
        architecture=str(m.architecture),
        encoder=str(m.encoder),
        encoder_width=int(m.encoder_width),
        output=OUTPUT_PROBABILITY_AND_TIP if m.tip_head else OUTPUT_PROBABILITY,
        config_sha256=config_sha256(to_dict(cfg)),
        version=__version__,
        opset=opset,
        input=INPUT_FRAME_AND_MOTION if m.motion_input else INPUT_FRAME,
    )
