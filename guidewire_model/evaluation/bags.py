"""ROS 2 bags of fluoroscopy frames and guidewire results, without a ROS runtime.

Writing goes through ``rosbags`` (so ``ros2 bag info/play`` read the result); reading goes through
:mod:`guidewire_model.evaluation.bag_storage`, which keeps every frame recorded before a truncation or corrupt
region. Messages are (de)serialised with a rosbags typestore of ROS 2 Kilted (or the newest store
this rosbags knows) plus this package's ``guidewire_seg/msg/Guidewire`` and ``GuidewireArray``,
registered from the text of ``msg/*.msg``.

* :func:`write_synthetic_bag` -- a synthetic sequence as a bag: images, ground-truth masks and
  centrelines (the ``guidewire-synth-bag`` command).
* :func:`list_topics`, :func:`read_frames` -- frames of any bag with ``sensor_msgs/msg/Image``
  frames, with ground truth matched by header stamp.
* :class:`ResultsBagWriter`, :func:`write_results_bag` -- the pipeline's masks and centrelines,
  each with its input image's header.

Topic names are arguments everywhere; nothing assumes the synthetic generator's names.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from struct import error as StructError
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from guidewire_model.evaluation.bag_storage import Bag, BagDamaged, BagError, TopicInfo
from guidewire_model.runtime.wire_messages import MessageClasses, guidewire_array, wires_from_guidewire_array
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.runtime.image_decoding import ImageFormatError, decode_gray, gray_image_fields
from guidewire_model.core.wire import Wire

__all__ = [
    "BagDamaged",
    "BagError",
    "BagFrame",
    "FrameStream",
    "GUIDEWIRE_ARRAY_TYPE",
    "IMAGE_TYPE",
    "ResultsBagWriter",
    "list_topics",
    "main",
    "msg_dir",
    "read_frames",
    "typestore",
    "write_results_bag",
    "write_synthetic_bag",
]

IMAGE_TYPE = "sensor_msgs/msg/Image"
GUIDEWIRE_ARRAY_TYPE = "guidewire_seg/msg/GuidewireArray"
DEFAULT_TOPICS = {
    "image": "/fluoro/image",
    "gt_mask": "/fluoro/ground_truth/mask",
    "gt_centrelines": "/fluoro/ground_truth/centrelines",
    "mask": "/guidewire_seg/mask",
    "centrelines": "/guidewire_seg/centrelines",
}
#: Default first stamp of synthetic bags (2025-06-15 UTC): fixed, so the same arguments give the same bag.
DEFAULT_START_NS = 1_750_000_000 * 1_000_000_000


# ------------------------------------------------------------------------------------ typestore


def msg_dir() -> Path:
    """Folder of this package's ``.msg`` files (``msg/`` beside the config folder, in a checkout or
    installed under ``share/guidewire_seg``)."""
    return config_dir().parent / "msg"


@functools.lru_cache(maxsize=1)
def typestore():
    """rosbags typestore of ROS 2 Kilted (the newest available store otherwise) with our messages.

    Raises
    ------
    FileNotFoundError
        If ``Guidewire.msg`` / ``GuidewireArray.msg`` are not in :func:`msg_dir`.
    """
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = getattr(Stores, "ROS2_KILTED", None) or getattr(Stores, "LATEST")
    ts = get_typestore(store)
    folder = msg_dir()
    types: dict[str, Any] = {}
    for name in ("Guidewire", "GuidewireArray"):
        path = folder / f"{name}.msg"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: message definition missing; install the package's msg/ folder "
                                    "(pip install . puts it in <prefix>/share/guidewire_seg/msg)")
        types.update(get_types_from_msg(path.read_text(), f"guidewire_seg/msg/{name}"))
    ts.register(types)
    return ts


def _header(stamp_ns: int, frame_id: str):
    ts = typestore()
    Time, Header = ts.types["builtin_interfaces/msg/Time"], ts.types["std_msgs/msg/Header"]
    return Header(stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
                  frame_id=str(frame_id))


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _image_msg(stamp_ns: int, frame_id: str, image: np.ndarray):
    fields = gray_image_fields(image)
    fields["data"] = np.frombuffer(fields["data"], dtype=np.uint8)
    fields["is_bigendian"] = int(fields["is_bigendian"])
    return typestore().types[IMAGE_TYPE](header=_header(stamp_ns, frame_id), **fields)


def _guidewire_array_msg(stamp_ns: int, frame_id: str, width: int, height: int, wires: Sequence[Wire]):
    """GuidewireArray of ``wires`` (pipeline results or ground truth) in the typestore's classes."""
    types = typestore().types
    classes = MessageClasses(guidewire_array=types[GUIDEWIRE_ARRAY_TYPE], guidewire=types["guidewire_seg/msg/Guidewire"],
                             point=types["geometry_msgs/msg/Point"], vector3=types["geometry_msgs/msg/Vector3"])
    return guidewire_array(classes, _header(stamp_ns, frame_id), width, height, wires)


class _BagWriter:
    """rosbags Writer with one connection per topic; refuses to overwrite an existing path."""

    def __init__(self, path: str | os.PathLike, storage: str, topics: dict[str, str]) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f"storage must be one of {', '.join(plugins)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path}: already exists; choose a new bag path or delete the old bag")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._writer.open()
        ts = typestore()
        self._conns = {t: self._writer.add_connection(t, msgtype, typestore=ts) for t, msgtype in topics.items()}

    def write(self, topic: str, log_time_ns: int, msg) -> None:
        data = typestore().serialize_cdr(msg, msg.__msgtype__)
        self._writer.write(self._conns[topic], int(log_time_ns), data)

    def close(self) -> None:
        self._writer.close()


# -------------------------------------------------------------------------------------- writing


def write_synthetic_bag(path: str | os.PathLike, cfg, seed: int, n_frames: int, storage: str = "mcap",
                        image_topic: str = DEFAULT_TOPICS["image"],
                        gt_mask_topic: str | None = DEFAULT_TOPICS["gt_mask"],
                        gt_centrelines_topic: str | None = DEFAULT_TOPICS["gt_centrelines"],
                        frame_id: str = "fluoroscope", start_ns: int = DEFAULT_START_NS) -> Path:
    """Write one synthetic sequence as a ROS 2 bag.

    Parameters
    ----------
    path : path-like
        The bag folder to create; must not exist.
    cfg : synthetic.SyntheticConfig
        Frame size, bit depth (mono8 or mono16 images) and frame rate.
    seed, n_frames : int
        As :func:`guidewire_model.synthetic.generate_sequence` (same arguments, same frames).
    storage : {"mcap", "sqlite3"}
    image_topic : str
        ``sensor_msgs/msg/Image`` frames.
    gt_mask_topic : str or None
        ``sensor_msgs/msg/Image`` mono8 ground-truth masks, 0 / 255; ``None`` leaves them out.
    gt_centrelines_topic : str or None
        ``guidewire_seg/msg/GuidewireArray`` ground-truth centrelines; ``None`` leaves them out.
    frame_id : str
        ``header.frame_id`` of every message.
    start_ns : int
        Stamp of the first frame [ns since the epoch]; frame i is ``start_ns + i / cfg.fps``.

    Returns
    -------
    Path
        The bag folder. Every message of frame i carries the same header, and its log time equals
        its ``header.stamp``.

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    ValueError
        For an unknown storage, or a bad seed / frame count.
    """
    from guidewire_model.synthetic import generate_sequence

    frames = generate_sequence(cfg, seed, n_frames)
    topics = {image_topic: IMAGE_TYPE}
    if gt_mask_topic:
        topics[gt_mask_topic] = IMAGE_TYPE
    if gt_centrelines_topic:
        topics[gt_centrelines_topic] = GUIDEWIRE_ARRAY_TYPE
    if len(topics) != 1 + bool(gt_mask_topic) + bool(gt_centrelines_topic):
        raise ValueError(f"topic names must differ, got {sorted(topics)}")
    writer = _BagWriter(path, storage, topics)
    try:
        for i, frame in enumerate(frames):
            stamp = int(start_ns) + round(i * 1e9 / cfg.fps)
            writer.write(image_topic, stamp, _image_msg(stamp, frame_id, frame.image))
            if gt_mask_topic:
                writer.write(gt_mask_topic, stamp, _image_msg(stamp, frame_id, (frame.mask > 0).astype(np.uint8) * 255))
            if gt_centrelines_topic:
                h, w = frame.image.shape
                writer.write(gt_centrelines_topic, stamp, _guidewire_array_msg(stamp, frame_id, w, h, frame.wires))
    finally:
        writer.close()
    return Path(path)


class ResultsBagWriter:
    """Writes the pipeline's outputs as a bag: a mono8 0/255 mask and a GuidewireArray per frame.

    Every message carries its input image's header (stamp and frame id), never the processing
    time, as the node publishes them. Use as a context manager, or call :meth:`close`.

    Parameters
    ----------
    path : path-like
        Bag folder to create; must not exist.
    storage : {"mcap", "sqlite3"}
    mask_topic, centrelines_topic : str
    """

    def __init__(self, path: str | os.PathLike, storage: str = "mcap",
                 mask_topic: str = DEFAULT_TOPICS["mask"],
                 centrelines_topic: str = DEFAULT_TOPICS["centrelines"]) -> None:
        self.path = Path(path)
        self.mask_topic, self.centrelines_topic = mask_topic, centrelines_topic
        self._writer = _BagWriter(path, storage, {mask_topic: IMAGE_TYPE, centrelines_topic: GUIDEWIRE_ARRAY_TYPE})
        self.count = 0

    def write(self, stamp_ns: int, frame_id: str, mask: np.ndarray, wires: Sequence[Any],
              log_time_ns: int | None = None) -> None:
        """Write one frame's results.

        Parameters
        ----------
        stamp_ns, frame_id : the input image's header
        mask : ndarray, (H, W), 0/1 or bool
        wires : sequence of Wire
        log_time_ns : int, optional
            Bag log time; default the stamp (so the results replay in step with the input).
        """
        log_time = int(stamp_ns if log_time_ns is None else log_time_ns)
        h, w = mask.shape
        self._writer.write(self.mask_topic, log_time, _image_msg(stamp_ns, frame_id, (mask > 0).astype(np.uint8) * 255))
        self._writer.write(self.centrelines_topic, log_time, _guidewire_array_msg(stamp_ns, frame_id, w, h, wires))
        self.count += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ResultsBagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_results_bag(path: str | os.PathLike, items: Iterable[Any], storage: str = "mcap",
                      mask_topic: str = DEFAULT_TOPICS["mask"],
                      centrelines_topic: str = DEFAULT_TOPICS["centrelines"]) -> Path:
    """Write results of many frames (items with ``stamp_ns``, ``frame_id``, ``mask``, ``wires`` and
    optionally ``log_time_ns``, e.g. :class:`guidewire_model.evaluation.bag_evaluation.FrameRecord`) as one bag.

    Items whose ``mask`` or ``wires`` is ``None`` (frames without results) are skipped.
    Returns the bag folder. See :class:`ResultsBagWriter`.
    """
    with ResultsBagWriter(path, storage, mask_topic, centrelines_topic) as writer:
        for item in items:
            if item.mask is None or item.wires is None:
                continue
            writer.write(item.stamp_ns, getattr(item, "frame_id", ""), item.mask, item.wires,
                         getattr(item, "log_time_ns", None))
    return Path(path)


# -------------------------------------------------------------------------------------- reading


def list_topics(path: str | os.PathLike) -> dict[str, str]:
    """Topics of a bag and their message types, e.g. ``{"/fluoro/image": "sensor_msgs/msg/Image"}``.

    Raises
    ------
    BagError
        If ``path`` is not a readable ROS 2 bag.
    """
    return {name: info.msgtype for name, info in Bag(path).topics().items()}


@dataclass(frozen=True)
class BagFrame:
    """One image of a bag with the ground truth stamped like it.

    Attributes
    ----------
    stamp_ns : int
        ``header.stamp`` of the image [ns since the epoch]: the acquisition time, the matching key.
    log_time_ns : int
        When the recorder logged the image.
    frame_id : str
        ``header.frame_id`` of the image.
    image : ndarray, (H, W)
        uint8, uint16 or float32, decoded as the node decodes it
        (:func:`guidewire_model.runtime.image_decoding.decode_gray`).
    encoding : str
        The message's encoding.
    gt_mask : ndarray (H, W) uint8 in {0, 1}, or None
        Ground-truth mask (any non-zero pixel is wire); None without a mask for this stamp.
    gt_wires : list of Wire, or None
        Ground-truth centrelines; None without centrelines for this stamp.
    """

    stamp_ns: int
    log_time_ns: int
    frame_id: str
    image: np.ndarray
    encoding: str
    gt_mask: np.ndarray | None = None
    gt_wires: list[Wire] | None = None


def _format_topics(topics: dict[str, TopicInfo]) -> str:
    if not topics:
        return "  (no topics)"
    width = max(len(t) for t in topics)
    return "\n".join(f"  {t:<{width}}  {i.msgtype}" + (f"  ({i.count} messages)" if i.count is not None else "")
                     for t, i in topics.items())


@dataclass
class FrameStream:
    """Iterator over the frames of one bag; see :func:`read_frames`.

    Attributes (final once iteration has finished)
    ----------------------------------------------
    path : Path
    expected_frames : int or None
        Image messages the bag declares (None when it does not say).
    damage : str or None
        Why reading stopped before the end of the bag (truncated or corrupt storage), else None.
    frames_read : int
        Frames yielded so far.
    lost_frames : int or None
        Image messages the bag declares that were not read (damage, skipped chunks, undecodable
        messages); None while iterating or when the bag does not declare its count.
    problems : list of str
        Non-fatal issues: skipped corrupt chunks, undecodable messages, images whose ground truth
        never arrived (at most ``max_problems`` listed; ``problem_count`` counts them all).
    """

    path: Path
    image_topic: str
    gt_mask_topic: str | None
    gt_centrelines_topic: str | None
    expected_frames: int | None
    max_pending: int
    _bag: Bag
    damage: str | None = None
    frames_read: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    max_problems: int = 20
    _started: bool = False
    _finished: bool = False

    def _problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(text)

    def __iter__(self) -> Iterator[BagFrame]:
        if self._started:
            raise RuntimeError("a FrameStream can be iterated once; call read_frames again")
        self._started = True
        ts = typestore()
        # Images waiting for their ground truth, keyed by stamp; each arrival replaces the entry.
        pending: OrderedDict[int, BagFrame] = OrderedDict()
        early_masks: OrderedDict[int, np.ndarray] = OrderedDict()
        early_wires: OrderedDict[int, list[Wire]] = OrderedDict()
        want_mask, want_wires = self.gt_mask_topic is not None, self.gt_centrelines_topic is not None

        def complete(p: BagFrame) -> bool:
            return (not want_mask or p.gt_mask is not None) and (not want_wires or p.gt_wires is not None)

        def emit(p: BagFrame) -> BagFrame:
            if not complete(p):
                missing = [n for n, ok in (("mask", not want_mask or p.gt_mask is not None),
                                           ("centrelines", not want_wires or p.gt_wires is not None)) if not ok]
                self._problem(f"image stamped {p.stamp_ns} has no ground-truth {' or '.join(missing)}")
            self.frames_read += 1
            return p

        def ready() -> Iterator[BagFrame]:
            # In arrival order, so trackers see the sequence as recorded; an incomplete head waits for
            # its ground truth until max_pending later images have arrived.
            while pending:
                head = next(iter(pending.values()))
                if not complete(head) and len(pending) <= self.max_pending:
                    return
                pending.popitem(last=False)
                yield emit(head)

        def remember(store: OrderedDict, stamp: int, value) -> None:
            store[stamp] = value
            while len(store) > 4 * self.max_pending:  # ground truth of images that never came
                store.popitem(last=False)

        topics = {self.image_topic} | {t for t in (self.gt_mask_topic, self.gt_centrelines_topic) if t}
        try:
            for raw in self._bag.messages(topics):
                try:
                    msg = ts.deserialize_cdr(raw.data, raw.msgtype)
                    stamp = _stamp_ns(msg.header)
                    if raw.topic == self.image_topic:
                        image = decode_gray(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
                        if stamp in pending:  # a repeated stamp: let the first one go before its twin
                            yield from self._flush_through(stamp, pending, emit)
                        pending[stamp] = BagFrame(stamp, raw.log_time_ns, str(msg.header.frame_id), image,
                                                  str(msg.encoding), early_masks.pop(stamp, None),
                                                  early_wires.pop(stamp, None))
                    elif raw.topic == self.gt_mask_topic:
                        mask = (decode_gray(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                                            msg.data) > 0).astype(np.uint8)
                        if stamp in pending:
                            pending[stamp] = replace(pending[stamp], gt_mask=mask)
                        else:
                            remember(early_masks, stamp, mask)
                    else:
                        wires = wires_from_guidewire_array(msg)
                        if stamp in pending:
                            pending[stamp] = replace(pending[stamp], gt_wires=wires)
                        else:
                            remember(early_wires, stamp, wires)
                except (ImageFormatError, ValueError, IndexError, KeyError, AttributeError, StructError) as exc:
                    self._problem(f"{raw.topic} message logged at {raw.log_time_ns} ns skipped: "
                                  f"{type(exc).__name__}: {exc}")
                    continue
                yield from ready()
        except BagDamaged as exc:
            self.damage = str(exc)
        while pending:
            yield emit(pending.popitem(last=False)[1])
        self._finished = True

    @property
    def lost_frames(self) -> int | None:
        """Image messages the bag declares that were not read; None while iterating or when unknown."""
        if not self._finished or self.expected_frames is None:
            return None
        return max(self.expected_frames - self.frames_read, 0)

    @staticmethod
    def _flush_through(stamp: int, pending: OrderedDict, emit) -> Iterator[BagFrame]:
        while pending:
            s, p = pending.popitem(last=False)
            yield emit(p)
            if s == stamp:
                return

    @property
    def all_problems(self) -> list[str]:
        """Storage-level problems (skipped chunks, missing metadata) followed by message-level ones."""
        return self._bag.problems + self.problems

    def info(self) -> dict[str, Any]:
        """What a report says about this bag after reading it (JSON-ready).

        Keys: ``path``, ``frames`` (read), ``expected_frames``, ``lost_frames`` (see
        :attr:`lost_frames`), ``damage``, ``problems`` (the first ones) and ``problem_count`` (all).
        """
        storage = self._bag.problems
        return {"path": str(self.path), "frames": self.frames_read, "expected_frames": self.expected_frames,
                "lost_frames": self.lost_frames, "damage": self.damage, "problems": storage + self.problems,
                "problem_count": len(storage) + self.problem_count}


def read_frames(path: str | os.PathLike, image_topic: str, gt_mask_topic: str | None = None,
                gt_centrelines_topic: str | None = None, max_pending: int = 64) -> FrameStream:
    """Frames of a bag, with ground truth matched to each image by header stamp.

    Ground truth may be logged before or after its image; an image waits for it until
    ``max_pending`` later images have arrived (memory stays bounded), then goes out without it
    (recorded in ``problems``). Frames come in recording order.

    Parameters
    ----------
    path : path-like
        rosbag2 folder or ``.mcap`` / ``.db3`` file.
    image_topic : str
        A ``sensor_msgs/msg/Image`` topic (mono8, mono16, 8UC1, 16UC1, 32FC1, rgb8, bgr8, rgba8, bgra8).
    gt_mask_topic : str, optional
        ``sensor_msgs/msg/Image`` masks, any non-zero pixel = wire.
    gt_centrelines_topic : str, optional
        ``guidewire_seg/msg/GuidewireArray`` ground-truth centrelines.
    max_pending : int
        Images held while waiting for their ground truth.

    Returns
    -------
    FrameStream
        Iterate it for :class:`BagFrame`; afterwards ``damage`` says whether the bag was cut short
        or corrupt (the frames before the damage have been yielded) and ``problems`` lists skipped
        messages. Iterating never raises for damaged storage.

    Raises
    ------
    BagError
        Immediately, if the bag cannot be opened, or a topic is missing or of the wrong type (the
        message lists the bag's topics and types).
    """
    bag = Bag(path)
    topics = bag.topics()
    wanted = [("image", image_topic, IMAGE_TYPE, "--image-topic"),
              ("ground-truth mask", gt_mask_topic, IMAGE_TYPE, "--gt-mask-topic"),
              ("ground-truth centreline", gt_centrelines_topic, GUIDEWIRE_ARRAY_TYPE, "--gt-centrelines-topic")]
    for role, topic, msgtype, option in wanted:
        if topic is None:
            continue
        if topic not in topics:
            raise BagError(f"{bag.path}: no {role} topic {topic!r} in this bag. Its topics are:\n"
                           f"{_format_topics(topics)}\nPass the right name ({option}).")
        if topics[topic].msgtype != msgtype:
            raise BagError(f"{bag.path}: {role} topic {topic!r} has type {topics[topic].msgtype}, expected "
                           f"{msgtype}. The bag's topics are:\n{_format_topics(topics)}")
    if len({t for _, t, _, _ in wanted if t}) != sum(1 for _, t, _, _ in wanted if t):
        raise BagError(f"{bag.path}: the image and ground-truth topics must differ")
    if max_pending < 1:
        raise ValueError(f"max_pending must be >= 1, got {max_pending}")
    return FrameStream(bag.path, image_topic, gt_mask_topic, gt_centrelines_topic,
                       topics[image_topic].count, int(max_pending), bag)


# ------------------------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    from guidewire_model.synthetic.config import PRESETS

    p = argparse.ArgumentParser(
        prog="guidewire-synth-bag",
        description="Write a synthetic fluoroscopy sequence as a ROS 2 bag: sensor_msgs/Image frames at the "
                    "fluoroscopy rate with ground-truth masks and guidewire_seg/GuidewireArray centrelines "
                    "(input for guidewire-eval-bag and ros2 bag play).")
    p.add_argument("--out", type=Path, required=True, help="bag folder to create (must not exist)")
    p.add_argument("--frames", type=int, default=45, help="number of frames")
    p.add_argument("--size", type=int, default=512, help="frame side in pixels")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="mono8 or mono16 frames")
    p.add_argument("--fps", type=float, help="frame rate (default: the preset's, 15)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--image-topic", default=DEFAULT_TOPICS["image"])
    p.add_argument("--gt-mask-topic", default=DEFAULT_TOPICS["gt_mask"], help="'' to leave masks out")
    p.add_argument("--gt-centrelines-topic", default=DEFAULT_TOPICS["gt_centrelines"],
                   help="'' to leave centrelines out")
    p.add_argument("--frame-id", default="fluoroscope")
    p.add_argument("--start-ns", type=int, default=DEFAULT_START_NS, help="stamp of the first frame [ns]")
    return p


def main(argv: list[str] | None = None) -> int:
    """``guidewire-synth-bag``: see ``--help``."""
    args = build_parser().parse_args(argv)
    from guidewire_model.synthetic import SyntheticConfig

    overrides: dict[str, Any] = {"size": args.size, "bit_depth": args.bit_depth}
    if args.fps is not None:
        overrides["fps"] = args.fps
    try:
        cfg = SyntheticConfig.preset(args.preset, **overrides)
        path = write_synthetic_bag(args.out, cfg, args.seed, args.frames, args.storage, args.image_topic,
                                   args.gt_mask_topic or None, args.gt_centrelines_topic or None,
                                   args.frame_id, args.start_ns)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"guidewire-synth-bag: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({args.storage}): {args.frames} frames {cfg.size}x{cfg.size} mono{cfg.bit_depth} at "
          f"{cfg.fps:g} fps on {args.image_topic}")
    for name, msgtype in list_topics(path).items():
        print(f"  {name}  {msgtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
