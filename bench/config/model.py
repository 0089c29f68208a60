"""The validated bench config: frozen dataclasses built by :mod:`bench.config.load`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path

from bench.errors import ConfigError
from pricing import (
    STRATEGIES,
    AreaPlan,
    AuditPolicy,
    Battery,
    BiddingStrategy,
    Charges,
    GridTariff,
    StorageModel,
)


@dataclass
class Faults:
    """Faults injected into one emulated meter's output. Rates are per frame."""

    noise_fraction: float = 0.0
    drift_per_h: float = 0.0
    garbage_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    wrong_firmware: bool = False


FAULT_FIELDS = tuple(f.name for f in fields(Faults))


@dataclass(frozen=True)
class GenericConfig:
    """How to read a plain StandardFirmata board with analog sensors.

    The host estimates RMS from Firmata's analog samples (at most ~1 kHz shared by all
    channels, aliased against 50 Hz): good for DC or slowly varying sensor outputs and
    rough AC estimates only; energy is integrated on the host and lost while the board
    is disconnected.
    """

    voltage_pin: int = 0
    current_pin: int = 1
    v_per_count: float = 0.635
    a_per_count: float = 0.048828
    v_offset_counts: float = 512.0
    i_offset_counts: float = 512.0
    power_factor: float = 1.0
    direction: str = "import"
    relay_pin: int | None = None
    sampling_ms: int = 19
    window_s: float = 1.0


@dataclass(frozen=True)
class ModbusConfig:
    """Where a Modbus meter (PZEM-004T, SDM120, SDM630) answers on its line."""

    address: int = 1
    bus: str = "modbus"
    transport: str = "rtu"
    baud: int = 9600


@dataclass(frozen=True)
class MqttConfig:
    """The ``[mqtt]`` table: the broker the ``mqtt`` meters publish to."""

    url: str = ""
    topic_prefix: str = "gridbench"
    username: str = ""
    password_file: Path | None = None
    ca_file: Path | None = None
    keepalive_s: int = 5
    emulate: bool = True


@dataclass(frozen=True)
class MeterConfig:
    """One ``[[meters]]`` entry; ``kind`` is firmata, generic, emulated, simavr or fake."""

    meter_id: str
    kind: str = "emulated"
    port: str | None = None
    key: bytes = bytes(32)
    relay_key_file: Path | None = None
    profile: str | None = None
    power_w: float = 0.0
    faults: Faults = field(default_factory=Faults)
    generic: GenericConfig | None = None
    modbus: ModbusConfig | None = None
    allow_default_key: bool = False
    accuracy_fraction: float = 0.005
    """The meter's declared energy accuracy (0.005: class 0.5)."""

    @property
    def emulated(self) -> bool:
        """True when the bench starts this meter in the Python emulator."""
        return self.kind == "emulated"


@dataclass(frozen=True)
class SiteConfig:
    """The ``[site]`` table: where PV and calendar loads are computed, and the weather."""

    latitude_deg: float = 25.26
    longitude_deg: float = 82.99
    altitude_m: float = 81.0
    timezone: str = "Asia/Kolkata"
    start_date: dt.date = dt.date(2026, 5, 11)
    step_s: float = 300.0
    cloud_cover: float = 0.1
    cloud_timescale_s: float = 3600.0
    cloud_seed: int = 0
    temp_air_mean_c: float = 32.0
    temp_air_swing_c: float = 6.0
    wind_speed_m_s: float = 1.0
    albedo: float = 0.2

    def date_of(self, day: int) -> dt.date:
        """The calendar date of simulated day ``day`` (0: the clock's first midnight)."""
        return self.start_date + dt.timedelta(days=day)


@dataclass(frozen=True)
class PvArrayConfig:
    """One ``[[arrays]]`` entry: a rooftop PV array feeding an emulated meter."""

    meter_id: str
    kwp: float
    tilt_deg: float = 20.0
    azimuth_deg: float = 180.0
    inverter_kw: float | None = None
    gamma_pdc_per_c: float = -0.0037
    losses_fraction: float = 0.14
    inverter_efficiency: float = 0.96

    @property
    def inverter_ac_w(self) -> float:
        """The inverter's AC limit in W (PVWatts' DC/AC ratio 1.2 when not given)."""
        kw = self.kwp / 1.2 if self.inverter_kw is None else self.inverter_kw
        return kw * 1000.0


@dataclass(frozen=True)
class LoadConfig:
    """One ``[[loads]]`` entry: ``units`` loads of one kind on an emulated meter."""

    meter_id: str
    kind: str
    units: float = 1.0
    peak_w: float | None = None


@dataclass(frozen=True)
class CalendarPeriod:
    """One ``[[calendar]]`` entry: days ``first``..``last`` (inclusive) are ``kind``."""

    first: dt.date
    last: dt.date
    kind: str = "vacation"


@dataclass(frozen=True)
class BenchConfig:
    """The meters and link settings of a bench."""

    meters: tuple[MeterConfig, ...]
    baud: int = 57600
    reset_wait_s: float = 2.0
    reading_interval_s: float = 0.1
    backend: str = "native"
    source: Path | None = None
    seed: int = 0
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    online_timeout_s: float = 5.0
    site: SiteConfig = field(default_factory=SiteConfig)
    arrays: tuple[PvArrayConfig, ...] = ()
    loads: tuple[LoadConfig, ...] = ()
    calendar: tuple[CalendarPeriod, ...] = ()

    def day_kind(self, date: dt.date) -> str:
        """``term``, ``vacation`` or ``holiday``: the calendar period holding ``date``."""
        for period in self.calendar:
            if period.first <= date <= period.last:
                return period.kind
        return "term"

    def meter(self, meter_id: str) -> MeterConfig:
        """The entry for ``meter_id``."""
        for m in self.meters:
            if m.meter_id == meter_id:
                return m
        raise ConfigError(f"no meter {meter_id!r} in the bench config; add a [[meters]] entry")


class Role(Enum):
    """What a participant does in the market."""

    PROSUMER = "prosumer"
    CONSUMER = "consumer"
    RESPONSIVE = "responsive"


@dataclass(frozen=True)
class FlexibleLoad:
    """A load that must draw ``energy_wh`` within intervals ``first``..``last`` (1-based,
    inclusive) at most ``power_w``; the bench schedules it in the cheapest intervals."""

    energy_wh: float
    power_w: float
    first: int
    last: int


@dataclass(frozen=True)
class AgentSpec:
    """Configuration of one agent (from the bench config's ``[[participants]]``)."""

    participant: str
    role: Role
    offer_price_wei_per_wh: int = 80
    bid_price_wei_per_wh: int = 300
    elasticity: float = 0.0
    reference_price_wei_per_wh: int = 200
    strategy: str = "fixed"
    tariff_position: float = 0.5
    signal_offset_wei_per_wh: float = 0.0
    zip_margin: float = 0.0
    flexible: FlexibleLoad | None = None

    def bidding(self, side_is_bid: bool) -> BiddingStrategy:
        """A fresh strategy object for one side (``pricing.STRATEGIES[strategy]``)."""
        cls = STRATEGIES[self.strategy]
        if self.strategy == "fixed":
            return cls(self.bid_price_wei_per_wh if side_is_bid else self.offer_price_wei_per_wh)
        if self.strategy == "tariff":
            return cls(self.tariff_position)
        if self.strategy == "signal":
            return cls(self.signal_offset_wei_per_wh)
        margin = min(self.zip_margin, 0.0) if side_is_bid else max(self.zip_margin, 0.0)
        return cls(margin)

    def __post_init__(self) -> None:
        if self.offer_price_wei_per_wh < 0 or self.bid_price_wei_per_wh < 0:
            raise ConfigError(
                f"participant {self.participant!r}: limit prices must be ≥ 0 wei/Wh; "
                "fix offer_price_wei_per_wh / bid_price_wei_per_wh in the bench config"
            )
        if self.elasticity < 0:
            raise ConfigError(
                f"participant {self.participant!r}: elasticity must be ≥ 0 "
                f"(got {self.elasticity}); 0 means demand ignores the price"
            )


@dataclass(frozen=True)
class Participant:
    """A market participant, the meter that measures it and its wallet's key file."""

    agent: AgentSpec
    meter_id: str
    key_file: Path | None = None
    area: str = "campus"


@dataclass(frozen=True)
class SessionPlan:
    """A planned supply session: ``consumer`` connects to the supply point ``meter_id``
    (owned by ``owner``, paid at ``tariff_wei_per_wh``) from ``open_interval`` to the end
    of ``close_interval``, with ``cap_wei`` escrowed."""

    consumer: str
    meter_id: str
    owner: str
    tariff_wei_per_wh: int
    cap_wei: int
    max_price_wei_per_wh: int
    open_interval: int
    close_interval: int


@dataclass(frozen=True)
class MarketConfig:
    """Clearing mechanism and the non-market price components (wei/Wh)."""

    mechanism: str = "pay_as_clear"
    production_cost_wei_per_wh: int = 60
    network_charge_wei_per_wh: int = 20
    tax_rate: float = 0.10
    storage_capacity_wh: float = 20_000.0
    storage_power_w: float = 5_000.0
    import_slope_wei_per_wh_per_w: float = 0.05
    loss_fraction: float = 0.02

    @property
    def charges(self) -> Charges:
        """The fixed price components (validated when the config was read)."""
        return Charges(
            production_cost_wei_per_wh=float(self.production_cost_wei_per_wh),
            network_wei_per_wh=float(self.network_charge_wei_per_wh),
            tax_rate=self.tax_rate,
        )

    @property
    def storage_model(self) -> StorageModel:
        """The shared storage's model (validated when the config was read)."""
        return StorageModel(
            capacity_wh=self.storage_capacity_wh,
            power_limit_w=self.storage_power_w,
            import_slope_wei_per_wh_per_w=self.import_slope_wei_per_wh_per_w,
        )


@dataclass(frozen=True)
class GridConfig:
    """The ``[grid]`` table: the city grid as a counterparty at the feeder."""

    participant: str = "grid"
    import_schedule: tuple[tuple[float, int], ...] = ((0.0, 200),)
    feed_in_wei_per_wh: int = 80
    import_limit_w: float = 100_000.0
    export_limit_w: float = 100_000.0
    emission_factor_g_per_kwh: float = 710.0
    """The grid's CO2 per kWh generated (the KPIs' emissions avoided)."""
    supply_cap_schedule: tuple[tuple[float, int], ...] = ()
    """The substation's supply cap by hour (W); empty: none."""
    serves_every_meter: bool = False
    """No local market (``utility``): the grid's orders are not bounded by the feeder's
    limits (those stay physical: curtailment, shedding), it serves every meter."""

    @property
    def tariff(self) -> GridTariff:
        """The pricing object (validated when the config was read)."""
        unbounded_w = 10_000_000.0  # the largest power a config may give
        return GridTariff(
            self.import_schedule,
            self.feed_in_wei_per_wh,
            unbounded_w if self.serves_every_meter else self.import_limit_w,
            unbounded_w if self.serves_every_meter else self.export_limit_w,
            participant=self.participant,
        )


@dataclass(frozen=True)
class AggregatorConfig:
    """The ``[aggregator]`` table: the aggregator between the lower (campus) and upper
    (city) market areas (:mod:`pricing.areas`)."""

    participant: str = "aggregator"
    fee_bp: int = 0
    lower_area: str = "campus"
    upper_area: str = "city"


@dataclass(frozen=True)
class BatteryConfig:
    """The ``[battery]`` table: the shared store, a meter owned by an aggregator."""

    participant: str
    meter_id: str
    capacity_wh: float = 20_000.0
    power_w: float = 5_000.0
    round_trip_efficiency: float = 0.9
    initial_soc_fraction: float = 0.5
    soc_nodes: int = 101

    @property
    def battery(self) -> Battery:
        """The battery's physics."""
        return Battery(self.capacity_wh, self.power_w, self.round_trip_efficiency)


READING_TIME_UNCERTAINTY_S = 0.005
"""How far a reading's host receipt time may stray from when the meter measured it."""

METER_TIME_KINDS = frozenset({"emulated", "fake", "firmata", "mqtt", "generic"})
"""Meter kinds whose readings are placed on the meter's own clock (emulators and fakes
by their simulated time, boards by their frames' seq on a fitted stream clock, generic
boards at the instant the host integrated them: ``bench.rig.meter_time``), so arrival
jitter never enters their cut at a boundary. Modbus meters (``pzem004t``, ``sdm120``,
``sdm630``) are cut at their reads, ``simavr`` meters at their arrival (the runner's
pace is no steady clock)."""


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything a scenario run needs."""

    source: Path | None
    bench: BenchConfig
    participants: tuple[Participant, ...]
    market: MarketConfig
    market_interval_s: float = 900.0
    intervals: int = 24
    speed: float = 1800.0
    start_hour: float = 9.0
    chain_url: str | None = None
    deposit_wei: int = 100_000_000
    operator_key_file: Path | None = None
    allow_well_known_key: bool = False
    feeder_meter: str | None = None
    unmetered_load_w: float = 0.0
    sessions: tuple[SessionPlan, ...] = ()
    source_text: str = ""
    """The config file's text as read (empty when built from a parsed document)."""
    overrides: tuple[tuple[str, object], ...] = ()
    """Parameter overrides applied on top of the file (``table.key``, value)."""
    grid: GridConfig | None = None
    battery: BatteryConfig | None = None
    demand_response: bool = True
    aggregator: AggregatorConfig | None = None

    @property
    def area_plan(self) -> AreaPlan | None:
        """The two market areas and the aggregator between them (None: one market)."""
        agg = self.aggregator
        if agg is None:
            return None
        upper = frozenset(
            p.agent.participant for p in self.participants if p.area == agg.upper_area
        )
        grid = None if self.grid is None else self.grid.participant
        return AreaPlan(agg.participant, upper, agg.fee_bp, grid)

    @property
    def storage_model(self) -> StorageModel:
        """The storage HJB's model: the battery's capacity, power and SoC grid when there is
        one, else ``[market]``'s shared storage."""
        model = self.market.storage_model
        if self.battery is None:
            return model
        b = self.battery
        return StorageModel(
            capacity_wh=b.capacity_wh,
            power_limit_w=b.power_w,
            import_slope_wei_per_wh_per_w=model.import_slope_wei_per_wh_per_w,
            soc_nodes=b.soc_nodes,
        )

    @property
    def participant_meters(self) -> dict[str, str]:
        """Every market participant and the meter that backs its trades on chain: its
        own; the grid's is the feeder; with a grid, a supply point's owner buys what its
        supply point's meter counted; the aggregator's is the campus-city tie (its own
        name: counters the bench derives)."""
        meters = {p.agent.participant: p.meter_id for p in self.participants}
        if self.grid is not None:
            meters[self.grid.participant] = self.feeder_meter or self.grid.participant
            points = {s.owner: s.meter_id for s in self.sessions}
            for owner in self.supply_owners:
                meters[owner.participant] = points[owner.participant]
        if self.aggregator is not None:
            meters[self.aggregator.participant] = self.aggregator.participant
        return meters

    @property
    def meter_owners(self) -> dict[str, str]:
        """The name each meter's energy is journaled and settled under: a participant's
        meter its participant, a supply point's meter its own id, the feeder the grid's
        participant (its own id without a ``[grid]``)."""
        owners = {p.meter_id: p.agent.participant for p in self.participants}
        owners.update({s.meter_id: s.meter_id for s in self.sessions})
        if self.feeder_meter:
            grid = self.grid
            owners[self.feeder_meter] = self.feeder_meter if grid is None else grid.participant
        return owners

    @property
    def supply_owners(self) -> tuple[AgentSpec, ...]:
        """With a ``[grid]``: each supply point's owner as a market participant, bidding at
        the import tariff for what its meter counted (it resells it to the session
        consumer at its tariff). Without a grid, none: sessions alone bill that energy."""
        if self.grid is None:
            return ()
        owners = dict.fromkeys(s.owner for s in self.sessions)
        return tuple(
            AgentSpec(o, Role.CONSUMER, strategy="tariff", tariff_position=1.0) for o in owners
        )

    @property
    def start_s(self) -> float:
        """Simulated start time in seconds after midnight."""
        return self.start_hour * 3600.0

    @property
    def audit_policy(self) -> AuditPolicy:
        """The audit's policy for this scenario.

        The energy balance's relative tolerance is the meters' declared accuracy (the
        least accurate meter's ``accuracy_fraction``, of the energy injected). Meters of
        the kinds in
        ``METER_TIME_KINDS`` are cut on their own clock; any other meter (Modbus, simavr) is
        cut by the host time its readings arrived, uncertain by about
        ``READING_TIME_UNCERTAINTY_S``, which an accelerated clock multiplies by
        ``speed``: then the tolerance widens by ``speed * uncertainty /
        market_interval_s`` (nothing at real time, 1 % at 1800x and 15 min).
        """
        by_arrival = any(m.kind not in METER_TIME_KINDS for m in self.bench.meters)
        timing = self.speed * READING_TIME_UNCERTAINTY_S / self.market_interval_s * by_arrival
        return AuditPolicy(
            loss_fraction=self.market.loss_fraction,
            tolerance_fraction=max(
                (m.accuracy_fraction for m in self.bench.meters),
                default=AuditPolicy().tolerance_fraction,
            )
            + timing,
        )
