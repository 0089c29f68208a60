"""Read a bench config: check it against the schema, then build the validated objects.

Everything that can be wrong with a config is found here, before anything starts:
unknown tables and keys (with the nearest valid name), types, NaN and infinities,
ranges, cross-references between tables, key files, and the pricing objects the market
builds from ``[market]``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.config import tables
from bench.config.keyfiles import key_file_problem
from bench.config.model import (
    AgentSpec,
    AggregatorConfig,
    BatteryConfig,
    BenchConfig,
    CalendarPeriod,
    Faults,
    FlexibleLoad,
    GenericConfig,
    GridConfig,
    LoadConfig,
    MarketConfig,
    MeterConfig,
    ModbusConfig,
    MqttConfig,
    Participant,
    PvArrayConfig,
    Role,
    ScenarioConfig,
    SessionPlan,
    SiteConfig,
)
from bench.config.schema import Table, check, check_array, check_value, suggest
from bench.errors import ConfigError
from pricing import UTILITY_GRID, PricingInputError


def read_toml(path: Path, if_missing: str) -> dict[str, Any]:
    """The TOML document at ``path``; a missing or malformed file is a ConfigError."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"bench config {path} does not exist; {if_missing}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"bench config {path} is not valid TOML: {exc}; fix the file") from exc


def load_scenario(
    path: Path | str,
    *,
    intervals: int | None = None,
    speed: float | None = None,
    chain_url: str | None = None,
) -> ScenarioConfig:
    """Read and validate a bench config; command-line overrides win and are checked too."""
    path = Path(path)
    data = read_toml(path, "pass --config with an existing TOML file (see fixtures/demo.toml)")
    overrides = {"intervals": intervals, "speed": speed}
    given = {
        name: check_value(tables.SCENARIO, name, value, f"--{name}")
        for name, value in overrides.items()
        if value is not None
    }
    config = parse_scenario(data, source=path)
    if given:
        config = replace(config, **given)
        _check_pricing(config)
    return replace(config, chain_url=chain_url) if chain_url else config


def load_bench_config(path: Path | str) -> BenchConfig:
    """Read a bench config's ``[bench]`` and ``[[meters]]`` (the whole file is checked)."""
    path = Path(path)
    data = read_toml(path, "copy fixtures/bench.example.toml")
    return parse_bench_config(data, source=path)


def parse_bench_config(data: dict[str, Any], source: Path | None = None) -> BenchConfig:
    """Validate an already-parsed document and return its meters part."""
    return _Document(data, source).bench


def parse_scenario(data: dict[str, Any], source: Path | None = None) -> ScenarioConfig:
    """Validate an already-parsed document as a scenario (participants required)."""
    return _Document(data, source).scenario()


def parse_faults(where: str, raw: Any) -> Faults:
    """Faults from a mapping of field names to values, checked like a config's faults."""
    errors: list[str] = []
    values = check(tables.FAULTS, raw, where, errors)
    _raise(errors, None)
    return Faults(**values)


def _raise(errors: list[str], source: Path | None) -> None:
    if not errors:
        return
    if len(errors) == 1:
        raise ConfigError(errors[0])
    where = f"bench config {source}" if source else "the bench config"
    raise ConfigError(f"{where} has {len(errors)} errors:\n  " + "\n  ".join(errors))


class _Document:
    """One parsed TOML document, checked table by table."""

    def __init__(self, data: dict[str, Any], source: Path | None) -> None:
        self.present = set(data)
        self.source = source
        self.base = source.parent if source is not None else Path.cwd()
        errors: list[str] = []
        valid = tables.DOCUMENT.names()
        errors.extend(
            f"unknown table [{name}] in the bench config; {suggest(name, valid, 'tables')}"
            for name in data
            if name not in valid
        )
        self.raw = {
            t.name: self._table(t, data.get(t.name), errors) for t in tables.DOCUMENT.tables
        }
        _raise(errors, source)
        self.bench = self._bench(errors)
        _raise(errors, source)

    def _table(self, table: Table, raw: Any, errors: list[str]) -> Any:
        if table.array:
            label = {"meters": "id", "participants": "name"}.get(table.name, "meter")
            return check_array(table, raw, errors, label)
        return check(table, {} if raw is None else raw, f"[{table.name}]", errors)

    def _path(self, value: str | None, where: str, errors: list[str]) -> Path | None:
        if value is None:
            return None
        path = Path(value).expanduser()
        path = path if path.is_absolute() else self.base / path
        problem = key_file_problem(path)
        if problem:
            errors.append(f"{where}: {problem}")
        return path

    def _bench(self, errors: list[str]) -> BenchConfig:
        raw_meters = self.raw["meters"]
        if not raw_meters:
            errors.append(
                "the bench config has no [[meters]]; add one per meter with id and kind "
                "(see fixtures/bench.example.toml)"
            )
        meters = tuple(self._meter(m, errors) for m in raw_meters)
        ids = [m.meter_id for m in meters]
        if len(set(ids)) != len(ids):
            errors.append(f"meter ids must be unique, got {ids}; rename the duplicates")
        bench = self.raw["bench"]
        emulated = {m.meter_id for m in meters if m.emulated}
        return BenchConfig(
            meters=meters,
            source=self.source,
            site=self._site(errors),
            arrays=tuple(
                PvArrayConfig(meter_id=a.pop("meter"), **a)
                for a in self._on_emulated("arrays", emulated, errors)
            ),
            loads=tuple(
                LoadConfig(meter_id=x.pop("meter"), **x)
                for x in self._on_emulated("loads", emulated, errors)
            ),
            calendar=self._calendar(errors),
            mqtt=self._mqtt(errors),
            **bench,
        )

    def _mqtt(self, errors: list[str]) -> MqttConfig:
        raw = dict(self.raw["mqtt"])
        url = raw["url"]
        if url and not url.startswith(("mqtt://", "mqtts://")):
            errors.append(f"[mqtt] url {url!r}: write mqtt://host:port or mqtts://host:port")
        ca = raw.pop("ca_file")
        ca_path = None
        if ca is not None:
            ca_path = Path(ca).expanduser()
            ca_path = ca_path if ca_path.is_absolute() else self.base / ca_path
        password = self._path(raw.pop("password_file"), "[mqtt] password_file", errors)
        return MqttConfig(ca_file=ca_path, password_file=password, **raw)

    def _on_emulated(
        self, table: str, emulated: set[str], errors: list[str]
    ) -> list[dict[str, Any]]:
        entries = [dict(e) for e in self.raw[table]]
        errors.extend(
            f"[[{table}]] meter {e['meter']!r} is not an emulated [[meters]] entry; only "
            "the emulator follows generated profiles (a real meter measures real power)"
            for e in entries
            if e["meter"] not in emulated
        )
        return entries

    def _site(self, errors: list[str]) -> SiteConfig:
        raw = dict(self.raw["site"])
        start = _date(raw.pop("start_date"), "[site] start_date", errors)
        try:
            ZoneInfo(raw["timezone"])
        except (ValueError, KeyError) as exc:
            errors.append(
                f"[site] timezone {raw['timezone']!r} is not an IANA time zone ({exc}); "
                "write e.g. 'Asia/Kolkata' or 'UTC'"
            )
        return SiteConfig(start_date=start or SiteConfig().start_date, **raw)

    def _calendar(self, errors: list[str]) -> tuple[CalendarPeriod, ...]:
        periods = []
        for i, raw in enumerate(self.raw["calendar"]):
            where = f"[[calendar]] #{i + 1}"
            first = _date(raw["first"], f"{where} first", errors)
            last = _date(raw["last"], f"{where} last", errors)
            if first is None or last is None:
                continue
            if last < first:
                errors.append(f"{where}: last ({last}) comes before first ({first})")
            periods.append(CalendarPeriod(first, last, raw["kind"]))
        ordered = sorted(periods, key=lambda p: p.first)
        errors.extend(
            f"[[calendar]] periods {a.first}..{a.last} and {b.first}..{b.last} overlap; "
            "a day has one kind"
            for a, b in itertools.pairwise(ordered)
            if b.first <= a.last
        )
        return tuple(periods)

    def _meter(self, raw: dict[str, Any], errors: list[str]) -> MeterConfig:
        where = f"meter {raw['id']!r}"
        kind = raw["kind"] or (
            "generic" if "generic" in raw else "firmata" if raw["port"] else "emulated"
        )
        if kind in tables.PORT_KINDS and not raw["port"]:
            errors.append(f"{where}: a {kind} meter needs port (a device path, URL or 'auto')")
        modbus = kind in tables.MODBUS_KINDS
        if kind not in tables.PORT_KINDS and not modbus and raw["port"]:
            errors.append(f"{where}: a {kind} meter has no port; remove port or set kind")
        if kind in tables.PORT_KINDS and (raw["profile"] or raw["power_w"]):
            errors.append(
                f"{where}: a {kind} meter measures real power; remove profile and power_w"
            )
        elif kind not in tables.PROFILE_KINDS and raw["profile"]:
            errors.append(f"{where}: a {kind} meter takes a constant power_w, not a profile")
        if modbus and raw["port"] and (raw["profile"] or raw["power_w"] or "faults" in raw):
            errors.append(
                f"{where}: a Modbus meter on a port measures real power; remove profile, "
                "power_w and [faults] (or the port, to emulate it)"
            )
        if "faults" in raw and kind not in tables.PROFILE_KINDS:
            errors.append(f"{where}: faults only apply to emulated meters; remove [faults]")
        if "modbus" in raw and not modbus:
            errors.append(f"{where}: [meters.modbus] needs kind pzem004t, sdm120 or sdm630")
        if "generic" in raw and kind != "generic":
            errors.append(f"{where}: [meters.generic] needs kind = 'generic'")
        if raw["key"] is not None and raw["relay_key_file"] is not None:
            errors.append(f"{where}: give key or relay_key_file, not both")
        return MeterConfig(
            meter_id=raw["id"],
            kind=kind,
            port=raw["port"] or None,
            key=raw["key"] if isinstance(raw["key"], bytes) else bytes(32),
            relay_key_file=self._path(raw["relay_key_file"], f"{where} relay_key_file", errors),
            profile=raw["profile"] or None,
            power_w=raw["power_w"],
            faults=Faults(**raw.get("faults", {})),
            generic=GenericConfig(**raw.get("generic", {})) if kind == "generic" else None,
            modbus=ModbusConfig(**raw.get("modbus", {})) if modbus else None,
            allow_default_key=raw["allow_default_key"],
            accuracy_fraction=raw["accuracy_fraction"],
        )

    def scenario(self) -> ScenarioConfig:
        errors: list[str] = []
        meter_ids = {m.meter_id for m in self.bench.meters}
        participants = tuple(
            self._participant(p, meter_ids, errors) for p in self.raw["participants"]
        )
        if not participants:
            errors.append(
                "the bench config has no [[participants]]; add one per meter with name, role, meter"
            )
        names = [p.agent.participant for p in participants]
        if len(set(names)) != len(names):
            errors.append(f"participant names must be unique, got {names}; rename the duplicates")
        scenario, chain = self.raw["scenario"], self.raw["chain"]
        feeder = self._feeder(scenario["feeder_meter"], meter_ids, participants, errors)
        sessions = tuple(
            self._session(s, meter_ids, participants, errors) for s in self.raw["sessions"]
        )
        points = {(s.owner, s.meter_id) for s in sessions}
        for owner in sorted({o for o, _ in points}):
            owned = sorted(m for o, m in points if o == owner)
            if len(owned) > 1:  # its purchases are backed by one registered meter
                errors.append(
                    f"session owner {owner!r} owns supply points {owned}; give each supply "
                    "point an owner of its own"
                )
        for meter in sorted({m for _, m in points}):
            owners = sorted(o for o, m in points if m == meter)
            if len(owners) > 1:
                errors.append(f"supply point {meter!r} has owners {owners}; it has one owner")
        config = ScenarioConfig(
            source=self.source,
            bench=self.bench,
            participants=participants,
            market=MarketConfig(**self.raw["market"]),
            market_interval_s=scenario["market_interval_s"],
            intervals=scenario["intervals"],
            speed=scenario["speed"],
            start_hour=scenario["start_hour"],
            chain_url=chain["url"] or None,
            deposit_wei=chain["deposit_wei"],
            operator_key_file=self._path(
                chain["operator_key_file"], "[chain] operator_key_file", errors
            ),
            allow_well_known_key=chain["allow_well_known_key"],
            feeder_meter=feeder,
            unmetered_load_w=scenario["unmetered_load_w"],
            demand_response=scenario["demand_response"],
            sessions=sessions,
            grid=self._grid(participants, feeder, errors),
            battery=self._battery(meter_ids, participants, feeder, errors),
            aggregator=self._aggregator(participants, errors),
        )
        if config.market.mechanism == "utility" and (
            config.grid is None or config.grid.participant != UTILITY_GRID
        ):
            errors.append(
                '[market] mechanism = "utility" (no local market) needs a [grid] named '
                f"{UTILITY_GRID!r} (its participant key) for everyone to buy from and sell to"
            )
        _raise(errors, self.source)
        _check_pricing(config)
        return _tariff_takers(config)

    def _participant(
        self, raw: dict[str, Any], meter_ids: set[str], errors: list[str]
    ) -> Participant:
        name, meter_id = raw["name"], raw["meter"]
        if meter_id not in meter_ids:
            errors.append(
                f"participant {name!r} uses meter {meter_id!r}, which no [[meters]] entry "
                f"defines; known meters: {', '.join(sorted(meter_ids)) or 'none'}"
            )
        agent = AgentSpec(
            participant=name,
            role=Role(raw["role"]),
            offer_price_wei_per_wh=raw["offer_price_wei_per_wh"],
            bid_price_wei_per_wh=raw["bid_price_wei_per_wh"],
            elasticity=raw["elasticity"],
            reference_price_wei_per_wh=raw["reference_price_wei_per_wh"],
            strategy=raw["strategy"],
            tariff_position=raw["tariff_position"],
            signal_offset_wei_per_wh=raw["signal_offset_wei_per_wh"],
            zip_margin=raw["zip_margin"],
            flexible=self._flexible(name, raw, errors),
        )
        key_file = self._path(raw["key_file"], f"participant {name!r} key_file", errors)
        return Participant(agent=agent, meter_id=meter_id, key_file=key_file, area=raw["area"])

    @staticmethod
    def _flexible(name: str, raw: dict[str, Any], errors: list[str]) -> FlexibleLoad | None:
        if not raw["flexible_energy_wh"]:
            return None
        flexible = FlexibleLoad(
            raw["flexible_energy_wh"],
            raw["flexible_power_w"],
            raw["flexible_first"],
            raw["flexible_last"],
        )
        if flexible.last < flexible.first:
            errors.append(
                f"participant {name!r}: flexible_last ({flexible.last}) comes before "
                f"flexible_first ({flexible.first})"
            )
        if flexible.power_w <= 0:
            errors.append(f"participant {name!r}: a flexible load needs flexible_power_w > 0")
        return flexible

    def _grid(
        self, participants: tuple[Participant, ...], feeder: str | None, errors: list[str]
    ) -> GridConfig | None:
        if "grid" not in self.present:
            return None
        grid = GridConfig(**self.raw["grid"])
        if not feeder:
            errors.append(
                "[grid] needs [scenario] feeder_meter: the grid is billed and paid by the "
                "feeder meter at the grid connection"
            )
        if grid.participant in {p.agent.participant for p in participants}:
            errors.append(
                f"[grid] participant {grid.participant!r} is also a [[participants]] name; "
                "give the grid its own name"
            )
        return grid

    def _aggregator(
        self, participants: tuple[Participant, ...], errors: list[str]
    ) -> AggregatorConfig | None:
        if "aggregator" not in self.present:
            return None
        agg = AggregatorConfig(**self.raw["aggregator"])
        if "grid" not in self.present:
            errors.append(
                "[aggregator] needs a [grid]: the grid serves both areas and its feed-in "
                "bid takes what neither area buys; add a [grid] table"
            )
        if agg.lower_area == agg.upper_area:
            errors.append(
                f"[aggregator] lower_area and upper_area are both {agg.lower_area!r}; the "
                "aggregator stands between two areas"
            )
        names = {p.agent.participant for p in participants}
        names |= {m.meter_id for m in self.bench.meters}  # its tie meter is named for it
        if agg.participant in names or agg.participant == self.raw["grid"].get("participant"):
            errors.append(
                f"[aggregator] participant {agg.participant!r} is also a participant's, a "
                "meter's or the grid's name; give the aggregator its own name"
            )
        return agg

    def _battery(
        self,
        meter_ids: set[str],
        participants: tuple[Participant, ...],
        feeder: str | None,
        errors: list[str],
    ) -> BatteryConfig | None:
        if "battery" not in self.present:
            return None
        raw = dict(self.raw["battery"])
        meter = raw.pop("meter")
        if not raw["participant"] or not meter:
            errors.append("[battery] needs participant and meter (the aggregator and its meter)")
            return None
        battery = BatteryConfig(meter_id=meter, **raw)
        owners = {p.agent.participant: p for p in participants}
        owner = owners.get(battery.participant)
        if owner is None:
            errors.append(
                f"[battery] participant {battery.participant!r} is not a [[participants]] name; "
                "add the aggregator that owns the battery"
            )
        elif owner.meter_id != meter:
            errors.append(
                f"[battery] meter {meter!r} is not the meter of {battery.participant!r} "
                f"({owner.meter_id!r}); the aggregator's meter is the battery's"
            )
        if meter not in meter_ids or meter == feeder:
            errors.append(f"[battery] meter {meter!r} must be a [[meters]] entry, not the feeder")
        elif self.bench.meter(meter).kind not in ("emulated", "simavr", "fake"):
            errors.append(
                f"[battery] meter {meter!r} is a {self.bench.meter(meter).kind} meter; the "
                "battery's power follows a setpoint, so it needs load control (emulated, "
                "simavr or fake)"
            )
        return battery

    @staticmethod
    def _feeder(
        feeder: str | None,
        meter_ids: set[str],
        participants: tuple[Participant, ...],
        errors: list[str],
    ) -> str | None:
        if not feeder:
            return None
        if feeder not in meter_ids:
            errors.append(
                f"[scenario] feeder_meter {feeder!r} is not a [[meters]] entry; add it or "
                "remove feeder_meter"
            )
        elif feeder in {p.meter_id for p in participants}:
            errors.append(
                f"[scenario] feeder_meter {feeder!r} also measures a participant; the feeder "
                "meter must be its own meter at the grid connection"
            )
        return feeder

    @staticmethod
    def _session(
        raw: dict[str, Any],
        meter_ids: set[str],
        participants: tuple[Participant, ...],
        errors: list[str],
    ) -> SessionPlan:
        names = {p.agent.participant for p in participants}
        consumer, meter, owner = raw["consumer"], raw["meter"], raw["owner"]
        if consumer not in names:
            errors.append(f"session consumer {consumer!r} is not a [[participants]] name")
        if meter not in meter_ids or meter in {p.meter_id for p in participants}:
            errors.append(
                f"session meter {meter!r} must be a [[meters]] entry of its own (a supply "
                "point), not a participant's meter"
            )
        if owner in names:
            errors.append(
                f"session owner {owner!r} is a trading participant; a supply point's owner "
                "needs its own name (its wallet is paid by the sessions)"
            )
        if raw["close_interval"] < raw["open_interval"]:
            errors.append(
                f"session on {meter}: close_interval ({raw['close_interval']}) comes before "
                f"open_interval ({raw['open_interval']})"
            )
        return SessionPlan(meter_id=meter, **{k: v for k, v in raw.items() if k != "meter"})


def _date(value: str | None, where: str, errors: list[str]) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(f"{where} {value!r} is not an ISO date; write YYYY-MM-DD")
        return None


MIN_REAL_INTERVAL_S = 0.1
"""The least real time an interval may last: the worker trades, signs and settles each
(about 0.1-0.5 s on a 2-core machine); faster, it falls behind at once."""


def _check_pricing(config: ScenarioConfig) -> None:
    """Build every pricing object the run builds, so a bad value fails now."""
    market = config.market
    try:
        market.charges  # noqa: B018 - built to validate
        market.storage_model  # noqa: B018
        config.storage_model  # noqa: B018
    except PricingInputError as exc:
        raise ConfigError(f"[market]: {exc}; fix it in the bench config") from exc
    try:
        if config.grid is not None:
            config.grid.tariff  # noqa: B018
        if config.battery is not None:
            config.battery.battery  # noqa: B018
    except PricingInputError as exc:
        raise ConfigError(f"[grid] or [battery]: {exc}; fix it in the bench config") from exc
    real_s = config.market_interval_s / config.speed
    if real_s < MIN_REAL_INTERVAL_S:
        raise ConfigError(
            f"speed {config.speed:g} ([scenario] speed or --speed) is too fast for "
            f"market_interval_s {config.market_interval_s:g} s: an interval would last "
            f"{real_s * 1000:.3g} ms of real time, and the bench needs at least "
            f"{MIN_REAL_INTERVAL_S * 1000:.0f} ms to trade, sign and settle one; use speed at "
            f"most {config.market_interval_s / MIN_REAL_INTERVAL_S:.0f} or a longer "
            "market_interval_s"
        )


def _tariff_takers(config: ScenarioConfig) -> ScenarioConfig:
    """With no local market (``utility``) every participant signs orders the utility's
    tariffs settle within: offers from the feed-in tariff, bids up to the highest import
    tariff (the contract settles a trade only inside both parties' signed limits), and
    the grid's own orders cover every meter."""
    grid = config.grid
    if config.market.mechanism != "utility" or grid is None:
        return config
    highest = max(price for _, price in grid.import_schedule)
    takers = tuple(
        replace(
            p,
            agent=replace(
                p.agent,
                strategy="fixed",
                offer_price_wei_per_wh=grid.feed_in_wei_per_wh,
                bid_price_wei_per_wh=highest,
            ),
        )
        for p in config.participants
    )
    return replace(
        config,
        participants=takers,
        grid=replace(grid, serves_every_meter=True),
        aggregator=None,  # no local market: nobody to pool the campus's surplus for
    )
