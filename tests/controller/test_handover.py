"""The hand-over between threads and the loop: latest-value holder and command queue."""

from __future__ import annotations

import threading

from controller.feeding import CommandKind, UserCommand
from controller.loop import CommandQueue, LatestValue


def test_latest_value_gives_only_the_newest_value_across_threads():
    holder: LatestValue[int] = LatestValue()
    assert holder.latest() is None
    seen = []

    def produce():
        for i in range(20_000):
            holder.put(i)

    producer = threading.Thread(target=produce)
    producer.start()
    while producer.is_alive():
        value = holder.latest()
        if value is not None:
            seen.append(value)
    producer.join()
    assert holder.latest() == 19_999
    assert seen == sorted(seen)  # never an older value after a newer one


def test_command_queue_hands_over_every_command_once_in_order():
    queue = CommandQueue()
    pushed = [UserCommand(CommandKind.NEXT_BITE, source=f"t{t}") for t in range(4) for _ in range(500)]

    def push(thread: int):
        for _ in range(500):
            queue.push(UserCommand(CommandKind.NEXT_BITE, source=f"t{thread}"))

    threads = [threading.Thread(target=push, args=(t,)) for t in range(4)]
    received = []
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        received.extend(queue.poll(0.0, None))
    for thread in threads:
        thread.join()
    received.extend(queue.poll(0.0, None))
    assert sorted(c.source for c in received) == sorted(c.source for c in pushed)
    assert queue.poll(0.0, None) == []
