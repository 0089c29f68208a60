"""``gridbench`` that SIGKILLs itself at one step of one interval's settlement.

    python killed_bench.py POINT INTERVAL gridbench-args...

POINT is ``before_send`` (the settle intent committed, the transaction not sent),
``after_send`` (sent and mined by Anvil, its receipt not read) or ``before_commit`` (the
receipt read, the interval not journaled) or ``after_commit`` (the interval journaled;
at the run's last interval, the run not yet finished). The process kills itself with SIGKILL there,
as ``kill -9`` would: no handler, no flush, its Anvil left running. ``anvil_lost`` is
``after_send`` with the Anvil SIGKILLed first, its state last saved before interval 1
(at commissioning: saved "when due", never due here), so everything the run's wallets
sent since is lost with it.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from bench.chain import Anvil
from bench.chain.client import Wallet
from bench.chain.settlement import SETTLE_SELECTOR
from bench.scenario.worker import ScenarioWorker
from bench.store.journal import Journal
from gridbench.cli import main


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, interval_id: int) -> None:
    """Patch the step ``point`` of ``interval_id``'s settlement to end the process."""
    if point == "before_send":
        add_intent = Journal.add_settle_intent

        def intent(self: Journal, event: Any) -> None:
            add_intent(self, event)  # committed
            if event.interval_id == interval_id:
                _die()

        Journal.add_settle_intent = intent  # type: ignore[method-assign]
    elif point in ("after_send", "anvil_lost"):
        send = Wallet.send
        nodes: list[Anvil] = []
        if point == "anvil_lost":
            start = Anvil.start

            def started(self: Anvil) -> Anvil:
                nodes.append(self)
                return start(self)

            Anvil.start = started  # type: ignore[method-assign]
            Anvil.supervise = lambda *_args, **_kw: None  # type: ignore[method-assign]
            ScenarioWorker._state_due = lambda *_args, **_kw: False  # type: ignore[method-assign]

        def sent(self: Wallet, to: str | None, data: bytes, **kw: Any) -> str:
            tx_hash = send(self, to, data, **kw)
            if data[:4] == SETTLE_SELECTOR and int.from_bytes(data[4:36], "big") == interval_id:
                for node in nodes:
                    if node.pid is not None:
                        os.kill(node.pid, signal.SIGKILL)
                _die()
            return tx_hash

        Wallet.send = sent  # type: ignore[method-assign]
    elif point == "before_commit":
        add_interval = Journal.add_interval

        def interval(self: Journal, report: Any) -> None:
            if report.interval_id == interval_id:
                _die()
            add_interval(self, report)

        Journal.add_interval = interval  # type: ignore[method-assign]
    elif point == "after_commit":
        add_interval = Journal.add_interval

        def journaled(self: Journal, report: Any) -> None:
            add_interval(self, report)  # committed
            if report.interval_id == interval_id:
                _die()

        Journal.add_interval = journaled  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point}")


if __name__ == "__main__":
    install(sys.argv[1], int(sys.argv[2]))
    sys.exit(main(sys.argv[3:]))
