"""Ring buffer: bounded memory over a long stream, back-pressure for files, drops for live."""

from __future__ import annotations

import threading
import time

import av
import numpy as np
import pytest

from streamfilter.frames import FrameSlot
from streamfilter.ring import FrameRing, MemoryEstimate, decoded_bytes
from streamfilter.stage import END, Aborted, Flow
from streamfilter.window import WindowAssembler


def make_slot(index: int, size: int = 32) -> FrameSlot:
    frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), index % 256, np.uint8), format="rgb24")
    frame.pts = index
    return FrameSlot(index=index, frame=frame)


def test_memory_stays_bounded_over_a_long_stream():
    flow = Flow()
    ring = FrameRing(flow, capacity=10, radius=2)
    frames = 3000
    per_slot = make_slot(0).nbytes() + 32 * 32 * 3  # planes + the RGB copy every slot gets below
    peak_bytes = 0
    delivered: list[int] = []

    def consume() -> None:
        assembler = WindowAssembler(2)
        while (slot := ring.get()) is not END:
            slot.rgb()
            for window, done in assembler.push(slot):
                delivered.append(window.center.index)
                for old in done:
                    ring.release(old)
        for window, done in assembler.finish():
            delivered.append(window.center.index)
            for old in done:
                ring.release(old)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(frames):
        assert ring.admit(make_slot(i), block=True)
        peak_bytes = max(peak_bytes, ring.held_bytes())
    ring.close()
    consumer.join(timeout=30)
    assert delivered == list(range(frames))
    assert ring.peak_held <= ring.capacity
    assert peak_bytes <= ring.capacity * per_slot
    assert ring.held == 0 and ring.dropped == 0


def test_file_sources_wait_for_a_free_slot():
    ring = FrameRing(Flow(), capacity=6, radius=2)
    for i in range(6):
        ring.admit(make_slot(i), block=True)
    admitted = threading.Event()
    producer = threading.Thread(target=lambda: (ring.admit(make_slot(6), block=True), admitted.set()))
    producer.start()
    assert not admitted.wait(0.3)
    first = ring.get()
    ring.release(first)
    assert admitted.wait(5)
    producer.join(5)
    assert ring.dropped == 0


def test_live_sources_drop_the_newest_frame_instead_of_stalling():
    ring = FrameRing(Flow(), capacity=6, radius=2)
    accepted = [ring.admit(make_slot(i), block=False) for i in range(10)]
    assert accepted == [True] * 6 + [False] * 4
    assert ring.dropped == 4
    assert [ring.get().index for _ in range(6)] == list(range(6))


def test_a_blocked_producer_ends_when_the_flow_aborts():
    flow = Flow()
    ring = FrameRing(flow, capacity=6, radius=2)
    for i in range(6):
        ring.admit(make_slot(i), block=True)
    outcome: list[str] = []

    def produce() -> None:
        try:
            ring.admit(make_slot(6), block=True)
        except Aborted:
            outcome.append("aborted")

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.1)
    flow.abort.set()
    producer.join(5)
    assert outcome == ["aborted"]


def test_capacity_must_cover_a_window():
    with pytest.raises(ValueError, match="capacity"):
        FrameRing(Flow(), capacity=5, radius=2)


@pytest.mark.parametrize(("width", "height", "pix_fmt", "size"), [
    (640, 480, "yuv420p", 640 * 480 * 3 // 2),
    (642, 482, "yuv420p", 768 * 482 * 3 // 2),  # rows padded as the H.264 decoder pads them
    (640, 480, "yuv420p10le", 640 * 480 * 3),
    (640, 480, "rgb24", 640 * 480 * 3),
    (640, 480, None, 640 * 480 * 4),
])
def test_decoded_bytes_follow_the_pixel_format(width, height, pix_fmt, size):
    assert decoded_bytes(width, height, pix_fmt) == size


@pytest.mark.parametrize(("budget", "capacity"), [(1000 + 16 * 100, 16), (1000 + 10 * 100 + 99, 10), (1099, 0), (0, 0)])
def test_capacity_within_a_budget(budget, capacity):
    estimate = MemoryEstimate(per_slot=100, fixed=1000)
    assert estimate.capacity_within(budget, wanted=16) == capacity
    if capacity:
        assert estimate.total(capacity) <= budget < estimate.total(capacity + 1) or capacity == 16


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_windows_replicate_edges_and_release_each_slot_once(count):
    assembler = WindowAssembler(2)
    slots = [make_slot(i, size=8) for i in range(count)]
    out = []
    for slot in slots:
        out += assembler.push(slot)
    out += assembler.finish()
    windows = [tuple(s.index for s in window.slots) for window, _ in out]
    last = count - 1
    assert windows == [tuple(min(max(t + k, 0), last) for k in range(-2, 3)) for t in range(count)]
    released = [s.index for _, done in out for s in done]
    assert sorted(released) == list(range(count))
    for position, (window, done) in enumerate(out):
        later = {s.index for w, _ in out[position + 1:] for s in w.slots}
        assert not later & {s.index for s in done}
