"""Train the guidewire segmentation network (paper section II-D), on one process or under torchrun.

Usage::

    guidewire-train                                   # the paper's setup (config/train_paper.yaml)
    guidewire-train --config config/train_demo.yaml   # a one-minute CPU demo
    guidewire-train --set optim.epochs=50 --set loss.alpha=75 --output-dir runs/a75
    guidewire-train --config ... --resume             # continue a killed run exactly
    torchrun --nproc_per_node=4 -m guidewire_model.training.train --config ...   # data parallel

A run folder (``output_dir``) receives ``config.yaml`` (the resolved config), ``split.json`` (the
patient split), ``last.pt`` (every epoch, atomically), ``best.pt`` (best validation F1),
``summary.json``, ``train.log`` and TensorBoard logs under ``tb/``; with ``keep_epochs``, every
epoch's slim checkpoint under ``epochs/``. A checkpoint's ``model`` is the network that epoch's
validation scored: with ``optim.ema_decay`` the weight average, while ``train_model`` carries the
optimizer's own weights and ``weight_average`` the average's counters, for resuming (the average
itself is ``model``, stored once).

Batches and gradients
---------------------
``optim.batch_size`` is the *effective* (global) batch of one optimizer step, the paper's 32.
With ``W`` ranks each rank loads ``batch_size / W`` samples per step and runs them through the
network in chunks of ``micro_batch_size``, accumulating gradients. The loss of each chunk is scaled
so the accumulated gradient equals the gradient of the configured loss over the whole batch:

* ``reduction: sum`` (the paper): the batch loss is the sum of the chunk sums, so chunks are not
  rescaled; DDP *averages* gradients over ranks, so each rank's loss is multiplied by ``W`` to turn
  that average back into the sum over all ranks' samples.
* ``reduction: mean``: each chunk mean is weighted by ``chunk_size / rank_batch_size`` (exact even
  for a smaller last batch), and DDP's average over ranks (equal batch sizes, as
  ``DistributedSampler`` pads) gives the mean over the global batch.

Exact resume
------------
Every source of randomness is a pure function of ``(seed, epoch)``: the shuffle order
(``DistributedSampler`` seeds with ``seed + epoch``), augmentation (``dataset.set_epoch``), and the
global torch/numpy/python RNGs, which are re-seeded at the start of every epoch. Checkpoints are
written only at epoch ends, atomically, ``best.pt`` before ``last.pt``. A run killed at any moment
therefore resumes from the last completed epoch and, on CPU with deterministic algorithms, ends
with bit-identical weights to an uninterrupted run. (On CUDA, cuDNN autotuning and atomics make
runs close but not bit-identical.)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler

from guidewire_model.training import distributed as dist_utils
from guidewire_model.core.atomic_io import write_text_atomic
from guidewire_model.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, slim_payload
from guidewire_model.training.config import (ConfigError, ModelConfig, SyntheticDataConfig, TrainConfig,
                                             load_train_config, parse_override, to_dict)
from guidewire_model.training.motion_only import MotionOnly
from guidewire_model.training.weight_average import WeightAverage

__all__ = ["ADDABLE_PARTS", "RESUMABLE_KEYS", "config_differences", "main", "parameter_checksum",
           "repeats_parent_scenes", "train"]

log = logging.getLogger("guidewire_model.training.train")

#: Config keys that may change between a run and its resume: more epochs, a moved run folder.
RESUMABLE_KEYS = frozenset({"optim.epochs", "output_dir"})

#: Top-level parts a model key adds to a network that works without them (``model.tip_head``,
#: ``model.bottleneck_context``, ``model.deep_supervision``): started from a checkpoint that lacks one
#: altogether, the part keeps its own initialisation, as ``init_fresh`` would, since it was built to
#: start closed or apart.
ADDABLE_PARTS = ("tip", "context", "aux")

#: Validation frames shown as overlays in TensorBoard each epoch.
N_TB_OVERLAYS = 4


# --------------------------------------------------------------------------- small pure helpers


def _network_text(m: ModelConfig) -> str:
    """The network a run trains, with the parts that are not the paper's, for its start-up line.

    Two runs whose lines differ only in these parts (a decoder's width, a context block) would
    otherwise read the same in their logs; the run's ``config.yaml`` has every key.
    """
    if m.architecture != "linknet":
        return m.architecture
    parts = [f"width {m.encoder_width}"]
    parts += [name for name, on in (("stem skip", m.stem_skip), ("full-resolution head", m.full_resolution_head),
                                     ("half-resolution head", m.subpixel_head)) if on]
    if m.bottleneck_context:
        parts.append("bottleneck context" + ("" if m.bottleneck_context_image_level else " without its image level"))
    if m.decoder_mid_ratio is not None:
        parts.append(f"decoder mid ratio {m.decoder_mid_ratio:g}")
    if m.deep_supervision:
        parts.append("deep supervision")
    return f"linknet/{m.encoder} ({', '.join(parts)})"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def _field_defaults(cls: type, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of ``cls`` (a config dataclass) that have a default, with it, in ``_flatten`` form."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
        elif dataclasses.is_dataclass(hints[f.name]):
            out.update(_field_defaults(hints[f.name], f"{prefix}{f.name}."))
            continue
        else:
            continue
        if dataclasses.is_dataclass(value):
            out.update(_flatten(dataclasses.asdict(value), f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = list(value) if isinstance(value, tuple) else value
    return out


def config_differences(old: dict[str, Any], new: dict[str, Any], ignore: frozenset[str] = RESUMABLE_KEYS) -> list[str]:
    """Dotted keys whose values differ between two config dicts (``to_dict`` form), minus ``ignore``.

    A key the old config lacks counts as its default value: a run started before a setting existed
    ran with that setting's default, so it still resumes.
    """
    defaults = _field_defaults(TrainConfig)
    a, b = _flatten(old), _flatten(new)
    a = {**{k: v for k, v in defaults.items() if k in b}, **a}
    return sorted(k for k in set(a) | set(b) if k not in ignore and a.get(k, "<missing>") != b.get(k, "<missing>"))


def _synthetic_source(syn: SyntheticDataConfig) -> str:
    """The training data as the start-up line names it, with any generator overrides."""
    over = ", ".join(f"{k}={v}" for k, v in sorted(syn.generator_overrides.items()))
    return "fresh synthetic scenes" + (f" with {over}" if over else "")


def parameter_checksum(model: nn.Module) -> str:
    """SHA-256 over the exact bytes of every parameter, in ``named_parameters`` order.

    Equal on two ranks only if their weights are bit-identical: a runtime check that DDP kept
    the replicas in sync.
    """
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _epoch_seed(seed: int, epoch: int) -> int:
    # Distinct, reproducible seed per (seed, epoch); kept below 2**32 for numpy.
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**32)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _rng_state() -> dict[str, Any]:
    """RNG states as weights_only-loadable data (tensors and plain lists)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "algorithm": str(np_state[0]),
            "keys": [int(k) for k in np_state[1]],
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["algorithm"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_cpu(state: Any) -> Any:
    # Checkpoints hold CPU tensors so they load on machines without the training GPU.
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: _to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_cpu(v) for v in state)
    return state


def _resolve_device(cfg: TrainConfig) -> str:
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.device


# --------------------------------------------------------------------------- run folder


def _prepare_split(cfg: TrainConfig, out: Path, resume: bool):
    from guidewire_model.data.sequences import Split, scan_dataset, split_by_patient

    if cfg.data.source == "synthetic":
        # Fresh generator scenes every epoch: no folder, no patients to split.
        return None, [], []
    sequences = scan_dataset(cfg.data.root)
    split = split_by_patient(sequences, cfg.data.test_patients, cfg.data.val_patients, cfg.data.split_seed)
    split_file = out / "split.json"
    if resume and split_file.is_file():
        stored = Split.from_json(split_file.read_text(encoding="utf-8"))
        if stored != split:
            raise ConfigError(
                f"{split_file}: the data set at {cfg.data.root} now splits differently than when the run "
                "started (sequences added or removed); resume with the original data or start a new run"
            )
    return split, split.sequences("train", sequences), split.sequences("val", sequences)


def _check_resume_config(cfg: TrainConfig, out: Path, stored: dict[str, Any] | None) -> None:
    if stored is None:
        cfg_file = out / "config.yaml"
        if not cfg_file.is_file():
            return
        stored = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
        where = str(cfg_file)
    else:
        where = str(out / "last.pt")
    diff = config_differences(stored, to_dict(cfg))
    if diff:
        flat_old, flat_new = _flatten(stored), _flatten(to_dict(cfg))
        details = "; ".join(f"{k}: {flat_old.get(k, '<missing>')!r} -> {flat_new.get(k, '<missing>')!r}" for k in diff)
        raise ConfigError(
            f"cannot resume: the config differs from the run's ({where}) in {', '.join(diff)} ({details}); "
            f"only {', '.join(sorted(RESUMABLE_KEYS))} may change on resume. Use the run's config.yaml "
            "or start a new run in another --output-dir"
        )


# --------------------------------------------------------------------------- one epoch


def _micro_chunks(images: torch.Tensor, masks: torch.Tensor, micro: int):
    return zip(torch.split(images, micro), torch.split(masks, micro))


def _train_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    cfg: TrainConfig,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    epoch: int,
    average: WeightAverage | None = None,
    motion_only: MotionOnly | None = None,
) -> float:
    """One pass over this rank's shard; returns the mean per-sample loss (this rank).

    ``amp_dtype`` is the forward pass's autocast precision (:func:`_amp_dtype`; None = float32).
    ``average``, when given, is updated from the unwrapped network after every optimizer step.
    ``motion_only``, when given, holds everything but the motion channel's weights (in the network
    and in the average) where they were at the epoch's start.
    """
    from tqdm import tqdm

    model.train()
    if cfg.frozen:
        freeze_parts(getattr(model, "module", model), cfg.frozen)
    if motion_only is not None:
        motion_only.hold(getattr(model, "module", model))
    world = dist_utils.world_size()
    micro = cfg.optim.micro_batch_size
    total_loss, total_samples = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.optim.epochs} train", leave=False,
               disable=True if not dist_utils.is_main() else None)
    first_step = epoch * len(loader)
    for step, (images, masks) in enumerate(bar, start=first_step):
        n_batch = images.shape[0]
        optimizer.zero_grad(set_to_none=True)
        chunks = list(_micro_chunks(images, masks, micro))
        for i, (x, y) in enumerate(chunks):
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            # DDP all-reduces gradients on every backward; only the last chunk of a step needs it.
            sync = i == len(chunks) - 1 or not hasattr(model, "no_sync")
            ctx = contextlib.nullcontext() if sync else model.no_sync()
            with ctx:
                with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(x)
                # The loss in float32: the paper's *sum* over 512x512x32 pixels overflows float16.
                loss = criterion(logits.float(), y)
                if cfg.loss.reduction == "sum":
                    scaled = loss * world
                    total_loss += float(loss.detach())
                else:
                    scaled = loss * (x.shape[0] / n_batch)
                    total_loss += float(loss.detach()) * x.shape[0]
                scaler.scale(scaled).backward()
        if not math.isfinite(total_loss):
            raise FloatingPointError(
                f"training loss became {total_loss} in epoch {epoch + 1}; lower optim.lr or use loss.reduction: mean"
            )
        with _warmed_up(optimizer, warmup_factor(step, cfg.optim.warmup_steps)):
            scaler.step(optimizer)
        scaler.update()
        if motion_only is not None:
            motion_only.restore(getattr(model, "module", model).state_dict())
        if average is not None:
            average.update(getattr(model, "module", model))
            if motion_only is not None:
                motion_only.restore(average.average)
        total_samples += n_batch
        bar.set_postfix(loss=f"{total_loss / max(total_samples, 1):.4g}")
    return total_loss / max(total_samples, 1)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Share of the scheduled rate that optimizer step ``step`` (0-based, counted from the run's
    first step) takes under ``optim.warmup_steps``: rising linearly, 1 from ``warmup_steps`` on."""
    return 1.0 if step >= warmup_steps else (step + 1) / warmup_steps


@contextlib.contextmanager
def _warmed_up(optimizer: torch.optim.Optimizer, factor: float):
    """Let one step take ``factor`` of the rate; the schedule's rate is back in place after it."""
    if factor == 1.0:
        yield
        return
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] *= factor
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled):
            group["lr"] = lr


def _amp_dtype(amp: bool, device: torch.device) -> torch.dtype | None:
    """Autocast precision of a training step with ``amp``: float16 on CUDA, bfloat16 on CPU.

    On a CPU with bfloat16 matrix units (AMX, AVX-512 BF16) a step is several times faster than in
    float32 (``docs/benchmarks.md``); on one without them it is slower.
    """
    if not amp:
        return None
    return torch.float16 if device.type == "cuda" else torch.bfloat16


@dataclass
class _Validation:
    """One pass over the validation set, reduced over ranks (see :func:`_validate`)."""

    counts: Any  # metrics.PixelCounts at cfg.threshold
    sweep: Any  # metrics.ThresholdSweep
    tolerance: Any  # metrics.ToleranceCounts (F1@2) at the sweep's best threshold
    #: Share of the pixels predicted at the best threshold that lie on non-guidewire devices; None
    #: when the validation targets mark no device.
    device_share: float | None
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # rank 0: (image, pred, gt) for overlays


@torch.no_grad()
def _validate(
    model: nn.Module, val_set, indices: list[int], cfg: TrainConfig, device: torch.device
) -> _Validation:
    """Exact pixel counts over the whole validation set, reduced over ranks.

    In float32 with or without ``amp``: the threshold chosen here is shipped with the float32
    export, and a half-precision map moves the F1-best threshold.

    Each rank takes every ``W``-th frame (no padding, so no frame is counted twice). Targets are
    0 / 1 / :data:`~guidewire_model.training.losses.DEVICE_LABEL`: device pixels count as
    background, and the share of predictions on them is reported.
    """
    from guidewire_model.metrics.pixels import PixelCounts, ThresholdSweep, ToleranceCounts, pixel_counts, tolerance_counts
    from guidewire_model.training.losses import DEVICE_LABEL

    model.eval()
    counts = PixelCounts()
    sweep = ThresholdSweep()
    samples = []
    # Probabilities kept (half precision) until the sweep over every frame gives the best threshold.
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    mine = indices[dist_utils.rank():: dist_utils.world_size()]
    loader = DataLoader(Subset(val_set, mine), batch_size=cfg.optim.micro_batch_size, shuffle=False,
                        num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda")
    for images, masks in loader:
        x = images.to(device, non_blocking=True)
        prob = torch.sigmoid(model(x).float()).cpu().numpy()
        pred = prob >= cfg.threshold
        labels = masks.numpy()
        gt, on_device = labels == 1, labels == DEVICE_LABEL
        counts = counts + pixel_counts(pred, gt)
        sweep.update(prob, gt)
        kept.extend((p[0].astype(np.float16), g[0], d[0]) for p, g, d in zip(prob, gt, on_device))
        if dist_utils.is_main() and len(samples) < N_TB_OVERLAYS:
            for j in range(min(images.shape[0], N_TB_OVERLAYS - len(samples))):
                img = images[j, 0].numpy() * cfg.model.input_std + cfg.model.input_mean
                samples.append((np.clip(img, 0.0, 1.0), pred[j, 0], gt[j, 0]))
    total = PixelCounts.from_array(dist_utils.all_reduce_sum(counts.as_array()))
    merged = ThresholdSweep.from_array(dist_utils.all_reduce_sum(sweep.as_array()))
    best_t, _ = merged.best()
    tolerance = ToleranceCounts()
    # predicted pixels on devices, predicted pixels, device pixels
    device_counts = np.zeros(3, dtype=np.int64)
    for p16, g, d in kept:
        pred = p16 >= best_t
        tolerance = tolerance + tolerance_counts(pred, g)
        device_counts += (np.count_nonzero(pred & d), np.count_nonzero(pred), np.count_nonzero(d))
    tolerance = ToleranceCounts.from_array(dist_utils.all_reduce_sum(tolerance.as_array()))
    on_device, predicted, devices = dist_utils.all_reduce_sum(device_counts)
    device_share = None if devices == 0 else float(on_device / predicted) if predicted else 0.0
    return _Validation(total, merged, tolerance, device_share, samples)


def _validated_weights(model: nn.Module, average: WeightAverage | None):
    return average.applied(model) if average is not None else contextlib.nullcontext(model)


def _broadcast_buffers(module: nn.Module) -> None:
    # BatchNorm running statistics drift apart across ranks (each sees its own batches); take
    # rank 0's so every rank validates -- and rank 0 saves -- the same model.
    if dist_utils.is_distributed():
        for buf in module.buffers():
            torch.distributed.broadcast(buf.data, src=0)


# --------------------------------------------------------------------------- training


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train a model as configured and return the run summary.

    Parameters
    ----------
    cfg : TrainConfig
        The complete run configuration; ``cfg.output_dir`` receives all outputs.
    resume : bool
        Continue from ``output_dir/last.pt`` (starting fresh if no epoch completed yet). The config
        must equal the run's except for :data:`RESUMABLE_KEYS`.

    Returns
    -------
    dict
        ``epochs_run``, ``best_val_f1``, ``best_epoch``, ``final_val`` (precision/recall/f1/counts),
        ``param_checksums`` (one per rank), ``world_size``, ``device``, ``history``, ``output_dir``,
        ``seconds``; also written to ``output_dir/summary.json``.

    Raises
    ------
    ConfigError
        If resuming with a different config, or ``output_dir`` already holds a run and ``resume`` is
        false, or the batch size does not divide over the ranks.
    CheckpointError
        If ``last.pt`` exists but cannot be read.
    dataset.DatasetError
        If the data set is invalid.
    """
    from guidewire_model.training.losses import GuidewireLoss
    from guidewire_model.training.network import build_model

    started = time.perf_counter()
    device_name = _resolve_device(cfg)
    device = dist_utils.init_from_env(device_name)
    world, rank, main_rank = dist_utils.world_size(), dist_utils.rank(), dist_utils.is_main()
    out = Path(cfg.output_dir)
    last_path, best_path = out / "last.pt", out / "best.pt"

    if cfg.optim.batch_size % (world * cfg.optim.micro_batch_size):
        raise ConfigError(
            f"optim.batch_size ({cfg.optim.batch_size}) must be a multiple of world size ({world}) x "
            f"optim.micro_batch_size ({cfg.optim.micro_batch_size}); change one of them"
        )
    if cfg.frozen and not cfg.init_from:
        raise ConfigError(f"frozen lists {list(cfg.frozen)} but init_from is empty: frozen parts keep the weights of "
                          "a trained network; name it (--init-from) or set frozen: []")
    if not resume and last_path.exists():
        raise ConfigError(
            f"{out} already holds a run ({last_path}); pass --resume to continue it or choose another --output-dir"
        )

    payload = None
    if resume and last_path.is_file():
        payload = load_checkpoint(last_path)
    if resume:
        _check_resume_config(cfg, out, payload["config"] if payload else None)

    split, train_seqs, val_seqs = _prepare_split(cfg, out, resume)
    file_log = None
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
        if split is not None:
            write_text_atomic(out / "split.json", split.to_json())
        write_text_atomic(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        file_log = _attach_file_log(out / "train.log")
    dist_utils.barrier()

    # Deterministic kernels make a resumed CPU run bit-identical; cuDNN autotuning is worth more
    # on GPUs than bit-exactness.
    prev_det = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    else:
        torch.backends.cudnn.benchmark = True
    try:
        return _run(cfg, resume, payload, split, train_seqs, val_seqs, device, world, rank, main_rank,
                    out, last_path, best_path, started, build_model, GuidewireLoss)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        if file_log is not None:
            # One log per run: a sweep calls train() many times in one process.
            log.removeHandler(file_log)
            file_log.close()


def _build_datasets(cfg: TrainConfig, train_seqs, val_seqs):
    """Training and validation sets of the configured data source."""
    m = cfg.model
    crop = cfg.data.crop_size or None
    # Device targets only matter to a loss that weighs them differently from background, or
    # that has a channel to find them.
    devices = cfg.loss.device_weight != 1.0 or cfg.model.device_head
    if cfg.data.source == "synthetic":
        from guidewire_model.training.synthetic_dataset import SyntheticTrainSet, SyntheticValidationSet

        syn = cfg.data.synthetic
        return (SyntheticTrainSet(syn, m.input_size, m.input_mean, m.input_std, cfg.augment, cfg.seed, crop,
                                  with_devices=devices, tip_sigma_px=cfg.loss.tip_sigma_px if m.tip_head else None,
                                  tip_zone_px=cfg.loss.tip_zone_px if cfg.loss.tip_zone_weight != 1.0 else 0.0,
                                  motion=m.motion_input),
                SyntheticValidationSet(syn, m.input_size, m.input_mean, m.input_std, motion=m.motion_input))
    from guidewire_model.training.dataset import SegmentationDataset

    if m.tip_head:
        raise ConfigError("model.tip_head trains on the synthetic generator's tips; set data.source: synthetic "
                          "or model.tip_head: false")
    if cfg.loss.tip_zone_weight != 1.0:
        raise ConfigError("loss.tip_zone_weight weighs the background around the synthetic generator's tips; set "
                          "data.source: synthetic or loss.tip_zone_weight: 1")
    return (SegmentationDataset(train_seqs, m.input_size, m.input_mean, m.input_std, cfg.augment, cfg.seed,
                                crop_size=crop, with_devices=devices, motion=m.motion_input),
            SegmentationDataset(val_seqs, m.input_size, m.input_mean, m.input_std, None, cfg.seed, with_devices=True,
                                motion=m.motion_input))


def _init_weights(model: nn.Module, cfg: TrainConfig) -> None:
    """Load ``cfg.init_from``'s weights into ``model`` (same architecture), or fail naming the fix."""
    source = Path(cfg.init_from)
    if not source.is_file():
        raise ConfigError(f"init_from: {source} does not exist; point it at a run's best.pt or last.pt")
    init = load_checkpoint(source)
    fresh = tuple(cfg.init_fresh) + tuple(
        part for part in ADDABLE_PARTS
        if part not in cfg.init_fresh and getattr(model, part, None) is not None
        and not any(key.startswith(f"{part}.") for key in init["model"]))
    # The deep supervision maps are training's alone: a network without them starts from one with.
    source_weights = {k: v for k, v in init["model"].items()
                      if getattr(model, "aux", None) is not None or not k.startswith("aux.")}
    try:
        weights = _with_device_channel(source_weights, model.state_dict())
        weights = _with_input_channels(weights, model.state_dict())
        if fresh:
            weights = _keep_fresh(weights, model, fresh)
        model.load_state_dict(weights)
    except (RuntimeError, KeyError) as exc:
        raise ConfigError(
            f"init_from: {source} holds a different network than this config's model settings "
            f"({cfg.model.architecture}/{cfg.model.encoder}, width {cfg.model.encoder_width}); use the model "
            f"section of the run it came from ({exc.__class__.__name__}: {str(exc)[:300]})"
        ) from exc
    log.info("initialised the weights from %s (epoch %s of its run)%s", source, init.get("epoch", "?"),
             f"; fresh: {', '.join(fresh)}" if fresh else "")
    if repeats_parent_scenes(init["config"], cfg):
        log.warning("init_from: %s's run drew its synthetic training scenes with seed %d too, so this run's "
                    "epochs re-draw the scenes of that run's epochs; --set seed=N draws new ones", source, cfg.seed)


def repeats_parent_scenes(parent: Mapping[str, Any], cfg: TrainConfig) -> bool:
    """Whether a run started from a checkpoint would train on the scenes its parent run saw.

    Training scenes are a function of (seed, epoch, scene) (``synthetic_dataset.scene_seed``) and a
    run started with ``init_from`` counts its epochs from 1 again, so with the parent's seed its
    epoch ``e`` renders the scenes of the parent's epoch ``e`` (the parent's generator overrides
    aside): for as many epochs and scenes per epoch as the parent ran, it sees no new scene.

    Parameters
    ----------
    parent : mapping
        The ``config`` stored in the parent's checkpoint.
    cfg : TrainConfig
        The new run's configuration.

    Returns
    -------
    bool
        True when both runs draw synthetic scenes with the same seed.
    """
    parent_data = parent.get("data") or {}
    return (cfg.data.source == "synthetic" and parent_data.get("source") == "synthetic"
            and parent.get("seed") == cfg.seed)


def freeze_parts(model: nn.Module, parts: Sequence[str]) -> None:
    """Stop ``model``'s top-level ``parts`` from training: no gradients, BatchNorm in eval mode.

    Call again after every ``model.train()`` (which sets every module back to training mode).

    Raises
    ------
    ConfigError
        If a part is not a top-level module of ``model``, or nothing would be left to train.
    """
    children = _top_level_parts(model, parts, "frozen")
    for part in parts:
        children[part].eval()
        for p in children[part].parameters():
            p.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"frozen: {list(parts)} leaves nothing of the network to train")


def _top_level_parts(model: nn.Module, parts: Sequence[str], key: str) -> dict[str, nn.Module]:
    """``model``'s top-level modules by name, after checking that the config's ``key`` names only them.

    Raises
    ------
    ConfigError
        Naming ``key``, the unknown parts and the network's parts.
    """
    children = dict(model.named_children())
    unknown = [part for part in parts if part not in children]
    if unknown:
        raise ConfigError(f"{key}: {unknown} are not parts of this network; its parts are {list(children)}")
    return children


def _keep_fresh(weights: dict[str, torch.Tensor], model: nn.Module,
                parts: Sequence[str]) -> dict[str, torch.Tensor]:
    """``weights`` with the tensors of ``model``'s top-level ``parts`` replaced by ``model``'s own.

    Raises
    ------
    ConfigError
        If a part is not a top-level module of ``model``.
    """
    _top_level_parts(model, parts, "init_fresh")
    prefixes = tuple(f"{part}." for part in parts)
    kept = {key: value for key, value in weights.items() if not key.startswith(prefixes)}
    kept.update((key, value) for key, value in model.state_dict().items() if key.startswith(prefixes))
    return kept


def _with_input_channels(weights: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` of a one-frame network made to fit ``target``'s, one with more input channels.

    The convolutions that read the frame get zero weights on the channels they lacked, so the
    network starts out computing exactly what it did and learns to use the new input.
    """
    grown = dict(weights)
    for key, old in weights.items():
        new = target.get(key)
        if new is None or old.ndim != 4 or new.shape == old.shape:
            continue
        if new.shape[0] == old.shape[0] and new.shape[2:] == old.shape[2:] and new.shape[1] > old.shape[1]:
            pad = old.new_zeros((old.shape[0], new.shape[1] - old.shape[1], *old.shape[2:]))
            grown[key] = torch.cat([old, pad], dim=1)
    return grown


def _with_device_channel(weights: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` of a one-channel network made to fit ``target``'s, a network with a device head.

    The last head layer's guidewire channel is taken over and the device channel keeps
    ``target``'s fresh initialisation, so a shipped model can be fine-tuned with a device head.
    A channel is one row of that layer, or ``k`` consecutive rows where a pixel shuffle makes
    each row one of its ``k`` sub-pixels (the sub-pixel head: 4 rows, then 8).
    Weights that already fit (or that differ elsewhere) are returned unchanged.
    """
    grown = dict(weights)
    head_weights = [key for key in target if key.startswith("head.") and key.endswith(".weight")]
    if not head_weights:
        return grown
    # Every head registers its output layer last.
    last_layer = head_weights[-1][:-len("weight")]
    for key in (last_layer + "weight", last_layer + "bias"):
        old, value = weights.get(key), target.get(key)
        if (old is not None and value is not None and value.shape[0] == 2 * old.shape[0]
                and old.shape[1:] == value.shape[1:]):
            grown[key] = torch.cat([old, value[old.shape[0]:]], dim=0)
    return grown


def build_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``optim.optimizer`` names, with ``optim.lr`` / ``momentum`` / ``weight_decay``."""
    o = cfg.optim
    if o.optimizer == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def _run(cfg, resume, payload, split, train_seqs, val_seqs, device, world, rank, main_rank, out,
         last_path, best_path, started, build_model, loss_cls) -> dict[str, Any]:
    amp_dtype = _amp_dtype(cfg.amp, device)
    m = cfg.model
    train_set, val_set = _build_datasets(cfg, train_seqs, val_seqs)
    if len(train_set) == 0 or len(val_set) == 0:
        raise ConfigError(
            f"{cfg.data.root}: the split leaves {len(train_set)} training and {len(val_set)} validation frames; "
            "add sequences or lower data.test_patients / data.val_patients"
        )

    _seed_everything(cfg.seed)
    model = build_model(m).to(device)
    criterion = loss_cls(cfg.loss)
    if m.deep_supervision:
        from guidewire_model.training.losses import DeepSupervisionLoss

        criterion = DeepSupervisionLoss(criterion, cfg.loss.deep_supervision_weight)
    if cfg.frozen:
        freeze_parts(model, cfg.frozen)
    motion_only = MotionOnly(model, m) if cfg.motion_only else None
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=cfg.optim.plateau_factor, patience=cfg.optim.plateau_patience,
        min_lr=cfg.optim.min_lr)
    # bfloat16 has float32's exponent range: only float16's gradients need scaling.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    start_epoch, best_f1, best_epoch, history = 0, -1.0, 0, []
    initial_val = None
    if payload is None and cfg.init_from:
        _init_weights(model, cfg)
        # Fine-tuning is judged against where it started: the validation scores of the weights it
        # was given, on this run's own validation frames, before any step.
        _broadcast_buffers(model)
        initial = _validate(model, val_set, list(range(len(val_set))), cfg, device)
        initial_val = _validation_record(initial)
        if main_rank:
            log.info("initial weights from %s: val P %.4f R %.4f F1 %.4f  best-threshold F1 %.4f (F1@2 %.4f) at %.3f%s",
                     cfg.init_from, initial.counts.precision, initial.counts.recall, initial.counts.f1,
                     initial_val["val_best_threshold_f1"], initial.tolerance.f1, initial_val["val_best_threshold"],
                     _device_share_text(initial_val))
    # Created after the initial weights are in place: the average starts from them.
    average = WeightAverage(model, cfg.optim.ema_decay, fixed=cfg.frozen) if cfg.optim.ema_decay > 0 else None
    if payload is not None:
        initial_val = payload.get("initial_val")
        # With an average, "model" holds the averaged weights that were validated and kept, and
        # the optimizer's own weights travel as "train_model".
        model.load_state_dict(payload.get("train_model", payload["model"]))
        if average is not None:  # same config as the run's (checked), so the payload has one
            average.load_state_dict(payload["weight_average"], payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
        _set_rng_state(payload["rng"])
        start_epoch = int(payload["epoch"])
        best_f1, best_epoch = float(payload["best_f1"]), int(payload["best_epoch"])
        history = list(payload["history"])
        log.info("resuming %s after epoch %d (best val F1 %.4f at epoch %d)", out, start_epoch, best_f1, best_epoch)
    elif resume:
        log.info("resume requested but %s has no completed epoch yet: starting from %s", out,
                 f"the weights of {cfg.init_from}" if cfg.init_from else "scratch")

    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    rank_batch = cfg.optim.batch_size // world
    # Synthetic epochs are new data in any order; handing indices out in order lets each worker
    # render a scene once for its consecutive frames and crops.
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank,
                                 shuffle=cfg.data.source != "synthetic", seed=cfg.seed)
    writer = None
    if main_rank:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops points a killed run logged after its last checkpoint.
        writer = SummaryWriter(log_dir=str(out / "tb"), purge_step=start_epoch + 1 if payload else None)
        log.info(
            "training %s on %s x%d (%s steps): %d train samples (%s), %d val frames (%s), "
            "batch %d = %d ranks x %d steps of %d, %s lr %g%s, loss alpha=%g gamma=%g reduction=%s "
            "skeleton recall %g precision %g device weight %g, device head %s, tip head %s, tip zone %s, motion input %s, "
            "weight average %s, frozen %s, epochs %d..%d",
            _network_text(m), device.type, world, str(amp_dtype or torch.float32).removeprefix("torch."),
            len(train_set),
            f"{len(train_seqs)} sequences" if split is not None else _synthetic_source(cfg.data.synthetic), len(val_set),
            f"{len(val_seqs)} sequences" if split is not None else "synthetic", cfg.optim.batch_size, world,
            rank_batch // cfg.optim.micro_batch_size, cfg.optim.micro_batch_size, cfg.optim.optimizer,
            cfg.optim.lr, f" (warmup {cfg.optim.warmup_steps} steps)" if cfg.optim.warmup_steps else "",
            cfg.loss.alpha, cfg.loss.gamma, cfg.loss.reduction, cfg.loss.skeleton_recall_weight,
            cfg.loss.skeleton_precision_weight, cfg.loss.device_weight,
            (f"weight {cfg.loss.device_head_weight:g}, wires {cfg.loss.device_head_wire_weight:g}"
             if m.device_head else "off"),
            f"weight {cfg.loss.tip_weight:g}, sigma {cfg.loss.tip_sigma_px:g} px" if m.tip_head else "off",
            (f"weight {cfg.loss.tip_zone_weight:g} within {cfg.loss.tip_zone_px:g} px"
             if cfg.loss.tip_zone_weight != 1.0 else "off"),
            "on" if m.motion_input else "off",
            f"decay {cfg.optim.ema_decay:g}" if average else "off",
            "all but the motion channel's weights" if motion_only else ", ".join(cfg.frozen) or "nothing",
            start_epoch + 1, cfg.optim.epochs)

    val_counts = None
    for epoch in range(start_epoch, cfg.optim.epochs):
        _seed_everything(_epoch_seed(cfg.seed, epoch))
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        loader = DataLoader(
            train_set, batch_size=rank_batch, sampler=sampler, num_workers=cfg.data.num_workers,
            pin_memory=device.type == "cuda", drop_last=False,
            # An explicit generator keeps DataLoader from drawing worker seeds off the global RNG.
            generator=torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch)))
        train_loss = _train_epoch(net, loader, criterion, optimizer, scaler, cfg, device, amp_dtype, epoch, average,
                                  motion_only)
        train_loss = float(dist_utils.all_reduce_sum(torch.tensor([train_loss], dtype=torch.float64))[0]) / world

        # The weights validated are the ones kept in the checkpoint and exported: the average's
        # when there is one.
        with _validated_weights(model, average):
            _broadcast_buffers(model)
            validation = _validate(model, val_set, list(range(len(val_set))), cfg, device)
            # A copy: leaving the block writes the optimizer's weights back into these tensors.
            kept_weights = {k: v.clone() for k, v in _to_cpu(model.state_dict()).items()}
        val_counts = validation.counts
        record = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"],
                  **_validation_record(validation)}
        swept_f1 = record["val_best_threshold_f1"]
        # Model selection and the plateau schedule follow the F1 at the best threshold, which does
        # not depend on how the loss's alpha calibrates the probabilities; the threshold that
        # reaches it is kept with the record (guidewire-export --threshold stores one in the model).
        scheduler.step(swept_f1)
        improved = swept_f1 > best_f1
        if improved:
            best_f1, best_epoch = swept_f1, epoch + 1
        history.append(record)

        if main_rank:
            ckpt = {
                "format": "guidewire-checkpoint/1",
                "model": kept_weights,
                **({"train_model": _to_cpu(model.state_dict()), "weight_average": average.state_dict()}
                   if average is not None else {}),
                "optimizer": _to_cpu(optimizer.state_dict()),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch + 1,
                "best_f1": best_f1,
                "best_epoch": best_epoch,
                "history": history,
                "initial_val": initial_val,
                "rng": _rng_state(),
                "config": to_dict(cfg),
                **({"split": json.loads(split.to_json())} if split is not None else {}),
                "val": val_counts.to_dict(),
            }
            # best.pt first: a kill between the two writes re-runs this epoch identically on resume.
            if improved:
                save_checkpoint(best_path, ckpt)
            save_checkpoint(last_path, ckpt)
            if cfg.keep_epochs:
                save_checkpoint(out / "epochs" / f"epoch_{epoch + 1:03d}.pt", slim_payload(ckpt))
            _log_epoch(writer, record, validation.samples, cfg.optim.epochs, improved)
        dist_utils.barrier()

    if val_counts is None:  # resumed a run that had already finished
        with _validated_weights(model, average):
            _broadcast_buffers(model)
            val_counts = _validate(model, val_set, list(range(len(val_set))), cfg, device).counts
    checksums = dist_utils.all_gather_object(parameter_checksum(model))
    summary = {
        "epochs_run": len(history),
        "best_val_f1": best_f1,
        "best_epoch": best_epoch,
        "final_val": val_counts.to_dict(),
        "param_checksums": checksums,
        "world_size": world,
        "device": device.type,
        "history": history,
        "initial_val": initial_val,
        "output_dir": str(out),
        "seconds": time.perf_counter() - started,
    }
    if main_rank:
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
        writer.close()
        log.info("done: %d epochs, best val best-threshold F1 %.4f (epoch %d), final val P %.4f R %.4f F1 %.4f -> %s",
                 len(history), best_f1, best_epoch, val_counts.precision, val_counts.recall, val_counts.f1, out)
        if initial_val is not None and best_f1 <= initial_val["val_best_threshold_f1"]:
            log.warning("no epoch beat the initial weights on validation (best-threshold F1 %.4f <= %.4f): "
                        "keep using %s, or fine-tune with a lower optim.lr", best_f1,
                        initial_val["val_best_threshold_f1"], cfg.init_from)
        elif initial_val is not None:
            # A lead on a few validation frames is often their draw (docs/accuracy.md, "How sure a
            # comparison is"): say how to check it on frames no choice was made on.
            log.info("epoch %d beat the initial weights by %+.4f best-threshold F1 on %d validation frames; before "
                     "replacing %s, compare the two on held-out frames: guidewire-eval --model %s --compare %s "
                     "--data DATA --split test", best_epoch, best_f1 - initial_val["val_best_threshold_f1"],
                     len(val_set), cfg.init_from, out / "best.pt", cfg.init_from)
    dist_utils.barrier()
    return summary


def _validation_record(v: _Validation) -> dict[str, float]:
    """One validation's scores as the history keeps them (strict at the fixed threshold, best
    threshold, F1@2, and the share of predictions on devices where the targets mark devices)."""
    best_t, swept_f1 = v.sweep.best()
    record = {"val_precision": v.counts.precision, "val_recall": v.counts.recall, "val_f1": v.counts.f1,
              "val_best_threshold": best_t, "val_best_threshold_f1": swept_f1, "val_f1_at_2": v.tolerance.f1,
              "val_precision_at_2": v.tolerance.precision, "val_recall_at_2": v.tolerance.recall}
    if v.device_share is not None:
        record["val_device_share"] = v.device_share
    return record


def _device_share_text(record: dict[str, Any]) -> str:
    share = record.get("val_device_share")
    return "" if share is None else f", {100 * share:.1f} % of it on devices"


def _log_epoch(writer, record: dict[str, Any], samples, epochs: int, improved: bool) -> None:
    from guidewire_model.runtime.overlay import error_overlay

    e = record["epoch"]
    writer.add_scalar("train/loss", record["train_loss"], e)
    writer.add_scalar("train/lr", record["lr"], e)
    for key in ("precision", "recall", "f1", "best_threshold", "best_threshold_f1", "f1_at_2", "device_share"):
        if f"val_{key}" in record:
            writer.add_scalar(f"val/{key}", record[f"val_{key}"], e)
    for i, (img, pred, gt) in enumerate(samples):
        writer.add_image(f"val_overlay/{i}", error_overlay(img, pred, gt), e, dataformats="HWC")
    writer.flush()
    log.info("epoch %d/%d  train loss %.4g  lr %.3g  val P %.4f R %.4f F1 %.4f  best-threshold F1 %.4f "
             "(F1@2 %.4f) at %.3f%s%s", e, epochs, record["train_loss"], record["lr"], record["val_precision"],
             record["val_recall"], record["val_f1"], record["val_best_threshold_f1"], record["val_f1_at_2"],
             record["val_best_threshold"], _device_share_text(record), "  (best)" if improved else "")


def _attach_file_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    return handler


# --------------------------------------------------------------------------- command line


def build_config(config: str | None, sets: Sequence[str], output_dir: str | None,
                 init_from: str | None = None) -> TrainConfig:
    """Config from ``--config``, ``--set``, ``--output-dir`` and ``--init-from`` (later wins)."""
    overrides = dict(parse_override(s) for s in sets)
    if output_dir is not None:
        overrides["output_dir"] = output_dir
    if init_from is not None:
        overrides["init_from"] = init_from
    return load_train_config(config, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``guidewire-train``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="guidewire-train",
        description="Train the dual-guidewire segmentation network (single process or under torchrun).")
    parser.add_argument("--config", help="training YAML (default: the paper's config/train_paper.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.epochs=20 (repeatable)")
    parser.add_argument("--output-dir", help="run folder (overrides output_dir)")
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir from last.pt")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start from this run's weights (fine-tuning; sets init_from)")
    args = parser.parse_args(argv)

    from guidewire_model.data.sequences import DatasetError

    logging.basicConfig(level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        cfg = build_config(args.config, args.set, args.output_dir, args.init_from)
        summary = train(cfg, resume=args.resume)
        main_rank = dist_utils.is_main()
    except (ConfigError, CheckpointError, DatasetError) as exc:
        print(f"guidewire-train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        dist_utils.shutdown()
    if main_rank:
        print(json.dumps({k: summary[k] for k in ("epochs_run", "best_val_f1", "initial_val", "final_val", "output_dir")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
