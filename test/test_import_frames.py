"""guidewire-import video / images: frames in, the layout's frames and meta.json out."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from guidewire_model.data import layout
from guidewire_model.importers.cli import main


def write_video(path, frames, fps=10.0, fourcc="FFV1"):
    """Gray frames as a colour video (FFV1 is lossless, mp4v is not)."""
    h, w = frames[0].shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def gray_frames(n, shape=(48, 64), seed=0):
    """Smooth, distinct frames (lossy codecs keep them close)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return [np.clip(128 + 80 * np.sin(xx / (6 + k) + yy / 9.0), 0, 255).astype(np.uint8) for k in range(n)]


def _read(seq_dir):
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((seq_dir / layout.FRAMES_DIR).glob("*.png"))]


def test_lossless_video_frames_and_times(tmp_path):
    frames = gray_frames(5)
    video = write_video(tmp_path / "run1.avi", frames)

    assert main(["video", str(video), "--out", str(tmp_path / "out"), "--quiet"]) == 0

    got = _read(tmp_path / "out" / "run1")
    assert len(got) == 5
    for a, b in zip(got, frames):
        np.testing.assert_array_equal(a, b)
    meta = json.loads((tmp_path / "out" / "run1" / layout.META_FILE).read_text())
    assert meta["fps"] == 10.0 and meta["frame_times_ms"] == [0.0, 100.0, 200.0, 300.0, 400.0]
    assert meta["patient"] == "run1" and meta["frames"] == 5


def test_mp4_and_two_videos_of_one_name(tmp_path):
    frames = gray_frames(4)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    write_video(tmp_path / "a" / "run.mp4", frames, fourcc="mp4v")
    write_video(tmp_path / "b" / "run.avi", frames)

    assert main(["video", str(tmp_path / "a" / "run.mp4"), str(tmp_path / "b" / "run.avi"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run", "run_2"]
    lossy = _read(tmp_path / "out" / "run")
    assert len(lossy) == 4
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(lossy, frames)) < 4.0


def test_image_folder_16_bit_natural_order_and_colour(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 65535, (40, 50), dtype=np.uint16, endpoint=True) for _ in range(3)]
    for name, frame in zip(["f2.png", "f10.png", "f1.png"], [frames[1], frames[2], frames[0]]):
        cv2.imwrite(str(folder / name), frame)

    assert main(["images", str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == 0

    got = _read(tmp_path / "out" / "clip")
    for a, b in zip(got, frames):  # f1, f2, f10
        np.testing.assert_array_equal(a, b)
    assert json.loads((tmp_path / "out" / "clip" / layout.META_FILE).read_text())["files"] == ["f1.png", "f2.png",
                                                                                                 "f10.png"]
    colour = tmp_path / "rgb"
    colour.mkdir()
    bgr = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(colour / "0.png"), bgr)
    assert main(["images", str(colour), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    np.testing.assert_array_equal(_read(tmp_path / "out" / "rgb")[0], cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize("case", ["sizes", "depths", "corrupt"])
def test_bad_image_folders_are_named_and_nothing_is_written(tmp_path, capsys, case):
    folder = tmp_path / "clip"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((40, 50), np.uint8))
    if case == "sizes":
        cv2.imwrite(str(folder / "1.png"), np.zeros((40, 60), np.uint8))
    elif case == "depths":
        cv2.imwrite(str(folder / "1.png"), np.zeros((40, 50), np.uint16))
    else:
        (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")

    assert main(["images", str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == 2

    err = capsys.readouterr().err
    assert str(folder / "1.png") in err
    assert {"sizes": "60x40", "depths": "uint16", "corrupt": "corrupt"}[case] in err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_a_file_that_is_no_video_is_named(tmp_path, capsys):
    bad = tmp_path / "run.mp4"
    bad.write_bytes(b"\0" * 1000)
    assert main(["video", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
