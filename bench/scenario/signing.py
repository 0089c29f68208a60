"""Meter-signed readings in a run: which meters sign, their signers, their readings.

At commissioning each meter whose kind has the ``signing`` capability is asked, on its
poller thread, for its signing address and a first signed reading: the market registers
it as meter-signed with that reading as its baseline (the contract credits only the rise
of the meter's absolute counters after it). A meter of a kind whose key derives from
deterministic entropy (simavr: its ADC and timers are simulated exactly) first gets a
fresh key mixed with host entropy (AUTH ``NEW_SIGNING_KEY``), as does any meter whose
address another meter of the run also has. At every interval's end each meter-signed
meter is asked for a new signed reading within a deadline; one that gives none is
reported by the caller, never fatal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol, TypeVar, runtime_checkable

from bench.attestation import SignedCounters
from bench.devices.protocol import Meter
from bench.errors import BenchError, DeviceError
from bench.rig.kinds import Capability
from bench.scenario.fleet import MeterFleet

#: A signature takes up to ~3.2 s on an AVR at 16 MHz; the driver's own deadline is 5 s.
SIGN_DEADLINE_S = 8.0
#: A first key plus a fresh one (two public-key computations and the entropy pool) on an
#: AVR whose simulator shares a loaded machine: measured over 5 s, so bounded at 15 s.
NEW_KEY_TIMEOUT_S = 15.0
#: Pause before asking a meter that failed again (its poller reconnecting meanwhile).
RETRY_PAUSE_S = 2.0
#: Kinds whose first signing key is predictable, so the rig replaces it at commissioning.
DETERMINISTIC_KEY_KINDS = frozenset({"simavr"})
T = TypeVar("T")


@runtime_checkable
class SigningMeter(Protocol):
    """A driver that reads the meter's own signed counters (protocol 1.1)."""

    def signer_address(self, *, refresh: bool = False) -> str: ...

    def signed_reading(self) -> SignedCounters: ...

    def new_signing_key(
        self, host_entropy: bytes | None = None, *, timeout_s: float = ...
    ) -> str: ...


def _signing(meter: Meter) -> SigningMeter:
    if not isinstance(meter, SigningMeter):
        raise DeviceError(
            f"the {type(meter).__name__} driver reads no signed readings although its "
            "kind declares signing; give the kind a driver that does, or drop the capability"
        )
    return meter


def _signer(fresh_key: bool) -> Callable[[Meter], str]:
    def read(meter: Meter) -> str:
        m = _signing(meter)
        return m.new_signing_key(timeout_s=NEW_KEY_TIMEOUT_S) if fresh_key else m.signer_address()

    return read


def _signed_reading(meter: Meter) -> SignedCounters:
    return _signing(meter).signed_reading()


def gather(
    futures: Mapping[str, Future[T]], deadline_s: float
) -> tuple[dict[str, T], dict[str, str]]:
    """(results, why each other one failed) of futures awaited until one common deadline."""
    end = time.monotonic() + deadline_s
    done: dict[str, T] = {}
    failed: dict[str, str] = {}
    for key, fut in futures.items():
        try:
            done[key] = fut.result(timeout=max(0.0, end - time.monotonic()))
        except FutureTimeout:
            failed[key] = f"no answer within {deadline_s:.0f} s"
        except BenchError as exc:
            failed[key] = str(exc)
    return done, failed


class MeterSigners:
    """The run's meter-signed meters: commissioned once, then read at interval ends."""

    def __init__(
        self, fleet: MeterFleet, meter_ids: Iterable[str], deadline_s: float = SIGN_DEADLINE_S
    ) -> None:
        self.fleet = fleet
        self.deadline_s = deadline_s
        self.candidates = tuple(
            m for m in dict.fromkeys(meter_ids) if Capability.SIGNING in fleet.capabilities(m)
        )
        self.signers: dict[str, str] = {}

    def _ask(
        self, meters: Iterable[str], fn_of: Callable[[str], Callable[[Meter], T]], deadline_s: float
    ) -> tuple[dict[str, T], dict[str, str]]:
        """Run ``fn_of(meter)`` on each meter's poller; once more for those that failed
        (a slow signature can make the poller reconnect meanwhile)."""
        done, failed = gather({m: self.fleet.submit(m, fn_of(m)) for m in meters}, deadline_s)
        if failed:
            time.sleep(RETRY_PAUSE_S)
            more, failed = gather({m: self.fleet.submit(m, fn_of(m)) for m in failed}, deadline_s)
            done.update(more)
        return done, failed

    def commission(self) -> tuple[dict[str, tuple[str, SignedCounters]], dict[str, str]]:
        """(meter -> (signer address, first signed reading), meter -> why it cannot sign)."""
        kind = self.fleet.kind
        new_key_s = self.deadline_s + NEW_KEY_TIMEOUT_S
        addresses, failed = self._ask(
            self.candidates, lambda m: _signer(kind(m) in DETERMINISTIC_KEY_KINDS), new_key_s
        )
        shared = [m for m in addresses if list(addresses.values()).count(addresses[m]) > 1]
        if shared:  # the same key on two meters: neither proves which one measured
            fresh, more = self._ask(shared, lambda _: _signer(True), new_key_s)
            addresses.update(fresh)
            failed.update(more)
            for m in list(addresses):
                if list(addresses.values()).count(addresses[m]) > 1:
                    failed[m] = f"its signing address {addresses.pop(m)} is another meter's too"
        firsts, more = self._ask(addresses, lambda _: _signed_reading, self.deadline_s)
        failed.update(more)
        self.signers = {m: addresses[m] for m in firsts}
        return {m: (addresses[m], first) for m, first in firsts.items()}, failed

    def reading(self, meter: str) -> SignedCounters:
        """A new signed reading of one commissioned meter, within the deadline (DeviceError
        when it gives none or its signer is not the registered one)."""
        got, failed = self.readings_of([meter])
        if meter not in got:
            raise DeviceError(
                f"meter {meter} gave no signed reading ({failed.get(meter, 'not commissioned')}); "
                "check its port, then close its session with its next reading"
            )
        return got[meter]

    def readings(self) -> tuple[dict[str, SignedCounters], dict[str, str]]:
        """A new signed reading of every commissioned meter (meter -> why, for those that
        gave none in time or a reading whose signer is not the registered one)."""
        return self.readings_of(self.signers)

    def readings_of(
        self, meters: Iterable[str]
    ) -> tuple[dict[str, SignedCounters], dict[str, str]]:
        """:meth:`readings` of some commissioned meters only."""
        got, failed = gather(
            {m: self.fleet.submit(m, _signed_reading) for m in meters if m in self.signers},
            self.deadline_s,
        )
        for m, reading in list(got.items()):
            if reading.signer_address() != self.signers[m]:
                failed[m] = f"signed by {got.pop(m).signer_address()}, not its registered signer"
        return got, failed
