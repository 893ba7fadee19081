"""Inference backends behind one interface (:class:`Backend`), chosen by :func:`create_backend`.

* ``onnxruntime``: an exported ``.onnx`` on the CPU (or CUDA with onnxruntime-gpu);
* ``torch``: a training checkpoint ``.pt`` in PyTorch eager mode (the reference);
* ``tensorrt``: an exported ``.onnx`` compiled to a cached TensorRT engine on an NVIDIA GPU.

Importing this package, and creating an ONNX Runtime or TensorRT backend, never imports PyTorch:
a robot computer runs the node without it (``pip install .[runtime]``). Only the ``torch`` backend,
which runs training checkpoints, needs it (``pip install .[train]``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

from guidewire_model.runtime.backends.base import Backend, BackendError, default_threads
from guidewire_model.runtime.backends.gpu_probe import cuda_device_count

__all__ = ["Backend", "BackendError", "choose_backend", "create_backend", "default_threads", "resolve_device"]

log = logging.getLogger(__name__)

KINDS = ("auto", "onnxruntime", "torch", "tensorrt")
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def choose_backend(kind: str, model_path: str | os.PathLike, device: str, cuda_available: bool,
                   tensorrt_available: bool) -> tuple[str, str]:
    """Resolve ``kind="auto"`` to a concrete backend, with the reason (pure; no imports, no I/O).

    ``auto``: a checkpoint (``.pt``/``.pth``) runs on ``torch``; an ONNX file runs on TensorRT
    when ``device="cuda"``, a CUDA GPU is visible and the ``tensorrt`` module is installed, else
    on ONNX Runtime. An explicit ``device="cpu"`` never picks TensorRT.

    Returns
    -------
    (kind, reason)

    Raises
    ------
    ValueError
        If ``kind`` or ``device`` is unknown.
    """
    if kind not in KINDS:
        raise ValueError(f"backend kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if kind != "auto":
        return kind, "requested explicitly"
    if Path(model_path).suffix in CHECKPOINT_SUFFIXES:
        return "torch", "the model is a training checkpoint; only the torch backend runs those"
    if device == "cpu":
        return "onnxruntime", "device=cpu"
    if not cuda_available:
        return "onnxruntime", "device=cuda requested but no CUDA GPU is visible"
    if not tensorrt_available:
        return "onnxruntime", "a CUDA GPU is present but the tensorrt module is not installed"
    return "tensorrt", "a CUDA GPU and the tensorrt module are present"


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when the CUDA driver reports a GPU, else ``"cpu"``; other values unchanged.

    Asks the driver (:func:`~guidewire_model.runtime.backends.gpu_probe.cuda_device_count`), not PyTorch.
    """
    if device != "auto":
        return device
    return "cuda" if cuda_device_count() > 0 else "cpu"


def _module_installed(name: str) -> bool:
    """Whether top-level module ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:
        # find_spec raises for a module already imported without a __spec__ (one made at run time).
        return sys.modules.get(name) is not None


def create_backend(kind: str, model_path: str | os.PathLike, device: str = "cpu", fp16: bool = False,
                   engine_cache_dir: str | os.PathLike | None = None, threads: int | None = None) -> Backend:
    """Create an inference backend for a model file.

    Parameters
    ----------
    kind : {"auto", "onnxruntime", "torch", "tensorrt"}
        See :func:`choose_backend` for ``auto``; the choice and its reason are logged. When ``auto``
        chooses TensorRT and it cannot start (a :class:`BackendError`: cuda-python missing, the engine
        build failing or refused by the parity check), a warning names the reason and ONNX Runtime
        is used instead; an explicit ``tensorrt`` raises that error.
    model_path : path-like
        ``.onnx`` (onnxruntime, tensorrt) or training checkpoint ``.pt`` (torch).
    device : {"cpu", "cuda"}
    fp16 : bool
        Half precision (TensorRT engine built with FP16; torch autocast on CUDA). Ignored by
        onnxruntime.
    engine_cache_dir : path-like, optional
        TensorRT engine cache folder (default ``~/.cache/guidewire_seg/engines``).
    threads : int, optional
        CPU intra-op threads for onnxruntime / torch.

    Raises
    ------
    ModelFileError, checkpoint.CheckpointError
        If the model file is missing or invalid (named in the message).
    BackendError
        If the requested runtime or GPU is not available, or a checkpoint is given where PyTorch is
        not installed (the message names the file and both fixes). Never for a TensorRT that
        ``auto`` chose and that could not start: that falls back to ONNX Runtime.
    """
    # The GPU is only asked about when the answer matters, and never through torch.
    probe = kind == "auto" and device == "cuda" and Path(model_path).suffix not in CHECKPOINT_SUFFIXES
    chosen, reason = choose_backend(
        kind, model_path, device,
        cuda_available=probe and cuda_device_count() > 0,
        tensorrt_available=probe and _module_installed("tensorrt"),
    )
    log.info("inference backend: %s (%s) for %s", chosen, reason, model_path)
    if chosen == "onnxruntime":
        from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model_path, device=device, threads=threads)
    if chosen == "torch":
        try:
            from guidewire_model.training.torch_backend import TorchBackend
        except ModuleNotFoundError as exc:
            if exc.name != "torch":
                raise
            raise BackendError(
                f"{model_path}: a training checkpoint runs only on the torch backend, and PyTorch is not "
                "installed here. Install it (pip install .[train]) or export the checkpoint to ONNX "
                f"(guidewire-export --checkpoint {model_path} --out model.onnx) and use the .onnx file "
                "with the onnxruntime or tensorrt backend") from None
        return TorchBackend.from_checkpoint(model_path, device=device, fp16=fp16, threads=threads)
    from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend

    if device != "cuda":
        log.info("tensorrt backend runs on the GPU; ignoring device=%s", device)
    try:
        return TensorRTBackend(model_path, fp16=fp16, engine_cache_dir=engine_cache_dir)
    except BackendError as exc:
        if kind != "auto":
            raise  # asked for TensorRT by name: the start-up error says what to fix
        # auto promises a backend that runs: TensorRT that cannot start here (no cuda-python, a failed
        # build, an engine refused by the parity check) leaves ONNX Runtime, which runs every exported model.
        log.warning("backend auto: TensorRT could not start for %s, falling back to onnxruntime: %s", model_path, exc)
    from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model_path, device=device, threads=threads)
