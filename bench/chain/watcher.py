"""A thread that polls the market's events and puts them on a queue.

The bench unlocks a meter's relay when it sees :class:`SessionOpened`, locks it again on
:class:`SessionBill`, and the panel lists :class:`SettledInterval` as they land.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from bench.chain.client import ChainClient
from bench.chain.market import (
    TOPIC_SESSION_CLOSED,
    TOPIC_SESSION_OPENED,
    TOPIC_SETTLED,
    Market,
    SessionBill,
    SettledInterval,
    abi_word,
)
from bench.errors import ChainError


@dataclass(frozen=True)
class SessionOpened:
    """A consumer opened a supply session: unlock the meter's relay."""

    session_id: int
    meter: str
    consumer: str
    cap_wei: int
    price_wei_per_wh: int


ChainEvent = SessionOpened | SessionBill | SettledInterval | ChainError


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
        wanted = [
            "0x" + t.hex() for t in (TOPIC_SESSION_OPENED, TOPIC_SESSION_CLOSED, TOPIC_SETTLED)
        ]
        logs = self.client.w3.eth.get_logs(
            {
                "address": self.market.address,
                "fromBlock": self._next_block,
                "toBlock": latest,
                "topics": [wanted],
            }
        )
        for log in logs:
            self.events.put(self._decode(log))
        self._next_block = latest + 1
        return len(logs)

    def _decode(self, log: Any) -> ChainEvent:
        topic = bytes(log["topics"][0])
        if topic == TOPIC_SESSION_CLOSED:
            return self.market.bill_from_log(log)
        if topic == TOPIC_SETTLED:
            return self.market.settled_from_log(log)
        data = bytes(log["data"])
        consumer = Web3.to_checksum_address(bytes(log["topics"][3])[-20:])
        return SessionOpened(
            session_id=int.from_bytes(bytes(log["topics"][1]), "big"),
            meter=bytes(log["topics"][2]).rstrip(b"\0").decode(errors="replace"),
            consumer=self.market.participant_label(consumer),
            cap_wei=abi_word(data, 0),
            price_wei_per_wh=abi_word(data, 1),
        )

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception as exc:  # reported on the queue; polling goes on
                self.events.put(ChainError(f"polling {self.market.client.url} failed: {exc}"))
