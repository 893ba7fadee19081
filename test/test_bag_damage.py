"""Damaged MCAP bags written by the real ``mcap`` library, read through guidewire_model.evaluation.bags.

Each bag holds one chunk per frame (image, mask, centrelines), so every kind of damage has an exact
answer: which frames come back, which are lost, and how the loss is counted. Chunk offsets come from
the file's own summary (the mcap library's reader), never from the code under test.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

from guidewire_model.evaluation.bags import GUIDEWIRE_ARRAY_TYPE, IMAGE_TYPE, read_frames, typestore
from guidewire_model.runtime.image_decoding import gray_image_fields
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

N, SIZE, SEED, START, PERIOD = 6, 96, 11, 1_720_000_000_000_000_000, 66_666_667
TOPICS = ("/fluoro/image", "/fluoro/ground_truth/mask", "/fluoro/ground_truth/centrelines")
COMPRESSION = {"none": CompressionType.NONE, "zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}


@pytest.fixture(scope="module")
def reference():
    return generate_sequence(SyntheticConfig.preset("easy", size=SIZE), SEED, N)


def _messages(frame, stamp: int) -> list[tuple[str, bytes]]:
    """The frame's image, 0/255 mask and centrelines as CDR bytes, all stamped ``stamp``."""
    ts = typestore()
    T = ts.types
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9,
                                                                             nanosec=stamp % 10**9),
                                      frame_id="fluoroscope")

    def image(pixels: np.ndarray):
        fields = gray_image_fields(pixels)
        fields["data"] = np.frombuffer(fields["data"], np.uint8)
        fields["is_bigendian"] = int(fields["is_bigendian"])
        return T[IMAGE_TYPE](header=header, **fields)

    P = T["geometry_msgs/msg/Point"]
    wires = T[GUIDEWIRE_ARRAY_TYPE](header=header, image_width=SIZE, image_height=SIZE, wires=[
        T["guidewire_seg/msg/Guidewire"](
            id=w.wire_id, points=[P(x=float(x), y=float(y), z=0.0) for x, y in w.points],
            tip=P(x=0.0, y=0.0, z=0.0), tip_direction=T["geometry_msgs/msg/Vector3"](x=1.0, y=0.0, z=0.0),
            length_px=0.0, mean_probability=1.0, frames_tracked=1) for w in frame.wires])
    msgs = [image(frame.image), image((frame.mask > 0).astype(np.uint8) * 255), wires]
    return [(topic, ts.serialize_cdr(m, m.__msgtype__)) for topic, m in zip(TOPICS, msgs)]


def write_mcap(path: Path, frames, compression: str, chunk_per_frame: bool = True, crcs: bool = True) -> Path:
    """An MCAP file in the ros2 profile, written by the mcap library (not by rosbags, not by us)."""
    ts = typestore()
    with open(path, "wb") as f:
        writer = Writer(f, compression=COMPRESSION[compression], enable_crcs=crcs,
                        chunk_size=1 << 30)  # chunks end where flush() says
        writer.start(profile="ros2", library="test")
        channels = {}
        for topic, msgtype in zip(TOPICS, (IMAGE_TYPE, IMAGE_TYPE, GUIDEWIRE_ARRAY_TYPE)):
            schema = writer.register_schema(msgtype, "ros2msg", ts.generate_msgdef(msgtype)[0].encode())
            channels[topic] = writer.register_channel(topic, "cdr", schema)
        for i, frame in enumerate(frames):
            stamp = START + i * PERIOD
            for topic, data in _messages(frame, stamp):
                writer.add_message(channels[topic], log_time=stamp, data=data, publish_time=stamp)
            if chunk_per_frame:
                writer.flush()
        writer.finish()
    return path


def _chunks(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of each chunk record, from the file's summary."""
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    return sorted((c.chunk_start_offset, c.chunk_length) for c in summary.chunk_indexes)


def _assert_frames(frames, reference, indices, complete=True):
    assert [f.stamp_ns for f in frames] == [START + i * PERIOD for i in indices]
    for got, i in zip(frames, indices):
        assert np.array_equal(got.image, reference[i].image)
        if complete:
            assert np.array_equal(got.gt_mask, reference[i].mask)
            assert [w.wire_id for w in got.gt_wires] == [w.wire_id for w in reference[i].wires]


@pytest.mark.parametrize("compression", sorted(COMPRESSION))
def test_intact_file_reads_every_frame_and_declares_its_count(tmp_path, reference, compression):
    path = write_mcap(tmp_path / "ok.mcap", reference, compression)
    assert len(_chunks(path)) == N
    stream = read_frames(path, *TOPICS)
    _assert_frames(list(stream), reference, range(N))
    assert stream.expected_frames == N and stream.lost_frames == 0
    assert stream.damage is None and stream.all_problems == []


@pytest.mark.parametrize("compression", sorted(COMPRESSION))
def test_corrupt_chunk_in_the_middle_loses_that_frame_only(tmp_path, reference, compression):
    path = write_mcap(tmp_path / "bad.mcap", reference, compression)
    offset, length = _chunks(path)[2]
    data = bytearray(path.read_bytes())
    middle = offset + length // 2
    data[middle:middle + 64] = bytes(255 - b for b in data[middle:middle + 64])  # flipped bits, same length
    path.write_bytes(bytes(data))
    stream = read_frames(path, *TOPICS)
    frames = list(stream)
    # The frames after the damaged chunk are read too: the chunk boundary is known from its record.
    _assert_frames(frames, reference, [0, 1, 3, 4, 5])
    assert stream.damage is None
    assert stream.expected_frames == N and stream.lost_frames == 1
    [problem] = stream.all_problems
    assert f"chunk at byte {offset}" in problem and "3 of its 3 messages were lost" in problem


def test_corrupt_record_inside_a_chunk_keeps_the_records_before_it(tmp_path, reference):
    # No CRCs (as rosbags writes): the damage is found by the record reader, not by the checksum.
    path = write_mcap(tmp_path / "rec.mcap", reference, "none", crcs=False)
    offset, _ = _chunks(path)[3]
    data = bytearray(path.read_bytes())
    # Frame 3's mask: the second message record logged at its stamp. A message record is opcode 0x05,
    # length, channel id, sequence, then log time and publish time (both the stamp here).
    stamp = struct.pack("<Q", START + 3 * PERIOD)
    at, records = offset, []
    while len(records) < 2:
        at = data.index(stamp, at + 1)
        if data[at - 15] == 0x05 and data[at + 8:at + 16] == stamp:  # not the chunk header's start/end times
            records.append(at - 15)
    at = records[1]
    data[at + 1:at + 9] = struct.pack("<Q", 10**12)  # longer than the chunk (and the file)
    path.write_bytes(bytes(data))
    stream = read_frames(path, *TOPICS)
    frames = list(stream)
    _assert_frames([f for i, f in enumerate(frames) if i != 3], reference, [0, 1, 2, 4, 5])
    # Frame 3's image came before the damage and is read; its mask and centrelines are lost.
    assert frames[3].stamp_ns == START + 3 * PERIOD and np.array_equal(frames[3].image, reference[3].image)
    assert frames[3].gt_mask is None and frames[3].gt_wires is None
    assert stream.damage is None and stream.lost_frames == 0
    [problem] = [p for p in stream.all_problems if "chunk at byte" in p]
    assert f"chunk at byte {offset}" in problem and "past the chunk's end" in problem
    assert "2 of its 3 messages were lost" in problem


def test_truncated_file_yields_the_frames_before_the_cut(tmp_path, reference):
    path = write_mcap(tmp_path / "cut.mcap", reference, "zstd")
    offset, _ = _chunks(path)[4]
    os.truncate(path, offset + 20)  # inside chunk 4's header
    stream = read_frames(path, *TOPICS)
    _assert_frames(list(stream), reference, range(4))
    assert f"at byte {offset}" in stream.damage and "runs past the end of the file" in stream.damage
    # A bare .mcap file cut short has no summary: how many frames it held is not known.
    assert stream.expected_frames is None and stream.lost_frames is None


def test_truncated_uncompressed_chunk_yields_its_complete_records(tmp_path, reference):
    path = write_mcap(tmp_path / "cut.mcap", reference, "none")
    offset, length = _chunks(path)[4]
    os.truncate(path, offset + length - 10)  # inside frame 4's centrelines, its last record
    stream = read_frames(path, *TOPICS)
    frames = list(stream)
    _assert_frames(frames[:4], reference, range(4))
    # Frame 4's image and mask were complete before the cut; its centrelines were not.
    last = frames[4]
    assert len(frames) == 5 and last.stamp_ns == START + 4 * PERIOD
    assert np.array_equal(last.image, reference[4].image) and np.array_equal(last.gt_mask, reference[4].mask)
    assert last.gt_wires is None
    assert stream.problem_count == 1 and "no ground-truth centrelines" in stream.problems[0]
    assert "runs past the end of the file" in stream.damage


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_truncated_compressed_chunk_yields_its_decodable_start(tmp_path, compression):
    # One chunk for a longer sequence: a recorder killed while writing its only chunk. zstd and lz4
    # are streaming formats, so the part before the cut still decodes (a few of their blocks).
    frames_in = generate_sequence(SyntheticConfig.preset("easy", size=SIZE), SEED, 4 * N)
    path = write_mcap(tmp_path / "cut.mcap", frames_in, compression, chunk_per_frame=False)
    [(offset, length)] = _chunks(path)
    os.truncate(path, offset + length * 3 // 4)
    stream = read_frames(path, *TOPICS)
    frames = list(stream)
    assert 1 <= len(frames) < 4 * N
    _assert_frames(frames, frames_in, range(len(frames)), complete=False)
    assert "runs past the end of the file" in stream.damage


def test_corrupt_top_level_length_stops_after_that_chunk(tmp_path, reference):
    path = write_mcap(tmp_path / "len.mcap", reference, "zstd")
    offset, _ = _chunks(path)[3]
    data = bytearray(path.read_bytes())
    assert data[offset] == 0x06  # a chunk record
    data[offset + 1:offset + 9] = struct.pack("<Q", len(data))
    path.write_bytes(bytes(data))
    stream = read_frames(path, *TOPICS)
    # The chunk's own fields are intact, so its records are read; where the next record starts is
    # not known any more, so reading stops there.
    _assert_frames(list(stream), reference, range(4))
    assert f"at byte {offset}" in stream.damage
    assert stream.expected_frames == N and stream.lost_frames == N - 4


def test_rosbag2_folder_of_a_damaged_file_counts_the_lost_frames(tmp_path, reference):
    """metadata.yaml declares the count when the file's own summary is gone."""
    from guidewire_model.evaluation.bags import write_synthetic_bag

    bag = write_synthetic_bag(tmp_path / "bag", SyntheticConfig.preset("easy", size=SIZE), SEED, N,
                              start_ns=START)
    cut = tmp_path / "cut"
    shutil.copytree(bag, cut)
    file = cut / "bag.mcap"
    os.truncate(file, file.stat().st_size // 3)
    stream = read_frames(cut, *TOPICS)
    frames = list(stream)
    assert 0 < len(frames) < N
    assert stream.expected_frames == N and stream.lost_frames == N - len(frames)
