"""The scenario part of a bench config: clock, market, chain and participants.

A bench config is one TOML file. ``[[meters]]`` (read by :mod:`bench.config`) says
which meters exist and whether each is real or emulated; this module reads the
rest::

    [scenario]            # interval_s, intervals, speed, start_hour, feeder_meter,
                          # unmetered_load_w (emulation only: a tap past the meters)
    [market]              # mechanism, cost and charge components, loss_fraction
    [chain]               # url (empty: start Anvil), deposit_wei
    [[participants]]      # name, role, meter, limit prices, elasticity
    [[sessions]]          # consumer, meter (a supply point), owner, tariff, cap, intervals
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.config import BenchConfig, parse_bench_config, read_toml
from bench.errors import ConfigError
from bench.scenario.agents import AgentSpec, Role
from pricing import MECHANISMS


@dataclass(frozen=True)
class Participant:
    """A market participant and the meter that measures it."""

    agent: AgentSpec
    meter_id: str


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


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything a scenario run needs."""

    source: Path | None
    bench: BenchConfig
    participants: tuple[Participant, ...]
    market: MarketConfig
    interval_s: float = 900.0
    intervals: int = 24
    speed: float = 1800.0
    start_hour: float = 9.0
    chain_url: str | None = None
    deposit_wei: int = 100_000_000
    feeder_meter: str | None = None
    unmetered_load_w: float = 0.0
    sessions: tuple[SessionPlan, ...] = ()

    @property
    def start_s(self) -> float:
        """Simulated start time in seconds after midnight."""
        return self.start_hour * 3600.0


def load_scenario(
    path: Path | str,
    *,
    intervals: int | None = None,
    speed: float | None = None,
    chain_url: str | None = None,
) -> ScenarioConfig:
    """Read and validate a bench config; command-line overrides win."""
    path = Path(path)
    data = read_toml(path, "pass --config with an existing TOML file (see fixtures/demo.toml)")
    config = parse_scenario(data, source=path)
    overrides: dict[str, Any] = {}
    if intervals is not None:
        overrides["intervals"] = _positive_int("--intervals", intervals)
    if speed is not None:
        overrides["speed"] = _positive_float("--speed", speed)
    if chain_url:
        overrides["chain_url"] = chain_url
    return replace(config, **overrides) if overrides else config


def parse_scenario(data: dict[str, Any], source: Path | None = None) -> ScenarioConfig:
    """Validate an already-parsed TOML document."""
    bench = parse_bench_config(data, source=source)
    scenario = _table(data, "scenario")
    market = _table(data, "market")
    chain = _table(data, "chain")
    meter_ids = {m.meter_id for m in bench.meters}
    participants = tuple(_participant(p, meter_ids) for p in data.get("participants", []))
    if not participants:
        raise ConfigError(
            "the bench config has no [[participants]]; add one per meter with name, role, meter"
        )
    names = [p.agent.participant for p in participants]
    if len(set(names)) != len(names):
        raise ConfigError(f"participant names must be unique, got {names}; rename the duplicates")
    mechanism = str(market.get("mechanism", "pay_as_clear"))
    if mechanism not in MECHANISMS:
        raise ConfigError(
            f"[market] mechanism {mechanism!r} is unknown; use one of {', '.join(MECHANISMS)}"
        )
    return ScenarioConfig(
        source=source,
        bench=bench,
        participants=participants,
        market=MarketConfig(
            mechanism=mechanism,
            production_cost_wei_per_wh=int(market.get("production_cost_wei_per_wh", 60)),
            network_charge_wei_per_wh=int(market.get("network_charge_wei_per_wh", 20)),
            tax_rate=float(market.get("tax_rate", 0.10)),
            storage_capacity_wh=float(market.get("storage_capacity_wh", 20_000.0)),
            storage_power_w=float(market.get("storage_power_w", 5_000.0)),
            import_slope_wei_per_wh_per_w=float(market.get("import_slope_wei_per_wh_per_w", 0.05)),
            loss_fraction=_fraction("[market] loss_fraction", market.get("loss_fraction", 0.02)),
        ),
        interval_s=_positive_float("[scenario] interval_s", scenario.get("interval_s", 900.0)),
        intervals=_positive_int("[scenario] intervals", scenario.get("intervals", 24)),
        speed=_positive_float("[scenario] speed", scenario.get("speed", 1800.0)),
        start_hour=float(scenario.get("start_hour", 9.0)),
        chain_url=str(chain["url"]) if chain.get("url") else None,
        deposit_wei=_positive_int("[chain] deposit_wei", chain.get("deposit_wei", 100_000_000)),
        feeder_meter=_feeder(scenario, meter_ids, participants),
        unmetered_load_w=float(scenario.get("unmetered_load_w", 0.0)),
        sessions=tuple(_session(s, meter_ids, participants) for s in data.get("sessions", [])),
    )


def _feeder(
    scenario: dict[str, Any], meter_ids: set[str], participants: tuple[Participant, ...]
) -> str | None:
    feeder = scenario.get("feeder_meter")
    if not feeder:
        return None
    feeder = str(feeder)
    if feeder not in meter_ids:
        raise ConfigError(
            f"[scenario] feeder_meter {feeder!r} is not a [[meters]] entry; add it or remove "
            "feeder_meter"
        )
    if feeder in {p.meter_id for p in participants}:
        raise ConfigError(
            f"[scenario] feeder_meter {feeder!r} also measures a participant; the feeder "
            "meter must be its own meter at the grid connection"
        )
    return feeder


def _session(raw: Any, meter_ids: set[str], participants: tuple[Participant, ...]) -> SessionPlan:
    names = {p.agent.participant for p in participants}
    if not isinstance(raw, dict) or not {"consumer", "meter", "owner"} <= raw.keys():
        raise ConfigError(
            f"each [[sessions]] needs consumer, meter and owner (got {raw!r}); "
            "see fixtures/demo.toml"
        )
    consumer, meter, owner = str(raw["consumer"]), str(raw["meter"]), str(raw["owner"])
    if consumer not in names:
        raise ConfigError(f"session consumer {consumer!r} is not a [[participants]] name")
    if meter not in meter_ids or meter in {p.meter_id for p in participants}:
        raise ConfigError(
            f"session meter {meter!r} must be a [[meters]] entry of its own (a supply point), "
            "not a participant's meter"
        )
    if owner in names:
        raise ConfigError(
            f"session owner {owner!r} is a trading participant; a supply point's owner "
            "needs its own name (its wallet is paid by the sessions)"
        )
    plan = SessionPlan(
        consumer=consumer,
        meter_id=meter,
        owner=owner,
        tariff_wei_per_wh=_positive_int(
            "[[sessions]] tariff_wei_per_wh", raw.get("tariff_wei_per_wh", 200)
        ),
        cap_wei=_positive_int("[[sessions]] cap_wei", raw.get("cap_wei", 10_000_000)),
        max_price_wei_per_wh=_positive_int(
            "[[sessions]] max_price_wei_per_wh", raw.get("max_price_wei_per_wh", 400)
        ),
        open_interval=_positive_int("[[sessions]] open_interval", raw.get("open_interval", 1)),
        close_interval=_positive_int("[[sessions]] close_interval", raw.get("close_interval", 2)),
    )
    if plan.close_interval < plan.open_interval:
        raise ConfigError(
            f"session on {meter}: close_interval ({plan.close_interval}) comes before "
            f"open_interval ({plan.open_interval})"
        )
    return plan


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be a fraction in [0, 1) (got {value!r})")
    return float(value)


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table in the bench config")
    return table


def _participant(raw: Any, meter_ids: set[str]) -> Participant:
    if not isinstance(raw, dict) or "name" not in raw or "meter" not in raw:
        raise ConfigError(
            f"each [[participants]] needs name and meter (got {raw!r}); see fixtures/demo.toml"
        )
    name = str(raw["name"])
    meter_id = str(raw["meter"])
    if meter_id not in meter_ids:
        raise ConfigError(
            f"participant {name!r} uses meter {meter_id!r}, which no [[meters]] entry defines; "
            f"known meters: {', '.join(sorted(meter_ids)) or 'none'}"
        )
    try:
        role = Role(raw.get("role", "consumer"))
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise ConfigError(f"participant {name!r}: role must be one of {roles}") from exc
    agent = AgentSpec(
        participant=name,
        role=role,
        offer_price_wei_per_wh=int(raw.get("offer_price_wei_per_wh", 80)),
        bid_price_wei_per_wh=int(raw.get("bid_price_wei_per_wh", 300)),
        elasticity=float(raw.get("elasticity", 0.0)),
        reference_price_wei_per_wh=int(raw.get("reference_price_wei_per_wh", 200)),
    )
    return Participant(agent=agent, meter_id=meter_id)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer (got {value!r})")
    return value


def _positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{name} must be a positive number (got {value!r})")
    return float(value)
