"""The event watcher thread queues sessions and settlements as they are mined."""

from __future__ import annotations

import queue

import pytest

from bench.chain import Market, SessionBill, SettledInterval
from bench.chain.watcher import EventWatcher, SessionOpened
from bench.errors import ChainError
from pricing import Trade
from tests.chain.conftest import Meters

pytestmark = pytest.mark.chain


def next_event(watcher: EventWatcher) -> object:
    return watcher.events.get(timeout=10)


def test_watcher_queues_session_and_settlement_events_in_order(
    market: Market, meters: Meters
) -> None:
    market.sessions.set_tariff("bob", "bob", 300)
    watcher = EventWatcher(market, poll_s=0.01).start()
    try:
        (_, start, _) = meters.next(bob=(0, 0))
        sid = market.sessions.open("alice", "bob", 9000, max_price_wei_per_wh=300, reading=start)
        opened = next_event(watcher)
        assert isinstance(opened, SessionOpened)
        assert opened == SessionOpened(sid, "bob", "alice", 9000, 300, opened.expires_at_s)
        (_, end, _) = meters.next(bob=(10, 0))
        bill = market.sessions.close(sid, end)
        assert next_event(watcher) == bill
        assert isinstance(bill, SessionBill) and bill.billed_wei == 3000
        s = market.settle_interval(1, [Trade("alice", "bob", 2, 250)], meters.next())
        settled = next_event(watcher)
        assert isinstance(settled, SettledInterval)
        assert (settled.interval_id, settled.tx_hash) == (1, s.tx_hash)
    finally:
        watcher.stop()
    assert not watcher._thread.is_alive()


def test_watcher_reports_polling_failures_and_goes_on(market: Market, meters: Meters) -> None:
    watcher = EventWatcher(market, poll_s=0.01)
    calls = {"n": 0}
    real_poll = watcher.poll

    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("connection reset")
        return real_poll()

    watcher.poll = flaky  # type: ignore[method-assign]
    watcher.start()
    try:
        failure = next_event(watcher)
        assert isinstance(failure, ChainError) and "connection reset" in str(failure)
        market.settle_interval(1, [Trade("alice", "bob", 2, 250)], meters.next())
        assert isinstance(next_event(watcher), SettledInterval)
    finally:
        watcher.stop()
    with pytest.raises(queue.Empty):
        watcher.events.get_nowait()
