"""Atomic writes: the target holds the old content or the whole new one, never a part."""

from __future__ import annotations

import os

import pytest

from guidewire_model.core.atomic_io import atomic_path, write_bytes_atomic, write_text_atomic


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_text_atomic(target, "first")
    write_bytes_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="check failed"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("check failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_a_writer_that_wrote_nothing_is_an_error(tmp_path):
    with pytest.raises(OSError, match="nothing was written"):
        with atomic_path(tmp_path / "x.png", suffix=".png"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_the_new_file_gets_the_usual_mode_not_mkstemps_0600(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_text_atomic(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
