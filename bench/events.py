"""Events the bench emits to its listeners (panel, CLI, journal recorder, pytest plugin).

Every event is a frozen dataclass with units in its field names. The scenario worker
puts them on a :class:`queue.Queue` and hands them to its recorders; listeners drain the
queue on their own thread. Status is typed state (a meter's link, a supply session, a
relay, the worker's own state); each status event also says itself in one line
(``level``, ``message``) for logs and the journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from pricing import AuditReport, EnergyBalance, IntervalPricing, Order

if TYPE_CHECKING:  # the chain client pulls in web3 (seconds to import)
    from bench.chain import Settlement


@dataclass(frozen=True)
class MeteredEnergy:
    """Energy a participant's meter imported and exported during one interval."""

    participant: str
    import_wh: float
    export_wh: float


@dataclass(frozen=True)
class MeterSample:
    """One meter's latest state, as plotted live."""

    meter_id: str
    participant: str
    sim_time_s: float
    power_w: float
    energy_import_wh: float
    energy_export_wh: float
    relay_closed: bool


@dataclass(frozen=True, eq=False)
class IntervalReport:
    """Everything one market interval produced: what the meters measured, what the
    pricing cleared, what the chain settled and what the audit found."""

    interval_id: int
    sim_time_s: float
    metered: tuple[MeteredEnergy, ...]
    feeder_import_wh: float | None
    orders: tuple[Order, ...]
    pricing: IntervalPricing
    settlement: Settlement
    audit: AuditReport

    @property
    def balance(self) -> EnergyBalance:
        """The interval's energy balance."""
        (balance,) = self.audit.balances
        return balance

    @property
    def findings(self) -> tuple[str, ...]:
        """The audit's findings, one line each."""
        return self.audit.messages()


@dataclass(frozen=True)
class RunStarted:
    """The chain and the meters are up; what a recorder keeps about the run."""

    config: str
    mechanism: str
    loss_fraction: float
    tolerance_fraction: float
    chain_url: str
    market_address: str


@dataclass(frozen=True)
class BenchStatus:
    """A progress line (starting the chain, deploying, waiting for meters)."""

    sim_time_s: float
    level: str
    message: str


class LinkState(StrEnum):
    """A meter link's state as its poller saw it."""

    ONLINE = "online"
    OUTAGE = "outage"
    BACK = "back"
    REBOOTED = "rebooted"


@dataclass(frozen=True)
class MeterLink:
    """A meter came online, went silent, came back or rebooted."""

    sim_time_s: float
    meter_id: str
    state: LinkState
    detail: str = ""

    @property
    def online(self) -> bool:
        """True unless the link is out."""
        return self.state is not LinkState.OUTAGE

    @property
    def level(self) -> str:
        return "info" if self.state in (LinkState.ONLINE, LinkState.BACK) else "warning"

    @property
    def message(self) -> str:
        words = {
            LinkState.ONLINE: f"meter {self.meter_id} online ({self.detail})",
            LinkState.OUTAGE: f"meter {self.meter_id} outage: {self.detail}; reconnecting",
            LinkState.BACK: f"meter {self.meter_id} back after {self.detail}",
            LinkState.REBOOTED: f"meter {self.meter_id} rebooted ({self.detail})",
        }
        return words[self.state]


class SessionState(StrEnum):
    """A supply session's steps, as the bench sees them."""

    REQUESTED = "requested"
    """The consumer sent the opening transaction."""
    OPENED = "opened"
    """The chain's SessionOpened event arrived: the supply point is unlocked."""
    BILLED = "billed"
    """The chain's SessionClosed bill arrived: the supply point is locked."""
    CLOSED = "closed"
    """The bench locked the supply point and closed the session with its final counter."""


@dataclass(frozen=True)
class SessionStatus:
    """A supply session moved on."""

    sim_time_s: float
    meter_id: str
    state: SessionState
    consumer: str
    session_id: int | None = None
    detail: str = ""

    @property
    def level(self) -> str:
        return "info"

    @property
    def message(self) -> str:
        sid, m = self.session_id, self.meter_id
        words = {
            SessionState.REQUESTED: f"{self.consumer} opened a supply session on {m}",
            SessionState.OPENED: (
                f"chain: session {sid} opened by {self.consumer} on {m} ({self.detail}): unlocking"
            ),
            SessionState.BILLED: f"chain: session {sid} on {m} billed {self.detail}: locking",
            SessionState.CLOSED: f"session {sid} on {m}: supply locked, closed",
        }
        return words[self.state]


@dataclass(frozen=True)
class RelaySwitched:
    """The outcome of a relay command asked for from the panel."""

    sim_time_s: float
    meter_id: str
    closed: bool
    error: str | None = None

    @property
    def level(self) -> str:
        return "info" if self.error is None else "error"

    @property
    def message(self) -> str:
        if self.error is None:
            word = "closed" if self.closed else "opened"
            return f"meter {self.meter_id}: relay {word} (authenticated)"
        want = "close" if self.closed else "open"
        return f"meter {self.meter_id}: could not {want} the relay: {self.error}"


@dataclass(frozen=True)
class NoLoadControl:
    """A price-responsive participant's meter measures a load the bench cannot drive."""

    sim_time_s: float
    participant: str
    meter_id: str
    kind: str

    @property
    def level(self) -> str:
        return "warning"

    @property
    def message(self) -> str:
        return (
            f"participant {self.participant} is price-responsive, but its meter "
            f"{self.meter_id} ({self.kind}) has no load control: its demand will not follow "
            "the price; use an emulated, simavr or fake meter, or make it a consumer"
        )


@dataclass(frozen=True)
class MeterAttested:
    """How the chain verifies a meter's counters: signed by the meter itself or by the
    bench as its attestor (a meter that cannot sign), with the signer's address."""

    sim_time_s: float
    meter_id: str
    attestation: str  # "meter" | "bench"
    signer: str
    why: str = ""

    @property
    def level(self) -> str:
        return "info" if self.attestation == "meter" or not self.why else "warning"

    @property
    def message(self) -> str:
        how = "meter-signed" if self.attestation == "meter" else "attested by bench"
        why = f": {self.why}" if self.why else ""
        return f"meter {self.meter_id}: {how} (signer {self.signer}){why}"


@dataclass(frozen=True)
class SignedReadingMissing:
    """A meter-signed meter gave no signed reading at an interval's end (none is settled
    for it that interval; its energy counts again with its next signed reading)."""

    sim_time_s: float
    meter_id: str
    reason: str

    @property
    def level(self) -> str:
        return "warning"

    @property
    def message(self) -> str:
        return (
            f"meter {self.meter_id} gave no signed reading this interval ({self.reason}); "
            "its trades may be rejected until its next one: check its link"
        )


class WorkerState(StrEnum):
    """The scenario worker's state."""

    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class WorkerStatus:
    """The worker changed state; ``detail`` says why it failed."""

    sim_time_s: float
    state: WorkerState
    detail: str = ""

    @property
    def level(self) -> str:
        return "error" if self.state is WorkerState.FAILED else "info"

    @property
    def message(self) -> str:
        words = {
            WorkerState.RUNNING: "running",
            WorkerState.PAUSED: "paused after the interval in progress",
            WorkerState.FINISHED: "run finished",
            WorkerState.STOPPED: "stopped by the user",
            WorkerState.FAILED: self.detail,
        }
        return words[self.state]


@dataclass(frozen=True)
class RunSummary:
    """The summary of a whole run, printed by ``gridbench demo --json``."""

    meters: int
    intervals: int
    trades_settled: int
    trades_rejected: int
    energy_traded_wh: int
    value_settled_wei: int
    chain_url: str
    market_address: str
    escrow_conserved: bool
    audit_clean: bool
    journal_path: str | None
    attestation: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per meter id: {"attestation": "meter" | "bench", "signer": address}."""

    def as_dict(self) -> dict[str, object]:
        """The summary as a JSON-ready dict."""
        return dict(self.__dict__)


StatusEvent = (
    BenchStatus
    | MeterLink
    | SessionStatus
    | RelaySwitched
    | NoLoadControl
    | WorkerStatus
    | MeterAttested
    | SignedReadingMissing
)
BenchEvent = MeterSample | IntervalReport | RunStarted | StatusEvent | RunSummary
