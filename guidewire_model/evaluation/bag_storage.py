"""Raw messages out of ROS 2 bags (mcap and sqlite3), read so that damage costs only what it touched.

``rosbags`` reads intact bags well but refuses a whole file when its end is missing: an MCAP file
cut short (a recorder killed mid-run, a full disk, a copy interrupted) has no footer, and rosbags
stops before the first message. Recordings of procedures are not repeatable, so this module reads
storage files in file order and yields every message it can before (and, where the format allows,
after) the damage:

* **mcap** -- records are read with the ``mcap`` library's :class:`~mcap.stream_reader.StreamReader`,
  chunks one by one (uncompressed, zstd or lz4; CRCs checked where the writer stored one), and the
  records inside a chunk again one by one. A chunk that fails its CRC or cannot be decompressed is
  skipped; a chunk with an unreadable record keeps the records before it; both are noted in
  :attr:`Bag.problems` with the number of messages lost, and reading goes on with the next chunk.
  A top-level record that cannot be read (a length running past the end of the file) stops the
  scan with :class:`BagDamaged`, after the complete records of the chunk the file ends in.
* **sqlite3** -- rows are read in insertion order; the first page SQLite cannot read stops the
  scan with :class:`BagDamaged`.

A bag is a rosbag2 folder (``metadata.yaml`` plus storage files; a folder whose ``metadata.yaml``
was never written, as after a crashed recording, is read from its ``.mcap`` / ``.db3`` files), or a
single ``.mcap`` / ``.db3`` file. Only CDR-serialised messages are returned. No ROS import; the
typed layer (deserialisation, frames) is :mod:`guidewire_model.evaluation.bags`.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml
from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError, UnsupportedCompressionError
from mcap.opcode import Opcode
from mcap.reader import SeekingReader
from mcap.records import Channel, Chunk, DataEnd, Footer, McapRecord, Message, MessageIndex, Schema
from mcap.stream_reader import CRCValidationError, StreamReader, get_chunk_data_stream
from mcap.summary import Summary

__all__ = ["Bag", "BagDamaged", "BagError", "RawMessage", "TopicInfo"]

_MCAP_MAGIC = b"\x89MCAP0\r\n"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class BagError(ValueError):
    """A bag that cannot be read at all, or a request it cannot serve (e.g. a topic it lacks)."""


class BagDamaged(Exception):
    """Reading stopped before the end of a bag because the storage is truncated or corrupt.

    Everything before the damage has already been yielded. ``path`` is the storage file and
    ``offset`` the byte where the damage was found (``None`` for sqlite3).
    """

    def __init__(self, path: Path, offset: int | None, reason: str) -> None:
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}: {reason}{where}; messages after this point could not be read")
        self.path = path
        self.offset = offset


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag: its message type (``pkg/msg/Type``) and count (``None`` when unknown)."""

    name: str
    msgtype: str
    count: int | None = None


@dataclass(frozen=True)
class RawMessage:
    """A serialised (CDR) message with the recorder's log time [ns since the epoch]."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


# --------------------------------------------------------------------------------------- mcap

# What the mcap library raises on bytes it cannot parse: its own errors (EndOfFile at a short read,
# RecordLengthLimitExceeded at an impossible length), struct.error on a short field, ValueError on a
# CRC mismatch or a bad UTF-8 string, OverflowError on a length no read can take.
_PARSE_ERRORS = (McapError, ValueError, struct.error, OverflowError)


class _ChunkCut(Exception):
    """Internal: the records of a chunk end in damage ``offset`` bytes into its (decompressed) data."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


@dataclass
class _ChunkLoss:
    """A chunk read only in part (or not at all), to be reported with how many messages it held."""

    offset: int
    reason: str
    read: int  # messages read from it before the damage
    indexed: int = 0  # messages its message-index records list (written after the chunk)

    def describe(self, path: Path) -> str:
        if self.indexed:
            lost = f"{self.indexed - self.read} of its {self.indexed} messages were lost"
        else:
            lost = f"{self.read} of its messages were read, the rest lost (no message index to count them)"
        return f"{path}: the chunk at byte {self.offset} is damaged ({self.reason}); {lost}"


def _chunk_data(chunk: Chunk, partial: bool) -> bytes:
    """A chunk's records, decompressed; the CRC checked where the writer stored one.

    A partial chunk (the file ends inside it) is decoded as far as its bytes go: zstd and lz4 are
    streaming formats, so the start of a cut chunk still yields its first records.
    """
    if not partial:
        stream, length = get_chunk_data_stream(chunk, validate_crc=True)
        return stream.read(length)
    if chunk.compression == "":
        return chunk.data
    if chunk.compression == "zstd":
        import zstandard  # the mcap library's own dependency

        return zstandard.ZstdDecompressor().decompressobj().decompress(chunk.data)
    if chunk.compression == "lz4":
        import lz4.frame

        return lz4.frame.LZ4FrameDecompressor().decompress(chunk.data)
    raise UnsupportedCompressionError(chunk.compression)


def _chunk_records(data: bytes, partial: bool) -> Iterator[McapRecord]:
    """The records inside a chunk's data, read with the mcap library's stream reader.

    A chunk holds the same records as a file without its magic, so :class:`StreamReader` reads it
    one record at a time: the records before a damaged one are kept. Raises :class:`_ChunkCut` at a
    record it cannot read. For a ``partial`` chunk, a record cut by the end of the data is the
    expected end (the caller reports the truncation), not damage.
    """
    buf = io.BytesIO(data)
    records = StreamReader(buf, skip_magic=True, record_size_limit=len(data)).records
    while True:
        start = buf.tell()
        try:
            record = next(records)
        except StopIteration:  # a footer record: only garbage puts one inside a chunk
            return
        except _PARSE_ERRORS as exc:
            if start == len(data):
                return
            header = data[start:start + 9]
            if len(header) < 9:
                if partial:
                    return
                raise _ChunkCut(start, "the chunk ends inside a record header") from None
            length = struct.unpack_from("<Q", header, 1)[0]
            if start + 9 + length > len(data):
                if partial:
                    return
                raise _ChunkCut(start, f"a record inside the chunk claims {length} bytes, past the chunk's end") \
                    from None
            raise _ChunkCut(start, f"unreadable record ({type(exc).__name__}: {exc})") from None
        yield record


def _record_events(record: McapRecord, schemas: dict[int, str],
                   channels: dict[int, tuple[str, str]]) -> Iterator[tuple[str, object]]:
    """("channel", (topic, msgtype)) for a new CDR channel, ("message", RawMessage) for its messages."""
    if isinstance(record, Schema):
        schemas[record.id] = record.name
    elif isinstance(record, Channel):
        if record.message_encoding == "cdr":
            channels[record.id] = (record.topic, schemas.get(record.schema_id, ""))
            yield "channel", channels[record.id]
    elif isinstance(record, Message):
        channel = channels.get(record.channel_id)
        if channel is not None:
            yield "message", RawMessage(channel[0], channel[1], record.log_time, bytes(record.data))


class _McapFile:
    """One MCAP file (the ros2 profile), read in file order with the ``mcap`` library's StreamReader.

    Damage is handled record by record: a chunk that fails its CRC or cannot be decompressed is
    skipped; a chunk with an unreadable record keeps the records before it; both are noted in
    :attr:`problems` with the number of messages lost (from the message index written after each
    chunk) and reading goes on with the next record. A top-level record that cannot be read ends
    the file's data: :class:`BagDamaged`, after the complete records of a chunk the file ends in.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            if f.read(len(_MCAP_MAGIC)) != _MCAP_MAGIC:
                raise BagError(f"{path}: not an MCAP file (its first bytes are not the MCAP magic)")
        self.problems: list[str] = []

    def _summary(self) -> Summary | None:
        """The summary section, or None when the file has none or it is unreadable (cut short)."""
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                return SeekingReader(f, record_size_limit=size).get_summary()
        except (*_PARSE_ERRORS, OSError):
            return None

    def topics(self) -> dict[str, TopicInfo]:
        """Topics from the summary section; from a scan of the data when the summary is missing."""
        summary = self._summary()
        if summary is not None and summary.channels:
            counts = summary.statistics.channel_message_counts if summary.statistics is not None else None
            out: dict[str, TopicInfo] = {}
            for cid, channel in summary.channels.items():
                if channel.message_encoding != "cdr":
                    continue
                schema = summary.schemas.get(channel.schema_id)
                count = None if counts is None else counts.get(cid, 0)
                prev = out.get(channel.topic)
                if prev is not None:
                    count = None if prev.count is None or count is None else prev.count + count
                out[channel.topic] = TopicInfo(channel.topic, schema.name if schema else "", count)
            return out
        seen: dict[str, TopicInfo] = {}
        counts_seen: dict[str, int] = {}
        problems: list[str] = []  # found again, and reported, when the messages are read
        complete = True
        try:
            for kind, item in self._scan(problems):
                if kind == "channel":
                    seen.setdefault(item[0], TopicInfo(item[0], item[1]))
                else:
                    counts_seen[item.topic] = counts_seen.get(item.topic, 0) + 1
        except BagDamaged:
            complete = False  # the topics seen before the damage are what the file can offer
        # Messages counted in a damaged file are those that survived, not those recorded: unknown.
        known = complete and not problems
        return {t: TopicInfo(t, info.msgtype, counts_seen.get(t, 0) if known else None) for t, info in seen.items()}

    def messages(self, topics: set[str]) -> Iterator[RawMessage]:
        for kind, item in self._scan(self.problems):
            if kind == "message" and item.topic in topics:
                yield item

    def _scan(self, problems: list[str]) -> Iterator[tuple[str, object]]:
        """Yield ("channel", (topic, msgtype)) and ("message", RawMessage) in file order."""
        schemas: dict[int, str] = {}
        channels: dict[int, tuple[str, str]] = {}
        summary = self._summary()
        if summary is not None:
            # Channels are written inside the first chunk that uses them; with the summary's copy,
            # messages after a lost chunk still find their topic.
            schemas.update({sid: s.name for sid, s in summary.schemas.items()})
            channels.update({cid: (c.topic, schemas.get(c.schema_id, "")) for cid, c in summary.channels.items()
                             if c.message_encoding == "cdr"})
        loss: _ChunkLoss | None = None
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # No record is longer than the file: a corrupt length fails here instead of allocating.
            records = StreamReader(f, emit_chunks=True, record_size_limit=size).records
            start = previous = len(_MCAP_MAGIC)
            while True:
                previous, start = start, max(f.tell(), len(_MCAP_MAGIC))
                try:
                    record = next(records)
                except StopIteration:
                    return
                except _PARSE_ERRORS as exc:
                    if loss is not None:
                        problems.append(loss.describe(self.path))
                    read_already = start >= size and self._runs_past(f, previous, size)
                    if read_already:
                        # The reader took the rest of the file as the previous record's padding:
                        # the damage is that record's length, not a missing data-end record.
                        start = previous
                    reason = yield from self._cut_short(f, start, size, exc, schemas, channels, not read_already)
                    raise BagDamaged(self.path, start, reason) from None
                if isinstance(record, MessageIndex):
                    if loss is not None:
                        loss.indexed += len(record.records)
                    continue
                if loss is not None:
                    problems.append(loss.describe(self.path))
                    loss = None
                if isinstance(record, (DataEnd, Footer)):
                    return  # the data section ended cleanly
                if isinstance(record, Chunk):
                    loss = yield from self._chunk(record, start, schemas, channels, partial=False)
                else:
                    yield from _record_events(record, schemas, channels)

    def _chunk(self, chunk: Chunk, offset: int, schemas: dict[int, str], channels: dict[int, tuple[str, str]],
               partial: bool) -> Iterator[tuple[str, object]]:
        """Events of one chunk's records; returns a :class:`_ChunkLoss` when it could not all be read."""
        try:
            data = _chunk_data(chunk, partial)
        except CRCValidationError:
            return _ChunkLoss(offset, "CRC mismatch, corrupt data", 0)
        except Exception as exc:  # noqa: BLE001 - any decoder failure means this chunk is lost
            return _ChunkLoss(offset, f"cannot decompress its {chunk.compression} data: {exc}", 0)
        read = 0
        try:
            for record in _chunk_records(data, partial):
                read += isinstance(record, Message)
                yield from _record_events(record, schemas, channels)
        except _ChunkCut as cut:
            return _ChunkLoss(offset, f"{cut.reason}, at byte {cut.offset} of its {len(data)} bytes of records", read)
        return None

    @staticmethod
    def _runs_past(f, start: int, size: int) -> bool:
        """Whether the record at ``start`` claims more bytes than the file has after it."""
        f.seek(start)
        header = f.read(9)
        return len(header) == 9 and start + 9 + struct.unpack_from("<Q", header, 1)[0] > size

    def _cut_short(self, f, start: int, size: int, exc: Exception, schemas: dict[int, str],
                   channels: dict[int, tuple[str, str]], salvage: bool = True) -> Iterator[tuple[str, object]]:
        """Why the record at ``start`` could not be read (returned); first, with ``salvage``, the
        complete records of a chunk the file ends in (a recorder stopped while writing it)."""
        if start >= size:
            return "the file ends without the MCAP data-end or footer record (recording cut short?)"
        f.seek(start)
        header = f.read(9)
        if len(header) < 9:
            return "the file ends inside a record header (recording cut short?)"
        opcode, length = struct.unpack("<BQ", header)
        if start + 9 + length <= size:
            return f"unreadable record ({type(exc).__name__}: {exc})"
        if opcode == Opcode.CHUNK and salvage:
            try:
                partial = Chunk.read(ReadDataStream(io.BytesIO(f.read(size - start - 9))))
            except _PARSE_ERRORS:
                partial = None  # the file ends inside the chunk's header
            if partial is not None:
                yield from self._chunk(partial, start, schemas, channels, partial=True)
        return f"a record of {length} bytes runs past the end of the file ({size} bytes; recording cut short?)"


# ------------------------------------------------------------------------------------ sqlite3


class _Sqlite3File:
    """rosbag2 sqlite3 storage, read with the standard library, rows in insertion order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            header = f.read(100)
        if header[:16] != _SQLITE_MAGIC or len(header) < 100:
            raise BagError(f"{path}: not an SQLite database (its first bytes are not the SQLite header)")
        self.problems: list[str] = []
        page_size = struct.unpack(">H", header[16:18])[0]
        self._page_size = 65536 if page_size == 1 else page_size
        self._declared_pages = struct.unpack(">I", header[28:32])[0]
        self._pages = path.stat().st_size // self._page_size
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._read_path = path
        self.truncated = self._pages < self._declared_pages

    def _connect(self) -> sqlite3.Connection:
        if self.truncated and self._tmp is None:
            self._read_path = self._patched_copy()
        return sqlite3.connect(f"file:{self._read_path}?mode=ro", uri=True)

    def _patched_copy(self) -> Path:
        """A copy whose header declares only the pages present.

        SQLite refuses every query on a file shorter than its header says, even for pages that
        are intact; with the page count corrected it reads them and fails only on the lost ones.
        The copy costs the truncated file's size in temporary space, only on this recovery path.
        """
        self._tmp = tempfile.TemporaryDirectory(prefix="guidewire_bag_")
        copy = Path(self._tmp.name) / self.path.name
        with open(self.path, "rb") as src, open(copy, "wb") as dst:
            shutil.copyfileobj(src, dst)
            dst.truncate(self._pages * self._page_size)
            dst.seek(28)
            dst.write(struct.pack(">I", self._pages))
        return copy

    def topics(self) -> dict[str, TopicInfo]:
        try:
            con = self._connect()
            try:
                rows = con.execute("SELECT name, type, serialization_format FROM topics").fetchall()
            finally:
                con.close()
                if self._tmp is not None:
                    self._tmp.cleanup()
                    self._tmp, self._read_path = None, self.path
        except sqlite3.DatabaseError as exc:
            raise BagError(f"{self.path}: cannot read the topics table ({exc}); not a rosbag2 sqlite3 file, "
                           "or damaged beyond reading") from None
        return {name: TopicInfo(name, msgtype) for name, msgtype, fmt in rows if fmt == "cdr"}

    def messages(self, topics: set[str]) -> Iterator[RawMessage]:
        try:
            con = self._connect()
        except sqlite3.DatabaseError as exc:
            raise BagDamaged(self.path, None, f"cannot open the database ({exc})") from None
        try:
            try:
                ids = {tid: (name, msgtype) for tid, name, msgtype in
                       con.execute("SELECT id, name, type FROM topics").fetchall() if name in topics}
                if not ids:
                    return
                marks = ",".join("?" * len(ids))
                # ORDER BY the integer primary key walks the table b-tree in order: rows stream out
                # one page at a time, so the rows before a damaged page are still returned.
                cursor = con.execute(
                    f"SELECT topic_id, timestamp, data FROM messages WHERE topic_id IN ({marks}) ORDER BY id",
                    tuple(ids))
                for tid, stamp, data in cursor:
                    name, msgtype = ids[tid]
                    yield RawMessage(name, msgtype, int(stamp), bytes(data))
            except sqlite3.DatabaseError as exc:
                raise BagDamaged(self.path, None, f"SQLite cannot read further ({exc})") from None
            if self.truncated:
                raise BagDamaged(self.path, self._pages * self._page_size,
                                 f"the file is cut short ({self._pages} of the {self._declared_pages} pages its "
                                 "header declares)")
        finally:
            con.close()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp, self._read_path = None, self.path


# ---------------------------------------------------------------------------------------- bag


def _open_storage(path: Path):
    if path.suffix == ".mcap":
        return _McapFile(path)
    if path.suffix == ".db3":
        return _Sqlite3File(path)
    raise BagError(f"{path}: unknown storage file type {path.suffix!r} (expected .mcap or .db3)")


class Bag:
    """A ROS 2 bag opened for raw, damage-tolerant reading.

    Parameters
    ----------
    path : path-like
        A rosbag2 folder (with or without ``metadata.yaml``) or one ``.mcap`` / ``.db3`` file.

    Attributes
    ----------
    path : Path
    files : list of Path
        Storage files, in the order they are read.
    problems : list of str
        Non-fatal damage met so far (skipped chunks); grows while :meth:`messages` runs.

    Raises
    ------
    BagError
        The path does not exist, holds no storage file, or names an unsupported format.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag (neither a rosbag2 folder nor an .mcap/.db3 file exists there)")
        self._notes: list[str] = []
        self._meta_counts: dict[str, int] = {}
        if self.path.is_dir():
            self.files = self._folder_files()
        else:
            self.files = [self.path]
        self._storages = [_open_storage(f) for f in self.files]

    def _folder_files(self) -> list[Path]:
        meta_path = self.path / "metadata.yaml"
        if meta_path.is_file():
            try:
                info = yaml.safe_load(meta_path.read_text())["rosbag2_bagfile_information"]
                mode = str(info.get("compression_mode", "") or "").lower()
                if mode not in ("", "none"):
                    raise BagError(f"{self.path}: {mode}-compressed bags are not supported; decompress it with "
                                   "`ros2 bag convert` first")
                files = [self.path / Path(p).name for p in info["relative_file_paths"]]
                for t in info.get("topics_with_message_count", []):
                    name = t["topic_metadata"]["name"]
                    self._meta_counts[name] = self._meta_counts.get(name, 0) + int(t["message_count"])
                missing = [str(f) for f in files if not f.is_file()]
                if missing:
                    raise BagError(f"{self.path}: metadata.yaml lists storage files that are missing: {missing}")
                return files
            except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, BagError):
                    raise
                self._notes.append(f"{meta_path}: unreadable ({exc}); read the storage files directly")
                self._meta_counts = {}
        files = sorted(self.path.glob("*.mcap")) or sorted(self.path.glob("*.db3"))
        if not files:
            raise BagError(f"{self.path}: not a ROS 2 bag (no metadata.yaml, .mcap or .db3 file inside)")
        if not meta_path.is_file():
            self._notes.append(f"{self.path}: no metadata.yaml (recording not closed cleanly?); "
                               "read the storage files directly")
        return files

    @property
    def problems(self) -> list[str]:
        return self._notes + [p for s in self._storages for p in s.problems]

    def topics(self) -> dict[str, TopicInfo]:
        """Every CDR topic of the bag with its type and, where the bag records it, message count."""
        out: dict[str, TopicInfo] = {}
        for storage in self._storages:
            for name, info in storage.topics().items():
                prev = out.get(name)
                count = info.count
                if prev is not None:
                    count = None if prev.count is None or count is None else prev.count + count
                out[name] = TopicInfo(name, info.msgtype, count)
        if self._meta_counts:
            out = {n: TopicInfo(n, i.msgtype, self._meta_counts.get(n, i.count)) for n, i in out.items()}
        return dict(sorted(out.items()))

    def messages(self, topics: set[str]) -> Iterator[RawMessage]:
        """Messages of ``topics`` in storage order (recording order for bags written by ros2 bag).

        Raises
        ------
        BagDamaged
            When a storage file cannot be read further; earlier messages have been yielded.
        """
        for storage in self._storages:
            yield from storage.messages(set(topics))
