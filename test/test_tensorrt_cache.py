"""TensorRT engine cache: key covers the build recipe, atomic writes, refusal, and one build across processes."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
from pathlib import Path

import pytest

from guidewire_model.runtime.backends.base import BackendError
from guidewire_model.runtime.backends.engine_cache import EngineCache, EngineKey, cache_decision

KEY = EngineKey(onnx_sha256="ab" * 32, precision="fp16", fp16_converter="onnxruntime.transformers.float16 1.32.0",
                input_size=512, min_batch=1, opt_batch=1, max_batch=1, workspace_bytes=1 << 30, tf32=True,
                tensorrt_version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")


class FakeRuntime:
    """Stands in for build/deserialize: an 'engine' is valid iff its bytes start with ENGINE."""

    def __init__(self) -> None:
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return b"ENGINE" + str(self.builds).encode()

    @staticmethod
    def deserialize(blob: bytes):
        if not blob.startswith(b"ENGINE"):
            raise RuntimeError("bad magic")
        return ("engine", blob)


def test_engine_key_changes_with_every_field_and_names_are_safe():
    changes = {"onnx_sha256": "cd" * 32, "precision": "fp32", "fp16_converter": "other 2.0", "input_size": 256,
               "min_batch": 2, "opt_batch": 4, "max_batch": 8, "workspace_bytes": 1 << 31, "tf32": False,
               "tensorrt_version": "11.1.0", "gpu_name": "Orin", "compute_capability": "8.7", "format": 3}
    assert set(changes) == {f.name for f in dataclasses.fields(EngineKey)}  # a new field must be tested here
    stems = {KEY.file_stem()}
    for field, value in changes.items():
        stems.add(dataclasses.replace(KEY, **{field: value}).file_stem())
    assert len(stems) == 1 + len(changes)
    evil = dataclasses.replace(KEY, gpu_name="../../etc/passwd", compute_capability="../9.0", precision="../x")
    stem = evil.file_stem()
    assert "/" not in stem and ".." not in stem and stem.endswith(evil.digest()[:16])
    assert KEY.file_stem().startswith("NVIDIA-H100-80GB-HBM3-sm90-fp16-b1-")


def test_cache_decision(tmp_path):
    cache = EngineCache(tmp_path)
    engine, sidecar = cache.paths(KEY)
    assert cache_decision(engine, sidecar, KEY)[0] == "build"
    engine.write_bytes(b"ENGINE")
    action, reason = cache_decision(engine, sidecar, KEY)
    assert action == "build" and "sidecar" in reason
    sidecar.write_text("{ not json")
    assert cache_decision(engine, sidecar, KEY)[0] == "build"
    sidecar.write_text(json.dumps({"key": dataclasses.asdict(KEY), "report": {}}))
    assert cache_decision(engine, sidecar, KEY) == ("load", "cached engine matches")
    for field, value in {"tensorrt_version": "11.0.1", "workspace_bytes": 1 << 20, "max_batch": 8}.items():
        action, reason = cache_decision(engine, sidecar, dataclasses.replace(KEY, **{field: value}))
        assert action == "build" and field in reason and str(value) in reason


def test_builds_once_then_loads_with_its_report(tmp_path):
    rt = FakeRuntime()
    cache = EngineCache(tmp_path / "engines")
    first = cache.load_or_build(KEY, rt.build, rt.deserialize, verify=lambda engine: {"passed": True, "max": 0.01})
    second = cache.load_or_build(KEY, rt.build, rt.deserialize, verify=lambda engine: pytest.fail("verified twice"))
    assert first.engine == second.engine == ("engine", b"ENGINE1") and rt.builds == 1
    assert first.built and not second.built and second.report == {"passed": True, "max": 0.01}
    engine, sidecar = cache.paths(KEY)
    assert json.loads(sidecar.read_text())["key"]["onnx_sha256"] == KEY.onnx_sha256
    # Everything written lies inside the cache folder, with no temporary files left over.
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted([engine, sidecar, cache.lock_path(KEY)])


def test_a_refused_engine_is_not_cached(tmp_path):
    rt = FakeRuntime()
    cache = EngineCache(tmp_path)

    def refuse(engine):
        raise BackendError("disagrees")

    with pytest.raises(BackendError, match="disagrees"):
        cache.load_or_build(KEY, rt.build, rt.deserialize, verify=refuse)
    assert not any(tmp_path.glob("*.engine")) and not any(tmp_path.glob("*.json"))
    got = cache.load_or_build(KEY, rt.build, rt.deserialize, verify=lambda e: {"passed": True})
    assert got.built and rt.builds == 2


def test_corrupt_mismatched_or_forced_engine_is_rebuilt(tmp_path, caplog):
    rt = FakeRuntime()
    cache = EngineCache(tmp_path)
    cache.load_or_build(KEY, rt.build, rt.deserialize)
    engine, sidecar = cache.paths(KEY)
    engine.write_bytes(b"\x00torn write")
    with caplog.at_level(logging.WARNING):
        assert cache.load_or_build(KEY, rt.build, rt.deserialize).engine == ("engine", b"ENGINE2")
    assert "failed to deserialize" in caplog.text and "rebuilding" in caplog.text
    # Deserialize returning None (TensorRT's way of failing) is treated the same.
    got = cache.load_or_build(KEY, rt.build, lambda b: None if b == b"ENGINE2" else rt.deserialize(b))
    assert got.engine == ("engine", b"ENGINE3")
    # A sidecar from another setup (same file name, e.g. edited by hand) forces a rebuild.
    stored = json.loads(sidecar.read_text())
    stored["key"]["precision"] = "fp32"
    sidecar.write_text(json.dumps(stored))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cache.load_or_build(KEY, rt.build, rt.deserialize).engine == ("engine", b"ENGINE4")
    assert "precision" in caplog.text
    assert cache.load_or_build(KEY, rt.build, rt.deserialize, force_rebuild=True).built and rt.builds == 5


def test_a_fresh_engine_that_does_not_deserialize_is_an_error(tmp_path):
    with pytest.raises(BackendError, match="failed to deserialize"):
        EngineCache(tmp_path).load_or_build(KEY, lambda: b"junk", lambda blob: None)
    assert not any(tmp_path.glob("*.engine"))


def test_timing_cache_round_trip(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.read_timing_cache(KEY) == b""
    cache.write_timing_cache(KEY, b"timings")
    assert cache.read_timing_cache(KEY) == b"timings"
    assert cache.timing_cache_path(KEY).parent == tmp_path


def test_lock_wait_times_out_naming_the_lock_file(tmp_path):
    holder = EngineCache(tmp_path)
    waiter = EngineCache(tmp_path, lock_timeout_s=0.3)
    waited = []
    with holder.lock(KEY):  # flock conflicts between two open files even within one process
        with pytest.raises(BackendError, match=r"\.lock"):
            with waiter.lock(KEY, on_wait=waited.append):
                pass
    assert waited == [holder.lock_path(KEY)]
    with waiter.lock(KEY):  # released: taken at once
        pass


# ---------------------------------------------------------------- two processes starting together

def _slow_build(folder: str, started, release) -> bytes:
    with open(Path(folder) / "builds.log", "a") as fh:
        fh.write("build\n")
    started.set()
    assert release.wait(60), "the test never released the build"
    return b"ENGINE-from-first"


def _first(folder: str, started, release, results) -> None:
    cache = EngineCache(Path(folder) / "engines")
    got = cache.load_or_build(KEY, lambda: _slow_build(folder, started, release), FakeRuntime.deserialize)
    results.put(("first", got.built, got.engine[1]))


def _second(folder: str, waiting, results) -> None:
    cache = EngineCache(Path(folder) / "engines")

    def build() -> bytes:
        with open(Path(folder) / "builds.log", "a") as fh:
            fh.write("build\n")
        return b"ENGINE-from-second"

    got = cache.load_or_build(KEY, build, FakeRuntime.deserialize, on_wait=lambda path: waiting.set())
    results.put(("second", got.built, got.engine[1]))


def test_two_processes_starting_together_build_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    started, release, waiting = ctx.Event(), ctx.Event(), ctx.Event()
    results = ctx.Queue()
    first = ctx.Process(target=_first, args=(str(tmp_path), started, release, results))
    second = ctx.Process(target=_second, args=(str(tmp_path), waiting, results))
    first.start()
    try:
        assert started.wait(60), "the first process never started building"
        second.start()
        # The first process holds the lock until released, so the second one must find it held.
        assert waiting.wait(60), "the second process did not wait for the first one's build"
    finally:
        release.set()
    first.join(60)
    if second.is_alive() or second.exitcode is not None:
        second.join(60)
    assert first.exitcode == 0 and second.exitcode == 0
    got = dict((name, (built, blob)) for name, built, blob in (results.get(timeout=10) for _ in range(2)))
    assert got == {"first": (True, b"ENGINE-from-first"), "second": (False, b"ENGINE-from-first")}
    assert (tmp_path / "builds.log").read_text() == "build\n"
