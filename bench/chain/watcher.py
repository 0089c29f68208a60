"""A thread that polls the market's events and puts them on a queue.

The bench unlocks a meter's relay when it sees :class:`SessionOpened`, locks it again on
:class:`SessionBill`, and the panel lists :class:`SettledInterval` as they land.
"""

from __future__ import annotations

import queue
import threading

from bench.chain.client import ChainClient
from bench.chain.events import decode_log, topic
from bench.chain.market import Market
from bench.chain.sessions import SessionBill, SessionOpened, session_event
from bench.chain.settlement import SettledInterval
from bench.errors import ChainError

__all__ = ["ChainEvent", "EventWatcher", "SessionOpened"]

ChainEvent = SessionOpened | SessionBill | SettledInterval | ChainError
WATCHED = ("SessionOpened", "SessionClosed", "IntervalSettled")


class EventWatcher:
    """Polls ``eth_getLogs`` every ``poll_s`` and queues the market's events in chain order.

    A polling failure is queued as a :class:`ChainError` and polling goes on.
    """

    def __init__(self, market: Market, *, poll_s: float = 0.2, from_block: int | None = None):
        self.market = market
        self.client = ChainClient(market.client.url)  # its own HTTP session for its thread
        self.poll_s = poll_s
        self.events: queue.Queue[ChainEvent] = queue.Queue()
        start = self.client.w3.eth.block_number + 1 if from_block is None else from_block
        self._next_block = int(start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chain-events", daemon=True)

    def start(self) -> EventWatcher:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def poll(self) -> int:
        """Fetch the events of the blocks mined since the last poll; returns how many."""
        latest = int(self.client.w3.eth.block_number)
        if latest < self._next_block:
            return 0
        wanted = ["0x" + topic(name).hex() for name in WATCHED]
        logs = self.client.w3.eth.get_logs(
            {
                "address": self.market.address,
                "fromBlock": self._next_block,
                "toBlock": latest,
                "topics": [wanted],
            }
        )
        for log in logs:
            event = decode_log(log)
            if event is None:
                continue
            if event.name == "IntervalSettled":
                self.events.put(SettledInterval.of(event))
            else:
                decoded = session_event(event, self.market.accounts)
                if decoded is not None:
                    self.events.put(decoded)
        self._next_block = latest + 1
        return len(logs)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception as exc:  # reported on the queue; polling goes on
                self.events.put(ChainError(f"polling {self.market.client.url} failed: {exc}"))
