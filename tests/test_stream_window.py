"""The server's count of a stream's window: credits carry totals, so repeated,
late and impossible credits change nothing."""

from __future__ import annotations

from anyzmq._stream_server import StreamWindow


def sent(window: StreamWindow, count: int, size: int = 10) -> None:
    for _ in range(count):
        window.sent(size)


def test_a_credit_counts_totals_once() -> None:
    window = StreamWindow(4, 1000)
    sent(window, 4)
    assert not window.has_room
    window.credit(2, 20)
    assert (window.items_in_flight, window.bytes_in_flight) == (2, 20)
    window.credit(2, 20)  # the same credit again
    window.credit(1, 10)  # an older one, late
    assert (window.items_in_flight, window.bytes_in_flight) == (2, 20)
    window.credit(4, 40)
    assert (window.items_in_flight, window.bytes_in_flight) == (0, 0)
    assert window.has_room


def test_a_credit_for_more_than_was_sent_is_ignored() -> None:
    window = StreamWindow(4, 1000)
    sent(window, 2)
    window.credit(3, 30)
    assert (window.items_in_flight, window.bytes_in_flight) == (2, 20)


def test_the_item_total_wraps_at_two_to_the_32() -> None:
    window = StreamWindow(4, 1 << 40)
    window.sent_items = window.credited_items = 0xFFFFFFFE  # a long stream
    sent(window, 4)
    window.credit(0x00000001, 0)  # 2**32 + 1 items taken: three of the four
    assert window.items_in_flight == 1
    window.credit(0xFFFFFFFF, 0)  # an older credit, from before the wrap
    assert window.items_in_flight == 1
