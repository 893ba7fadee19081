"""What a runtime needs to know to use an exported model file, stored inside the file.

An ONNX file written by ``guidewire-export`` carries a :class:`ModelInfo` in its
``metadata_props`` (string key/value pairs under the ``guidewire.`` prefix). A runtime (the ROS
node, the benchmark, the backends) reads it back with :func:`read_onnx_info` instead of needing
the training config: input size, normalisation and the decision threshold travel with the
weights, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "INPUT_CHANNELS",
    "INPUT_FRAME",
    "INPUT_FRAME_AND_MOTION",
    "METADATA_PREFIX",
    "MIN_OPSET",
    "OUTPUT_CHANNELS",
    "OUTPUT_PROBABILITY",
    "OUTPUT_PROBABILITY_AND_TIP",
    "CheckpointError",
    "ModelFileError",
    "ModelInfo",
    "config_sha256",
    "file_sha256",
    "read_onnx_info",
]

#: Prefix of our keys in ``metadata_props``; keeps them apart from keys other tools add.
METADATA_PREFIX = "guidewire."
#: Lowest ONNX opset we export and accept.
MIN_OPSET = 17
#: The output convention of a guidewire model: a per-pixel wire probability in [0, 1] (sigmoid applied).
OUTPUT_PROBABILITY = "probability"
#: The same with a second channel, the probability of a wire's distal tip (``model.tip_head``).
OUTPUT_PROBABILITY_AND_TIP = "probability+tip"
#: Output channels of each convention, in order.
OUTPUT_CHANNELS = {OUTPUT_PROBABILITY: ("probability",), OUTPUT_PROBABILITY_AND_TIP: ("probability", "tip")}
#: The input convention of a one-frame model: the normalised frame.
INPUT_FRAME = "frame"
#: The normalised frame, then its motion channel (:mod:`guidewire_model.runtime.motion`).
INPUT_FRAME_AND_MOTION = "frame+motion"
#: Input channels of each convention, in order.
INPUT_CHANNELS = {INPUT_FRAME: ("frame",), INPUT_FRAME_AND_MOTION: ("frame", "motion")}
#: Metadata keys a file may lack, and the value a file written before the key existed means.
_OPTIONAL_METADATA = {"input": INPUT_FRAME}

_REEXPORT = "re-export it with guidewire-export"


class ModelFileError(ValueError):
    """A model file is missing, unreadable or inconsistent; the message names the file and the fix."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or not a guidewire checkpoint; names the file.

    Defined here, beside :class:`ModelFileError`, so code that handles any model file (evaluation,
    the command-line tools) can catch it without importing PyTorch.
    """


@dataclass(frozen=True)
class ModelInfo:
    """Everything a runtime needs to feed a model and read its output.

    Attributes
    ----------
    input_size : int
        Side S of the square network input; frames are resized to (S, S).
    input_mean, input_std : float
        Normalisation of the [0, 1] grayscale frame: ``(x - mean) / std``.
    threshold : float
        Probability above which a pixel is wire.
    architecture, encoder : str
        ``ModelConfig.architecture`` / ``ModelConfig.encoder`` of the trained network.
    encoder_width : int
        ``ModelConfig.encoder_width``.
    output : str
        Output convention (sigmoid inside the model): ``"probability"``, one channel, or
        ``"probability+tip"``, the wire probability then the tip probability (:data:`OUTPUT_CHANNELS`).
    config_sha256 : str
        SHA-256 of the canonical JSON of the training config (see :func:`config_sha256`), to tie
        a model file to its run.
    version : str
        ``guidewire_model.__version__`` that wrote the file.
    opset : int or None
        ONNX opset of the file; ``None`` for a model that was never exported (a checkpoint).
    input : str
        Input convention: ``"frame"``, the normalised frame, or ``"frame+motion"``, the frame then
        its motion channel (:data:`INPUT_CHANNELS`). Files written before the key existed are
        ``"frame"``.
    """

    input_size: int
    input_mean: float
    input_std: float
    threshold: float
    architecture: str
    encoder: str
    encoder_width: int
    output: str
    config_sha256: str
    version: str
    opset: int | None
    input: str = INPUT_FRAME

    @property
    def input_channels(self) -> int:
        """Channels of the model's input ``(N, C, S, S)``; the normalised frame is channel 0."""
        return len(INPUT_CHANNELS[self.input])

    @property
    def motion_input(self) -> bool:
        """Whether channel 1 of the input is the frame's motion channel."""
        return self.input == INPUT_FRAME_AND_MOTION

    @property
    def channels(self) -> int:
        """Channels ``C`` of the model's output ``(N, C, S, S)``; the wire probability is channel 0."""
        return len(OUTPUT_CHANNELS[self.output])

    @property
    def has_tips(self) -> bool:
        """Whether channel 1 is the probability of a wire's distal tip."""
        return self.output == OUTPUT_PROBABILITY_AND_TIP

    def to_metadata(self) -> dict[str, str]:
        """String key/value pairs for ONNX ``metadata_props``.

        Floats are written with ``repr`` so they read back bit-exactly.

        Raises
        ------
        ValueError
            If ``opset`` is None (only an exported model has one).
        """
        if self.opset is None:
            raise ValueError("ModelInfo.opset is None: only an exported model can be written to metadata")
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[METADATA_PREFIX + f.name] = repr(value) if isinstance(value, float) else str(value)
        return out

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], source: str = "<metadata>") -> "ModelInfo":
        """Parse and validate the pairs written by :meth:`to_metadata`.

        Parameters
        ----------
        props : mapping of str to str
            All ``metadata_props`` of the file; keys without our prefix are ignored.
        source : str
            File name used in error messages.

        Raises
        ------
        ModelFileError
            Naming ``source`` and the key, if a key is missing or its value is malformed or out
            of range.
        """
        props = {**{METADATA_PREFIX + k: v for k, v in _OPTIONAL_METADATA.items()}, **props}
        missing = [METADATA_PREFIX + f.name for f in dataclasses.fields(cls) if METADATA_PREFIX + f.name not in props]
        if missing:
            raise ModelFileError(
                f"{source}: model metadata missing key(s) {', '.join(missing)}; the file was not written by "
                f"guidewire-export (or by an older version): {_REEXPORT}"
            )

        def get(name: str, parse, check, want: str):
            raw = props[METADATA_PREFIX + name]
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                value = None
            if value is None or not check(value):
                raise ModelFileError(
                    f"{source}: model metadata '{METADATA_PREFIX}{name}' is {raw!r}; expected {want}; {_REEXPORT}"
                )
            return value

        finite = lambda v: math.isfinite(v)  # noqa: E731
        return cls(
            input_size=get("input_size", int, lambda v: v >= 1, "a positive integer"),
            input_mean=get("input_mean", float, finite, "a finite number"),
            input_std=get("input_std", float, lambda v: finite(v) and v > 0, "a positive number"),
            threshold=get("threshold", float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]"),
            architecture=get("architecture", str, bool, "an architecture name"),
            encoder=get("encoder", str, bool, "an encoder name"),
            encoder_width=get("encoder_width", int, lambda v: v >= 1, "a positive integer"),
            output=get("output", str, lambda v: v in OUTPUT_CHANNELS, " or ".join(map(repr, OUTPUT_CHANNELS))),
            config_sha256=get(
                "config_sha256", str, lambda v: len(v) == 64 and all(c in "0123456789abcdef" for c in v),
                "64 lowercase hex digits",
            ),
            version=get("version", str, bool, "a version string"),
            opset=get("opset", int, lambda v: v >= MIN_OPSET, f"an integer >= {MIN_OPSET}"),
            input=get("input", str, lambda v: v in INPUT_CHANNELS, " or ".join(map(repr, INPUT_CHANNELS))),
        )


def config_sha256(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a config dict (sorted keys, no whitespace).

    Parameters
    ----------
    config : mapping
        ``config.to_dict(TrainConfig)``; tuples and lists hash alike.
    """
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_onnx_info(path: str | os.PathLike) -> ModelInfo:
    """Read and validate the :class:`ModelInfo` of an ONNX file written by ``guidewire-export``.

    Only the graph structure and metadata are parsed (external weight data is not loaded).

    Parameters
    ----------
    path : path-like
        ``.onnx`` file.

    Returns
    -------
    ModelInfo

    Raises
    ------
    ModelFileError
        Naming the file, if it is missing, not ONNX or truncated, lacks our metadata, or its
        single input is not float32 (N, C_in, S, S) or its single output not (N, C, S, S), with S
        equal to the metadata's ``input_size`` and C_in and C its input and output channels, or its
        opset disagrees with the metadata.
    """
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; export one with guidewire-export --checkpoint ... --out {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelFileError(
            f"{path}: not an ONNX model or truncated ({type(exc).__name__}: {exc}); {_REEXPORT}"
        ) from exc
    # Protobuf parses many byte strings (even an empty file) into a mostly empty message, so a
    # successful parse proves little: require the parts an export always writes.
    if not model.ir_version or not model.graph.node or not model.opset_import:
        raise ModelFileError(f"{path}: not an ONNX model or truncated (no graph/opset found); {_REEXPORT}")
    props = {p.key: p.value for p in model.metadata_props}
    info = ModelInfo.from_metadata(props, source=str(path))

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset != info.opset:
        raise ModelFileError(f"{path}: graph opset {opset} differs from metadata opset {info.opset}; {_REEXPORT}")
    initializers = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    _check_io(path, "input", inputs, info.input_size, info.input_channels)
    _check_io(path, "output", list(model.graph.output), info.input_size, info.channels)
    return info


def _check_io(path: Path, kind: str, values: list, size: int, channels: int = 1) -> None:
    import onnx

    if len(values) != 1:
        raise ModelFileError(f"{path}: expected exactly one graph {kind}, found {len(values)}; {_REEXPORT}")
    tensor_type = values[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor_type.shape.dim]
    shape_ok = len(dims) == 4 and dims[1:] == [channels, size, size]
    if tensor_type.elem_type != onnx.TensorProto.FLOAT or not shape_ok:
        dtype = onnx.TensorProto.DataType.Name(tensor_type.elem_type)
        raise ModelFileError(
            f"{path}: graph {kind} '{values[0].name}' is {dtype} {dims}; expected FLOAT "
            f"[N, {channels}, {size}, {size}] (input_size {size} and {kind} channels from the metadata); {_REEXPORT}"
        )
