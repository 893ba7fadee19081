"""ROS 2 bags without ROS: synthetic bags written and read back, foreign bags, damage, results bags."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from guidewire_model.evaluation.bags import (
    GUIDEWIRE_ARRAY_TYPE,
    IMAGE_TYPE,
    BagError,
    list_topics,
    main,
    read_frames,
    typestore,
    write_results_bag,
    write_synthetic_bag,
)
from guidewire_model.metrics.wires import wires_cross
from guidewire_model.core.wire import Wire
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

N, SIZE, SEED, START = 8, 128, 5, 1_700_000_000_123_000_000
TOPICS = ("/fluoro/image", "/fluoro/ground_truth/mask", "/fluoro/ground_truth/centrelines")


def _cfg(bit_depth: int = 8) -> SyntheticConfig:
    return SyntheticConfig.preset("easy", size=SIZE, bit_depth=bit_depth)


@pytest.fixture(scope="module")
def reference():
    return generate_sequence(_cfg(), SEED, N)


@pytest.fixture(scope="module")
def bags(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bags")
    return {s: write_synthetic_bag(root / s, _cfg(), SEED, N, storage=s, start_ns=START) for s in ("mcap", "sqlite3")}


def _stamp(i: int, fps: float = 15.0) -> int:
    return START + round(i * 1e9 / fps)


def _assert_same(frames, reference, n=None):
    n = len(reference) if n is None else n
    assert len(frames) == n
    for i, (got, ref) in enumerate(zip(frames, reference[:n])):
        assert got.stamp_ns == _stamp(i) == got.log_time_ns
        assert got.frame_id == "fluoroscope"
        assert got.image.dtype == ref.image.dtype and np.array_equal(got.image, ref.image)
        assert np.array_equal(got.gt_mask, ref.mask)
        assert [w.wire_id for w in got.gt_wires] == [w.wire_id for w in ref.wires]
        for a, b in zip(got.gt_wires, ref.wires):
            np.testing.assert_allclose(a.points, b.points)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_synthetic_bag_reads_back_identically(bags, reference, storage):
    assert list_topics(bags[storage]) == {TOPICS[0]: IMAGE_TYPE, TOPICS[1]: IMAGE_TYPE, TOPICS[2]: GUIDEWIRE_ARRAY_TYPE}
    stream = read_frames(bags[storage], *TOPICS)
    assert stream.expected_frames == N
    _assert_same(list(stream), reference)
    assert stream.damage is None and stream.all_problems == []


def test_mono16_bag_and_header_equals_log_time(tmp_path):
    bag = write_synthetic_bag(tmp_path / "b16", _cfg(16), 2, 3, start_ns=START)
    with AnyReader([bag], default_typestore=typestore()) as reader:
        conns = [c for c in reader.connections if c.topic == TOPICS[0]]
        for conn, log_time, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            assert msg.encoding == "mono16"
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == log_time
    frames = list(read_frames(bag, TOPICS[0]))
    ref = generate_sequence(_cfg(16), 2, 3)
    assert all(f.image.dtype == np.uint16 and np.array_equal(f.image, r.image) for f, r in zip(frames, ref))
    assert all(f.gt_mask is None and f.gt_wires is None for f in frames)


def test_wrong_topic_lists_the_bags_topics_and_types(bags):
    with pytest.raises(BagError) as err:
        read_frames(bags["mcap"], "/camera/image_raw")
    text = str(err.value)
    assert "/camera/image_raw" in text and "--image-topic" in text
    for topic in TOPICS:
        assert topic in text
    assert IMAGE_TYPE in text and GUIDEWIRE_ARRAY_TYPE in text
    with pytest.raises(BagError, match="has type guidewire_seg/msg/GuidewireArray"):
        read_frames(bags["mcap"], TOPICS[2])


def test_missing_path_and_non_bags_are_refused_clearly(tmp_path):
    with pytest.raises(BagError, match="no such bag"):
        read_frames(tmp_path / "nope", "/x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="not a ROS 2 bag"):
        list_topics(tmp_path / "empty")
    (tmp_path / "fake.mcap").write_bytes(b"hello world, not mcap")
    with pytest.raises(BagError, match="not an MCAP file"):
        list_topics(tmp_path / "fake.mcap")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BagError, match="unknown storage file type"):
        list_topics(tmp_path / "notes.txt")


def _copy(bag: Path, dest: Path) -> tuple[Path, Path]:
    shutil.copytree(bag, dest)
    return dest, next(p for p in dest.iterdir() if p.suffix in (".mcap", ".db3"))


def test_truncated_mcap_yields_frames_before_the_cut(bags, reference, tmp_path):
    bag, file = _copy(bags["mcap"], tmp_path / "cut")
    os.truncate(file, file.stat().st_size // 2)
    stream = read_frames(bag, *TOPICS)
    frames = list(stream)
    assert 2 <= len(frames) < N  # the complete frames of the half-written chunk
    _assert_same(frames, reference, len(frames))
    assert "runs past the end of the file" in stream.damage and str(file) in stream.damage
    # metadata.yaml declares the frame count, so the loss is counted.
    assert stream.expected_frames == N and stream.lost_frames == N - len(frames)
    assert stream.info()["lost_frames"] == N - len(frames) and stream.info()["frames"] == len(frames)


def test_corrupt_mcap_record_loses_the_rest_of_its_chunk(bags, reference, tmp_path):
    bag, file = _copy(bags["mcap"], tmp_path / "corrupt")
    data = bytearray(file.read_bytes())
    # The message record of image 5 starts 15 bytes before its log time (opcode, length, channel, sequence).
    at = data.index(struct.pack("<Q", _stamp(5))) - 15
    assert data[at] == 0x05
    data[at + 1:at + 9] = b"\xff" * 8  # a record length no file can hold
    file.write_bytes(bytes(data))
    stream = read_frames(bag, *TOPICS)
    frames = list(stream)
    _assert_same(frames, reference, 5)
    # rosbags wrote one chunk: the rest of it (frames 5-7, three messages each) is lost, the file's
    # end is still reached, and the loss is counted from the chunk's message index.
    assert stream.damage is None and stream.lost_frames == N - 5
    [problem] = stream.all_problems
    assert "past the chunk's end" in problem and f"{3 * (N - 5)} of its {3 * N} messages were lost" in problem


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_damaged_sqlite3_yields_frames_before_the_damage(bags, reference, tmp_path, damage):
    bag, file = _copy(bags["sqlite3"], tmp_path / damage)
    size = file.stat().st_size
    if damage == "truncate":
        os.truncate(file, size // 2)
    else:
        with open(file, "r+b") as f:
            f.seek(size // 2 // 4096 * 4096)
            f.write(b"\xa5" * 4096)  # one whole page of garbage
    stream = read_frames(bag, *TOPICS)
    frames = list(stream)
    assert 1 <= len(frames) < N
    _assert_same(frames, reference, len(frames))
    assert stream.damage and str(file) in stream.damage


def test_bag_without_metadata_yaml_is_still_read(bags, reference, tmp_path):
    bag, _ = _copy(bags["mcap"], tmp_path / "crashed")
    (bag / "metadata.yaml").unlink()
    stream = read_frames(bag, *TOPICS)
    _assert_same(list(stream), reference)
    assert any("no metadata.yaml" in p for p in stream.all_problems)


def _foreign_bag(path: Path, order: str, skip_gt: set[int]) -> list[int]:
    """A bag written straight with rosbags: custom topics, rgb8 images with padded rows."""
    ts = typestore()
    T = ts.types
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    img_c = writer.add_connection("/cam/xray", IMAGE_TYPE, typestore=ts)
    mask_c = writer.add_connection("/labels/mask", IMAGE_TYPE, typestore=ts)
    wire_c = writer.add_connection("/labels/wires", GUIDEWIRE_ARRAY_TYPE, typestore=ts)
    stamps = []
    for i in range(4):
        stamp = 5_000_000_000 + i * 70_000_000
        stamps.append(stamp)
        header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9,
                                                                                 nanosec=stamp % 10**9), frame_id="xr")
        gray = np.full((6, 5), 10 * i, np.uint8)
        rgb = np.concatenate([np.repeat(gray[..., None], 3, 2).reshape(6, 15), np.zeros((6, 1), np.uint8)], 1)
        image = T[IMAGE_TYPE](header=header, height=6, width=5, encoding="rgb8", is_bigendian=0, step=16,
                              data=rgb.reshape(-1))
        mask = T[IMAGE_TYPE](header=header, height=6, width=5, encoding="mono8", is_bigendian=0, step=5,
                             data=(np.eye(6, 5, dtype=np.uint8) * (i + 1)).reshape(-1))
        pts = [T["geometry_msgs/msg/Point"](x=float(i), y=float(k), z=0.0) for k in range(3)]
        wire = T["guidewire_seg/msg/Guidewire"](id=7, points=pts, tip=pts[-1],
                                                tip_direction=T["geometry_msgs/msg/Vector3"](x=0.0, y=1.0, z=0.0),
                                                length_px=2.0, mean_probability=1.0, frames_tracked=1)
        wires = T[GUIDEWIRE_ARRAY_TYPE](header=header, image_width=5, image_height=6, wires=[wire])
        items = [(img_c, image), (mask_c, mask), (wire_c, wires)]
        if order == "gt_first":
            items = items[1:] + items[:1]
        if i in skip_gt:
            items = items[:1] if order != "gt_first" else items[-1:]
        for conn, msg in items:
            # Ground truth logged 1 ms after its image, or before it: matching must use the header stamp.
            log = stamp + (1_000_000 if conn is not img_c else 0)
            writer.write(conn, log, ts.serialize_cdr(msg, msg.__msgtype__))
    writer.close()
    return stamps


@pytest.mark.parametrize("order", ["image_first", "gt_first"])
def test_foreign_bag_ground_truth_matched_by_stamp(tmp_path, order):
    stamps = _foreign_bag(tmp_path / "foreign", order, skip_gt={2})
    stream = read_frames(tmp_path / "foreign", "/cam/xray", "/labels/mask", "/labels/wires", max_pending=2)
    frames = list(stream)
    assert [f.stamp_ns for f in frames] == stamps
    for i, f in enumerate(frames):
        assert f.frame_id == "xr" and f.encoding == "rgb8"
        assert np.array_equal(f.image, np.full((6, 5), 10 * i, np.uint8))
        if i == 2:
            assert f.gt_mask is None and f.gt_wires is None
        else:
            assert np.array_equal(f.gt_mask, np.eye(6, 5, dtype=np.uint8))
            assert f.gt_wires[0].wire_id == 7 and f.gt_wires[0].points[0, 0] == i
    assert stream.problem_count == 1 and "no ground-truth mask or centrelines" in stream.problems[0]


def test_results_bag_carries_the_input_headers(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for i in range(3):
        wire = Wire.from_points(np.array([[1.0, 2.0], [3.0, 4.0 + i]]), wire_id=i + 1)
        items.append(SimpleNamespace(stamp_ns=START + i * 66_666_667, frame_id=f"cam{i}", log_time_ns=None,
                                     mask=(rng.random((9, 7)) > 0.5).astype(np.uint8), wires=[wire]))
    items.append(SimpleNamespace(stamp_ns=1, frame_id="x", mask=None, wires=None))  # a frame without result
    for storage in ("mcap", "sqlite3"):
        bag = write_results_bag(tmp_path / storage, items, storage=storage, mask_topic="/out/mask",
                                centrelines_topic="/out/wires")
        got: dict[str, list] = {"/out/mask": [], "/out/wires": []}
        with AnyReader([bag], default_typestore=typestore()) as reader:
            for conn, log_time, raw in reader.messages():
                msg = reader.deserialize(raw, conn.msgtype)
                got[conn.topic].append((msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec,
                                        msg.header.frame_id, log_time, msg))
        for topic in got:
            assert [(s, f, t) for s, f, t, _ in got[topic]] == [(it.stamp_ns, it.frame_id, it.stamp_ns)
                                                                for it in items[:3]]
        for (_, _, _, msg), item in zip(got["/out/mask"], items):
            assert msg.encoding == "mono8"
            assert np.array_equal(msg.data.reshape(9, 7), item.mask * 255)
        for (_, _, _, msg), item in zip(got["/out/wires"], items):
            assert msg.wires[0].id == item.wires[0].wire_id
            assert [(p.x, p.y) for p in msg.wires[0].points] == [tuple(p) for p in item.wires[0].points]
            assert msg.image_width == 7 and msg.image_height == 9


def test_synth_bag_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--frames", "2", "--size", "64", "--storage", "sqlite3",
                 "--image-topic", "/a/img", "--gt-centrelines-topic", ""]) == 0
    assert list_topics(out) == {"/a/img": IMAGE_TYPE, "/fluoro/ground_truth/mask": IMAGE_TYPE}
    assert main(["--out", str(out), "--frames", "2", "--size", "64"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_wires_cross_ignores_the_shared_proximal_end():
    s = np.linspace(0, 100, 101)
    diagonal = Wire.from_points(np.stack([s, s], 1), wire_id=1)
    anti = Wire.from_points(np.stack([s, 100 - s], 1), wire_id=2)
    assert wires_cross([diagonal, anti])
    apart = Wire.from_points(np.stack([s, s + 40], 1), wire_id=2)
    assert not wires_cross([diagonal, apart])
    # Both leave the catheter at the origin, then diverge: the first 30 px do not count.
    fan = Wire.from_points(np.stack([s, 3 * s], 1), wire_id=2)
    assert not wires_cross([diagonal, fan], gap_px=8.0, exclude_px=30.0)
    assert wires_cross([diagonal, fan], gap_px=8.0, exclude_px=0.0)
    assert not wires_cross([diagonal])


def test_zstd_chunks_and_chunk_crcs(tmp_path, reference):
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

    ts = typestore()
    writer = Writer(tmp_path / "z", version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    writer.open()
    conn = writer.add_connection("/x", IMAGE_TYPE, typestore=ts)
    for i, f in enumerate(reference[:3]):
        msg = ts.types[IMAGE_TYPE](header=ts.types["std_msgs/msg/Header"](
            stamp=ts.types["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id=""), height=SIZE, width=SIZE,
            encoding="mono8", is_bigendian=0, step=SIZE, data=f.image.reshape(-1))
        writer.write(conn, i, ts.serialize_cdr(msg, IMAGE_TYPE))
    writer.close()
    file = tmp_path / "z" / "z.mcap"
    assert [np.array_equal(f.image, r.image) for f, r in zip(read_frames(tmp_path / "z", "/x"), reference)] == [True] * 3
    # rosbags stores no chunk CRC (0 = none); a CRC that does not match marks the chunk corrupt.
    data = bytearray(file.read_bytes())
    chunk = data.index(b"\x06", 8 + 9 + struct.unpack_from("<Q", data, 9)[0])
    data[chunk + 9 + 24:chunk + 9 + 28] = struct.pack("<I", 12345)
    file.write_bytes(bytes(data))
    stream = read_frames(tmp_path / "z", "/x")
    assert list(stream) == [] and any("CRC mismatch" in p for p in stream.all_problems)
