"""Raw messages out of ROS 2 bags (mcap and sqlite3), read so that damage costs only what it touched.

``rosbags`` reads intact bags well but refuses a whole file when its end is missing: an MCAP file
cut short (a recorder killed mid-run, a full disk, a copy interrupted) has no footer, and rosbags
stops before the first message. Recordings of procedures are not repeatable, so this module reads
storage files itself, in file order, and yields every message it can before the damage:

* **mcap** -- records are scanned from the start; chunks are read one by one (uncompressed, zstd or
  lz4; CRCs checked when the writer stored one). A chunk that fails its CRC or cannot be
  decompressed is skipped and noted in :attr:`Bag.problems`; reading goes on with the next record.
  A record whose length runs past the end of the file stops the scan with :class:`BagDamaged`, after
  the complete records of a partly written (uncompressed) chunk have been yielded.
* **sqlite3** -- rows are read in insertion order; the first page SQLite cannot read stops the
  scan with :class:`BagDamaged`.

A bag is a rosbag2 folder (``metadata.yaml`` plus storage files; a folder whose ``metadata.yaml``
was never written, as after a crashed recording, is read from its ``.mcap`` / ``.db3`` files), or a
single ``.mcap`` / ``.db3`` file. Only CDR-serialised messages are returned. No ROS import; the
typed layer (deserialisation, frames) is :mod:`guidewire_model.bags`.
"""

from __future__ import annotations

import mmap
import os
import shutil
import sqlite3
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

__all__ = ["Bag", "BagDamaged", "BagError", "RawMessage", "TopicInfo"]

_MCAP_MAGIC = b"\x89MCAP0\r\n"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x03, 0x04, 0x05, 0x06
_OP_FOOTER, _OP_STATISTICS, _OP_DATA_END = 0x02, 0x0B, 0x0F


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


class _Cut(Exception):
    """Internal: the bytes end inside a record (carries the record's offset)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


class _Buf:
    """Little-endian field reader over a bytes-like region [pos, end)."""

    def __init__(self, data, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _Cut(self.pos, f"field of {n} bytes runs past its record")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(out)

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return self.take(self.u32()).decode("utf-8", errors="replace")


def _decompress(data: bytes, compression: str) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd  # Python >= 3.14
        except ImportError:
            from backports import zstd  # rosbags' own dependency
        return zstd.decompress(data)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise ValueError(f"unsupported chunk compression {compression!r}")


def _index_record(op: int, body: _Buf, schemas: dict[int, str],
                  channels: dict[int, tuple[str, str]]) -> tuple[str, str] | None:
    """Read a schema or channel record into ``schemas`` / ``channels`` (the same records appear in
    the data section and in the summary). Returns the ``(topic, type)`` of a CDR channel it added."""
    if op == _OP_SCHEMA:
        sid = body.u16()
        schemas[sid] = body.string()
        return None
    cid, sid = body.u16(), body.u16()
    topic, encoding = body.string(), body.string()
    if encoding != "cdr":
        return None
    channels[cid] = (topic, schemas.get(sid, ""))
    return channels[cid]


class _McapFile:
    """Tolerant sequential reader of one MCAP file (the ros2 profile)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            if f.read(8) != _MCAP_MAGIC:
                raise BagError(f"{path}: not an MCAP file (its first bytes are not the MCAP magic)")
        self.problems: list[str] = []

    def _map(self):
        f = open(self.path, "rb")
        try:
            return f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            f.close()
            raise BagDamaged(self.path, 0, "the file is empty") from None

    def topics(self) -> dict[str, TopicInfo]:
        """Topics from the summary section; from a scan of the data when the summary is missing."""
        f, mm = self._map()
        try:
            summary = self._summary_topics(mm)
        finally:
            mm.close()
            f.close()
        if summary is not None:
            return summary
        seen: dict[str, TopicInfo] = {}
        counts: dict[str, int] = {}
        try:
            for kind, item in self._scan(want=None):
                if kind == "channel":
                    seen.setdefault(item[0], TopicInfo(item[0], item[1]))
                else:
                    counts[item.topic] = counts.get(item.topic, 0) + 1
        except BagDamaged:
            pass  # the topics seen before the damage are what the file can offer
        return {t: TopicInfo(t, info.msgtype, counts.get(t, 0)) for t, info in seen.items()}

    def _summary_topics(self, mm) -> dict[str, TopicInfo] | None:
        size = len(mm)
        if size < 8 + 37 or mm[size - 8:] != _MCAP_MAGIC or mm[size - 37] != _OP_FOOTER:
            return None
        try:
            footer = _Buf(mm, size - 37 + 9, size - 8)
            summary_start = footer.u64()
            if not 8 <= summary_start < size - 37:
                return None
            schemas: dict[int, str] = {}
            channels: dict[int, tuple[str, str]] = {}
            counts: dict[int, int] = {}
            pos = summary_start
            while pos < size - 37:
                op = mm[pos]
                (length,) = struct.unpack_from("<Q", mm, pos + 1)
                body = _Buf(mm, pos + 9, pos + 9 + length)
                if body.end > size - 37:
                    return None
                if op in (_OP_SCHEMA, _OP_CHANNEL):
                    _index_record(op, body, schemas, channels)
                elif op == _OP_STATISTICS:
                    body.take(8 + 2 + 4 * 4 + 8 + 8)
                    n = body.u32() // 10
                    for _ in range(n):
                        cid = body.u16()
                        counts[cid] = body.u64()
                pos = body.end
        except (_Cut, struct.error):
            return None
        if not channels:
            return None
        out: dict[str, TopicInfo] = {}
        for cid, (topic, msgtype) in channels.items():
            prev = out.get(topic)
            count = counts.get(cid) if cid in counts else None
            if prev is not None and prev.count is not None and count is not None:
                count += prev.count
            out[topic] = TopicInfo(topic, msgtype, count)
        return out

    def messages(self, topics: set[str]) -> Iterator[RawMessage]:
        for kind, item in self._scan(want=topics):
            if kind == "message":
                yield item

    def _scan(self, want: set[str] | None) -> Iterator[tuple[str, object]]:
        """Yield ("channel", (topic, msgtype)) and ("message", RawMessage) in file order."""
        f, mm = self._map()
        schemas: dict[int, str] = {}
        channels: dict[int, tuple[str, str]] = {}
        size = len(mm)
        try:
            pos = 8
            while pos < size:
                if size - pos < 9:
                    raise BagDamaged(self.path, pos, "the file ends inside a record header (recording cut short?)")
                op = mm[pos]
                (length,) = struct.unpack_from("<Q", mm, pos + 1)
                body_start, body_end = pos + 9, pos + 9 + length
                if op in (_OP_DATA_END, _OP_FOOTER):
                    return  # the data section ended cleanly
                if body_end > size:
                    if op == _OP_CHUNK:
                        # A chunk being written when the recorder stopped: its complete messages count.
                        yield from self._chunk(mm, pos, body_start, size, schemas, channels, want, partial=True)
                    raise BagDamaged(self.path, pos, f"a record of {length} bytes runs past the end of the file "
                                                     f"({size} bytes; recording cut short?)")
                if op == _OP_CHUNK:
                    yield from self._chunk(mm, pos, body_start, body_end, schemas, channels, want, partial=False)
                else:
                    yield from self._record(mm, op, pos, body_start, body_end, schemas, channels, want)
                pos = body_end
            raise BagDamaged(self.path, size, "the file ends without the MCAP data-end or footer record "
                                              "(recording cut short?)")
        except _Cut as cut:
            raise BagDamaged(self.path, cut.offset, f"unreadable record ({cut.reason})") from None
        finally:
            mm.close()
            f.close()

    def _record(self, data, op: int, pos: int, start: int, end: int, schemas: dict[int, str],
                channels: dict[int, tuple[str, str]], want: set[str] | None) -> Iterator[tuple[str, object]]:
        body = _Buf(data, start, end)
        if op in (_OP_SCHEMA, _OP_CHANNEL):
            added = _index_record(op, body, schemas, channels)
            if added is not None:
                yield "channel", added
        elif op == _OP_MESSAGE:
            cid = body.u16()
            body.take(4)  # sequence
            log_time = body.u64()
            body.take(8)  # publish time
            channel = channels.get(cid)
            if channel is not None and (want is None or channel[0] in want):
                yield "message", RawMessage(channel[0], channel[1], log_time, body.take(end - body.pos))

    def _chunk(self, mm, pos: int, start: int, end: int, schemas, channels, want, partial: bool
               ) -> Iterator[tuple[str, object]]:
        head = _Buf(mm, start, end)
        head.take(16)  # message start / end time
        head.take(8)  # uncompressed size: the decoders find it themselves
        crc = head.u32()
        compression = head.string()
        records_len = head.u64()
        records_start = head.pos
        if partial:
            if compression != "":
                return  # a compressed stream cut short cannot be decoded
            region, r_start, r_end = mm, records_start, end
        else:
            if records_start + records_len > end:
                raise _Cut(pos, "chunk data runs past its record")
            try:
                region = _decompress(mm[records_start:records_start + records_len], compression)
            except Exception as exc:  # noqa: BLE001 - any decoder failure means this chunk is lost
                self.problems.append(f"{self.path}: skipped the chunk at byte {pos}: cannot decompress ({exc})")
                return
            if crc and zlib.crc32(region) != crc:
                self.problems.append(f"{self.path}: skipped the chunk at byte {pos}: CRC mismatch (corrupt data)")
                return
            r_start, r_end = 0, len(region)
        p = r_start
        while p < r_end:
            if r_end - p < 9:
                if partial:
                    return
                raise _Cut(pos, "chunk ends inside a record header")
            op = region[p]
            (length,) = struct.unpack_from("<Q", region, p + 1)
            if p + 9 + length > r_end:
                if partial:
                    return
                raise _Cut(pos, f"a record inside the chunk claims {length} bytes, past the chunk's end")
            yield from self._record(region, op, p, p + 9, p + 9 + length, schemas, channels, want)
            p += 9 + length


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
