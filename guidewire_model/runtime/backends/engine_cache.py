"""On-disk cache of TensorRT engines: keyed by the whole build recipe, written atomically, built once.

An engine only runs on the GPU model, TensorRT version, precision and input shapes it was built for,
and building one takes from seconds to minutes. So engines are cached in one folder under a name
derived from an :class:`EngineKey` (the ONNX file's SHA-256 *and* every build setting), with a JSON
sidecar holding the full key and the build report (the parity check against ONNX Runtime).

* A cached engine is used only if its sidecar matches the key; a missing or different sidecar, or an
  engine that fails to deserialize (TensorRT upgrade, torn file), is rebuilt with a warning.
* Every write is atomic (:mod:`guidewire_model.core.atomic_io`); the sidecar is
  written last, so an engine without one is never loaded.
* A per-key file lock (``flock``) makes concurrent starts build once: the first process builds, the
  others wait on the lock and then load what it wrote.
* An engine that fails its check (``verify``) is refused and never cached.

Nothing here imports TensorRT; the builder and deserializer are passed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from guidewire_model.core.atomic_io import write_bytes_atomic
from guidewire_model.runtime.backends.base import BackendError

try:  # flock is POSIX; the robot computers (Linux, Jetson) have it.
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

__all__ = ["CachedEngine", "EngineCache", "EngineKey", "cache_decision", "default_cache_dir"]

log = logging.getLogger(__name__)

#: Version of the key and sidecar layout; bump when either changes meaning.
KEY_FORMAT = 2


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/guidewire_seg/engines`` (``~/.cache/...``): writable even when the model
    file lives in a read-only install folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "guidewire_seg" / "engines"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; any difference means the engine must be rebuilt.

    Attributes
    ----------
    onnx_sha256 : str
        SHA-256 of the FP32 ONNX file the engine was built from.
    precision : {"fp32", "fp16"}
        ``fp16`` engines are built from an FP16 copy of the ONNX graph (strongly typed network).
    fp16_converter : str
        Tool and version that made the FP16 copy (empty for ``fp32``): a new converter can change
        the graph, hence the engine.
    input_size : int
        Side S of the (N, 1, S, S) input.
    min_batch, opt_batch, max_batch : int
        The optimisation profile's batch sizes (1, 1, 1 for the node).
    workspace_bytes : int
        Builder workspace memory-pool limit.
    tf32 : bool
        Whether FP32 layers may use TF32 tensor cores.
    tensorrt_version : str
    gpu_name, compute_capability : str
        The GPU the engine was built on (engines are specific to it).
    format : int
        :data:`KEY_FORMAT`.
    """

    onnx_sha256: str
    precision: str
    fp16_converter: str
    input_size: int
    min_batch: int
    opt_batch: int
    max_batch: int
    workspace_bytes: int
    tf32: bool
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    format: int = KEY_FORMAT

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the key."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def file_stem(self) -> str:
        """A file-name-safe stem: readable GPU/precision/batch part plus the key digest.

        Only ``[A-Za-z0-9._-]`` survive, so no key value can make a path leave the cache folder.
        """
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu_name).strip("-")[:40] or "gpu"
        cc = re.sub(r"[^0-9]", "", self.compute_capability) or "0"
        precision = re.sub(r"[^a-z0-9]", "", self.precision.lower()) or "x"
        return f"{gpu}-sm{cc}-{precision}-b{int(self.max_batch)}-{self.digest()[:16]}"


@dataclass
class CachedEngine:
    """What :meth:`EngineCache.load_or_build` returns.

    Attributes
    ----------
    engine : object
        The deserialized engine.
    path : Path
        Where the serialized engine lies (it may be missing if the cache folder is not writable).
    built : bool
        True if it was built now, False if loaded from the cache.
    report : dict
        The build report stored in the sidecar (parity check figures), or what ``verify`` returned.
    """

    engine: Any
    path: Path
    built: bool
    report: dict


def _read_sidecar(sidecar_path: Path) -> tuple[dict | None, str]:
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"it has no sidecar {sidecar_path.name}"
    except (OSError, ValueError) as exc:
        return None, f"its sidecar {sidecar_path} is unreadable ({exc})"
    if not isinstance(sidecar, dict) or not isinstance(sidecar.get("key"), dict):
        return None, f"its sidecar {sidecar_path} has an unknown format"
    return sidecar, ""


def cache_decision(engine_path: Path, sidecar_path: Path, key: EngineKey) -> tuple[str, str]:
    """Whether a cached engine may be loaded (pure apart from reading the two files).

    Returns
    -------
    (action, reason)
        ``action`` is ``"load"`` or ``"build"``; ``reason`` explains a rebuild.
    """
    if not engine_path.is_file():
        return "build", f"no cached engine at {engine_path}"
    sidecar, problem = _read_sidecar(sidecar_path)
    if sidecar is None:
        return "build", f"cached engine {engine_path.name} is not usable: {problem}"
    expected = dataclasses.asdict(key)
    stored = sidecar["key"]
    differing = sorted(k for k in set(expected) | set(stored) if expected.get(k) != stored.get(k))
    if differing:
        details = ", ".join(f"{k}: cached {stored.get(k)!r} != now {expected.get(k)!r}" for k in differing)
        return "build", f"cached engine {engine_path.name} was built for a different setup ({details})"
    return "load", "cached engine matches"


class EngineCache:
    """A folder of serialized engines (``<stem>.engine`` + ``<stem>.json`` + ``<stem>.lock``).

    Parameters
    ----------
    folder : path-like
        Created on the first write.
    lock_timeout_s : float
        How long a process waits for another one's build before giving up with a
        :class:`~guidewire_model.runtime.backends.base.BackendError`.
    """

    def __init__(self, folder: str | os.PathLike, lock_timeout_s: float = 1800.0) -> None:
        self.folder = Path(folder)
        self.lock_timeout_s = float(lock_timeout_s)

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        """``(engine, sidecar)`` paths of a key."""
        stem = key.file_stem()
        return self.folder / f"{stem}.engine", self.folder / f"{stem}.json"

    def lock_path(self, key: EngineKey) -> Path:
        return self.folder / f"{key.file_stem()}.lock"

    def timing_cache_path(self, key: EngineKey) -> Path:
        # Timing data depends on the GPU and TensorRT version, not on the model or precision.
        ident = json.dumps([key.gpu_name, key.compute_capability, key.tensorrt_version])
        return self.folder / f"timing-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.cache"

    def read_timing_cache(self, key: EngineKey) -> bytes:
        try:
            return self.timing_cache_path(key).read_bytes()
        except OSError:
            return b""

    def write_timing_cache(self, key: EngineKey, blob: bytes) -> None:
        try:
            self._write(self.timing_cache_path(key), blob)
        except OSError as exc:  # a timing cache only saves build time
            log.warning("could not save the TensorRT timing cache in %s: %s", self.folder, exc)

    @contextlib.contextmanager
    def lock(self, key: EngineKey, on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
        """Hold the key's build lock (exclusive, across processes) for the ``with`` block.

        Parameters
        ----------
        on_wait : callable (lock path) -> None, optional
            Called once if another process holds the lock (before waiting for it).

        Raises
        ------
        BackendError
            If the lock cannot be taken within ``lock_timeout_s``, naming the lock file.
        """
        if fcntl is None:  # pragma: no cover - not on Linux
            log.warning("no file locking on this platform: concurrent starts may build the same engine twice")
            yield
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.lock_path(key)
        # The lock file stays in place: deleting it while another process waits on it would let a third
        # process lock a fresh file and build alongside.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("another process is building the TensorRT engine (%s holds a lock); waiting for it", path)
                if on_wait is not None:
                    on_wait(path)
                deadline = time.monotonic() + self.lock_timeout_s
                while True:  # poll rather than block, so a stuck builder cannot hang this start for ever
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise BackendError(
                                f"waited {self.lock_timeout_s:.0f} s for another process to build the TensorRT "
                                f"engine (lock {path}); if no build is running, delete that file and start again"
                            ) from None
                        time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def load_or_build(self, key: EngineKey, build: Callable[[], bytes], deserialize: Callable[[bytes], Any],
                      verify: Callable[[Any], dict] | None = None, force_rebuild: bool = False,
                      on_wait: Callable[[Path], None] | None = None) -> CachedEngine:
        """Return a deserialized engine: from the cache when valid, else built, verified and cached.

        Parameters
        ----------
        key : EngineKey
        build : callable () -> bytes
            Builds a serialized engine (slow).
        deserialize : callable (bytes) -> engine or None
            ``Runtime.deserialize_cuda_engine``; ``None`` or an exception means unusable.
        verify : callable (engine) -> dict, optional
            Checks a freshly built engine and returns its report (stored in the sidecar); raises
            to refuse it, in which case nothing is cached.
        force_rebuild : bool
            Build even if a matching engine is cached.
        on_wait : callable, optional
            See :meth:`lock`.

        Raises
        ------
        BackendError
            If a freshly built engine cannot be deserialized, or as ``build`` / ``verify`` raise.
        """
        engine_path, sidecar_path = self.paths(key)
        with self.lock(key, on_wait=on_wait):
            # Decided under the lock: a process that waited now sees the engine the other one wrote.
            action, reason = cache_decision(engine_path, sidecar_path, key)
            if action == "load" and force_rebuild:
                action, reason = "build", f"rebuild of {engine_path.name} requested"
            if action == "load":
                engine, reason = self._load(engine_path, deserialize)
                if engine is not None:
                    sidecar, _ = _read_sidecar(sidecar_path)
                    log.info("TensorRT engine loaded from cache %s", engine_path)
                    return CachedEngine(engine, engine_path, False, dict((sidecar or {}).get("report") or {}))
                log.warning("%s; rebuilding it", reason)
            elif engine_path.exists():
                log.warning("%s; rebuilding it", reason)
            else:
                log.info("%s; building one (this takes a while, once)", reason)

            blob = bytes(build())
            engine = deserialize(blob)
            if engine is None:
                raise BackendError(f"a freshly built TensorRT engine for {key.onnx_sha256[:12]} failed to "
                                   "deserialize (see the TensorRT log above)")
            report = dict(verify(engine)) if verify is not None else {}
            try:
                # Engine first, sidecar last: the sidecar marks a complete, verified entry.
                self._write(engine_path, blob)
                sidecar = {"key": dataclasses.asdict(key), "report": report}
                self._write(sidecar_path, json.dumps(sidecar, indent=2, sort_keys=True).encode())
            except OSError as exc:  # caching is an optimisation: still run with the fresh engine
                log.warning("could not cache the TensorRT engine in %s: %s", self.folder, exc)
            return CachedEngine(engine, engine_path, True, report)

    @staticmethod
    def _load(engine_path: Path, deserialize: Callable[[bytes], Any]) -> tuple[Any, str]:
        try:
            engine = deserialize(engine_path.read_bytes())
        except Exception as exc:  # noqa: BLE001 -- any failure here only means "rebuild"
            return None, f"cached engine {engine_path} failed to deserialize ({exc})"
        if engine is None:
            return None, f"cached engine {engine_path} failed to deserialize"
        return engine, ""

    def _write(self, path: Path, data: bytes) -> None:
        if path.resolve().parent != self.folder.resolve():
            raise ValueError(f"refusing to write {path} outside the engine cache {self.folder}")
        write_bytes_atomic(path, data)
