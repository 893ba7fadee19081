"""The keep-latest slot between the subscription callback and the worker."""

import threading
import time

from guidewire_seg_ros.frame_slot import FrameSlot


def test_new_item_replaces_unconsumed_one_and_reports_a_drop():
    slot = FrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.take(timeout=0) == 2
    assert slot.take(timeout=0) is None
    assert slot.put(3) is False


def test_take_waits_for_a_producer():
    slot = FrameSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    t0 = time.monotonic()
    assert slot.take(timeout=2.0) == "frame"
    assert time.monotonic() - t0 < 1.5


def test_close_wakes_the_consumer():
    slot = FrameSlot()
    threading.Timer(0.05, slot.close).start()
    assert slot.take(timeout=5.0) is None


def test_many_fast_puts_keep_one_item_and_count_every_drop():
    slot = FrameSlot()
    drops = sum(slot.put(i) for i in range(10_000))
    assert drops == 9_999 and slot.take(timeout=0) == 9_999
