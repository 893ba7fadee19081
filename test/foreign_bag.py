"""A bag written straight with rosbags, not with our helpers: what "someone else's recording" looks like.

Custom topic names, 16UC1 big-endian frames with padded rows, 0/1 masks, ground truth logged before
its image, sqlite3 storage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from guidewire_model.evaluation.bags import GUIDEWIRE_ARRAY_TYPE, IMAGE_TYPE, typestore

FOREIGN = ("/cam/xray", "/labels/mask", "/labels/wires")


def write_foreign_bag(path: Path, frames, size: int) -> Path:
    """Write ``frames`` (SyntheticFrame, 16-bit, ``size`` px) at ~30 Hz to a new bag at ``path``."""
    ts = typestore()
    T = ts.types
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3)
    writer.open()
    conns = {t: writer.add_connection(t, m, typestore=ts)
             for t, m in zip(FOREIGN, (IMAGE_TYPE, IMAGE_TYPE, GUIDEWIRE_ARRAY_TYPE))}
    for i, f in enumerate(frames):
        stamp = 42_000_000_000 + i * 33_000_000
        time = T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9)
        header = T["std_msgs/msg/Header"](stamp=time, frame_id="c-arm")
        rows = f.image.astype(">u2").view(np.uint8).reshape(size, 2 * size)
        padded = np.concatenate([rows, np.zeros((size, 4), np.uint8)], 1)
        image = T[IMAGE_TYPE](header=header, height=size, width=size, encoding="16UC1", is_bigendian=1,
                              step=2 * size + 4, data=padded.reshape(-1))
        mask = T[IMAGE_TYPE](header=header, height=size, width=size, encoding="mono8", is_bigendian=0,
                             step=size, data=f.mask.astype(np.uint8).reshape(-1))
        P = T["geometry_msgs/msg/Point"]
        wires = T[GUIDEWIRE_ARRAY_TYPE](header=header, image_width=size, image_height=size, wires=[
            T["guidewire_seg/msg/Guidewire"](
                id=w.wire_id, points=[P(x=float(x), y=float(y), z=0.0) for x, y in w.points],
                tip=P(x=float(w.points[-1, 0]), y=float(w.points[-1, 1]), z=0.0),
                tip_direction=T["geometry_msgs/msg/Vector3"](x=1.0, y=0.0, z=0.0),
                length_px=0.0, mean_probability=1.0, frames_tracked=1) for w in f.wires])
        for topic, msg, dt in ((FOREIGN[1], mask, 0), (FOREIGN[2], wires, 0), (FOREIGN[0], image, 2_000_000)):
            writer.write(conns[topic], stamp + dt, ts.serialize_cdr(msg, msg.__msgtype__))
    writer.close()
    return path
