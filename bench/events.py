"""Events the bench emits to its listeners (panel, CLI, journal recorder, pytest plugin).

Every event is a frozen dataclass with units in its field names. The scenario worker
puts them on a :class:`queue.Queue` and hands them to its recorders; listeners drain the
queue on their own thread. Status is typed state (a meter's link, a supply session, a
relay, the worker's own state); each status event also says itself in one line
(``level``, ``message``) for logs and the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from pricing import AuditReport, EnergyBalance, GridFlow, IntervalPricing, Order

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
    grid: GridFlow | None = None
    """The city grid's name and the feeder's import and export (with a ``[grid]``)."""
    soc_wh: float | None = None
    """The shared battery's state of charge at the interval's end."""
    battery_setpoint_w: float | None = None
    """The battery's power (+ charging) set for the next interval by the HJB policy."""
    signal_wei_per_wh: float | None = None
    """The instantaneous price that was published for this interval before it started."""
    step_allowance_wh: float = 0.0
    """Energy-balance tolerance added for the power steps the bench commanded."""
    curtailed_wh: Mapping[str, float] = field(default_factory=dict)
    """PV energy each participant's inverter curtailed at the feeder's export limit."""
    shed_wh: Mapping[str, float] = field(default_factory=dict)
    """City load each participant shed at the substation's supply cap."""

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
    config_text: str = ""
    """The config file's text, as read at the start of the run."""
    config_overrides: tuple[tuple[str, object], ...] = ()
    """Values the command line set over the file (intervals, speed)."""
    config_sha256: str = ""
    """:func:`bench.store.digest.config_sha256` of the two: the verdict's policy is
    recomputed from them, never from the editable fields above."""


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


@dataclass(frozen=True)
class PriceSignal:
    """The instantaneous price for the next interval, published before it starts (a
    tariff signal the price-responsive and flexible loads answer)."""

    sim_time_s: float
    interval_id: int
    price_wei_per_wh: float
    import_tariff_wei_per_wh: float
    feed_in_tariff_wei_per_wh: float

    @property
    def level(self) -> str:
        return "info"

    @property
    def message(self) -> str:
        return (
            f"interval {self.interval_id}: instantaneous price "
            f"{self.price_wei_per_wh / 1000:.4f} LABC/kWh (import tariff "
            f"{self.import_tariff_wei_per_wh / 1000:.3f}, feed-in "
            f"{self.feed_in_tariff_wei_per_wh / 1000:.3f})"
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
    """No finding in the run's own audit, nor a meter's energy left unaccounted; the
    energy balance of an interval with a meter late at its boundary waits for the catch-up
    and is judged in the verdict (the journal replayed)."""
    journal_path: str | None
    attestation: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per meter id: {"attestation": "meter" | "bench", "signer": address}."""

    def as_dict(self) -> dict[str, object]:
        """The summary as a JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class MeterLate:
    """At a boundary a meter had not reported after it (late or out): it was cut at its
    last reading; its energy since then comes as an :class:`EnergyCatchUp`."""

    sim_time_s: float
    meter_id: str
    interval_id: int
    last_reading_sim_s: float | None

    @property
    def level(self) -> str:
        return "warning"

    @property
    def message(self) -> str:
        last = (
            "it has not reported yet"
            if self.last_reading_sim_s is None
            else f"last reading at {self.last_reading_sim_s:.0f} s"
        )
        return (
            f"meter {self.meter_id} late at the end of interval {self.interval_id} ({last}): "
            "its energy since then is held in its counters for a catch-up"
        )


@dataclass(frozen=True)
class EnergyCatchUp:
    """Energy a late or returning meter consumed before boundaries already cut.

    ``interval_id`` is the interval it was consumed in (None: somewhere in an outage
    between ``from_sim_s`` and ``to_sim_s``); ``reported_interval_id`` the last interval
    cut when it was found. It is not traded again: the journal keeps it so the run's
    per-meter totals and the audit account for it.
    """

    sim_time_s: float
    meter_id: str
    participant: str
    interval_id: int | None
    reported_interval_id: int | None
    from_sim_s: float
    to_sim_s: float
    import_wh: float
    export_wh: float

    @property
    def level(self) -> str:
        return "warning"

    @property
    def message(self) -> str:
        where = (
            f"consumed in interval {self.interval_id}"
            if self.interval_id is not None
            else f"consumed during an outage ({self.from_sim_s:.0f}–{self.to_sim_s:.0f} s)"
        )
        return (
            f"meter {self.meter_id}: catch-up of {self.import_wh:.1f} Wh import, "
            f"{self.export_wh:.1f} Wh export {where}, read from its counters"
        )


@dataclass(frozen=True)
class EnergyUnaccounted:
    """An audit finding: energy the bench could not attribute (a meter that never
    reported, an outage over the run's end, energy before a late first reading)."""

    sim_time_s: float
    meter_id: str
    reason: str

    @property
    def level(self) -> str:
        return "audit"

    @property
    def message(self) -> str:
        return f"unaccounted_energy: meter {self.meter_id} {self.reason}"


class SupplyFault(StrEnum):
    """What went wrong at a supply point."""

    RELAY = "relay"
    """A relay command was not confirmed after every retry."""
    UNAUTHORISED = "unauthorised"
    """Energy flowed with no session open and no maintenance mode."""
    BEYOND_CAP = "beyond_cap"
    """Energy flowed past the session's cap before the relay opened."""
    SESSION = "session"
    """A session could not be closed or settled."""


@dataclass(frozen=True)
class SupplyPointFinding:
    """An audit finding at a supply point (never a crash)."""

    sim_time_s: float
    meter_id: str
    fault: SupplyFault
    detail: str
    energy_wh: float = 0.0

    @property
    def level(self) -> str:
        return "audit"

    @property
    def message(self) -> str:
        return f"supply_point_{self.fault.value}: meter {self.meter_id}: {self.detail}"


@dataclass(frozen=True)
class RelayConfirmed:
    """A relay command was confirmed by the meter's READING flags."""

    sim_time_s: float
    meter_id: str
    closed: bool
    attempts: int
    reason: str

    @property
    def level(self) -> str:
        return "info"

    @property
    def message(self) -> str:
        word = "closed (unlocked)" if self.closed else "open (locked)"
        return (
            f"meter {self.meter_id}: relay {word}, confirmed by its reading after "
            f"{self.attempts} attempt(s) ({self.reason})"
        )


@dataclass(frozen=True)
class MaintenanceMode:
    """Manual relay control of a meter was enabled or disabled from the panel."""

    sim_time_s: float
    meter_id: str
    enabled: bool
    energy_wh: float = 0.0

    @property
    def level(self) -> str:
        return "warning" if self.enabled else "info"

    @property
    def message(self) -> str:
        if self.enabled:
            return f"meter {self.meter_id}: maintenance mode on: its relay may be switched by hand"
        return (
            f"meter {self.meter_id}: maintenance mode off ({self.energy_wh:.1f} Wh drawn "
            "meanwhile, accounted as maintenance energy); relay locked"
        )


@dataclass(frozen=True)
class SettleIntent:
    """An interval's settlement transaction, signed and about to be sent: journaled and
    committed before it goes out, so a resumed run knows what may be on chain."""

    sim_time_s: float
    interval_id: int
    tx_hash: str
    nonce: int
    calldata_hex: str
    carry_state_json: str = ""
    """What the interval after this one starts from (``IntervalProcedure.carry_state``,
    JSON): a resumed run restores it."""


@dataclass(frozen=True)
class TransactionSigned:
    """A transaction one of the run's wallets signed, about to be broadcast: journaled
    and committed before it goes out, so a resume can send again what a chain restarted
    from older state lost (``replaces``: the hash of one it carries, signed again)."""

    interval_id: int
    """The interval in progress (0: the run's setup, before interval 1)."""
    sender: str
    nonce: int
    to: str | None
    data_hex: str
    value_wei: int
    gas: int
    tx_hash: str
    raw_hex: str
    replaces: str | None = None


@dataclass(frozen=True)
class TransactionOutcome:
    """A journaled transaction not mined as sent: ``refused`` by the node (never sent)
    or ``reverted``."""

    tx_hash: str
    outcome: str


StatusEvent = (
    BenchStatus
    | MeterLink
    | SessionStatus
    | RelaySwitched
    | NoLoadControl
    | WorkerStatus
    | MeterAttested
    | SignedReadingMissing
    | MeterLate
    | EnergyCatchUp
    | EnergyUnaccounted
    | SupplyPointFinding
    | RelayConfirmed
    | MaintenanceMode
    | PriceSignal
)
BenchEvent = (
    MeterSample
    | IntervalReport
    | RunStarted
    | StatusEvent
    | RunSummary
    | SettleIntent
    | TransactionSigned
    | TransactionOutcome
)
