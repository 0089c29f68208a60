"""The bench config: one TOML file, checked against one schema when it is read.

Tables (reference with units, defaults and ranges: ``docs/config.md``)::

    [bench]            # baud, reset_wait_s, reading_interval_s, backend
    [[meters]]         # id, kind, port, key | relay_key_file, profile, power_w,
                       # [meters.faults] (emulated), [meters.generic] (generic boards)
    [scenario]         # market_interval_s, intervals, speed, start_hour, feeder_meter,
                       # unmetered_load_w (emulation only: a tap past the meters),
                       # demand_response
    [market]           # mechanism, cost and charge components, storage, loss_fraction
    [chain]            # url (empty: start Anvil), deposit_wei, operator_key_file,
                       # allow_well_known_key
    [[participants]]   # name, role, meter, limit prices, elasticity, key_file, strategy
                       # and its parameters, flexible load (energy, power, window)
    [[sessions]]       # consumer, meter (a supply point), owner, tariff, cap, intervals
    [grid]             # the city grid as a counterparty: import tariff schedule,
                       # feed-in tariff, import/export limits at the feeder
    [aggregator]       # between the campus and city areas: its name, fee (basis points)
    [battery]          # the shared store: aggregator, meter, capacity, power, efficiency
    [site]             # PV and load site: latitude, longitude, time zone, start date,
                       # cloud process, air temperature (emulated profiles)
    [[arrays]]         # rooftop PV on an emulated meter: kWp, tilt, azimuth, inverter
    [[loads]]          # calendar-aware loads on an emulated meter: kind, units
    [[calendar]]       # term / vacation / holiday periods (inclusive dates)

Modules: ``schema`` (the declarative key/table checker), ``tables`` (this config's
schema), ``model`` (the validated dataclasses), ``load`` (reading and cross-checks),
``keyfiles`` (mode 0600 key files), ``reference`` (docs and resolved output).
"""

from bench.config.load import (
    load_bench_config,
    load_scenario,
    parse_bench_config,
    parse_faults,
    parse_scenario,
    read_toml,
)
from bench.config.model import (
    FAULT_FIELDS,
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
    Participant,
    PvArrayConfig,
    Role,
    ScenarioConfig,
    SessionPlan,
    SiteConfig,
)
from bench.config.overrides import apply_overrides, load_with_overrides, override_key_names
from bench.config.tables import BACKENDS, METER_KINDS, PORT_KINDS

__all__ = [
    "BACKENDS",
    "FAULT_FIELDS",
    "METER_KINDS",
    "PORT_KINDS",
    "AgentSpec",
    "AggregatorConfig",
    "BatteryConfig",
    "BenchConfig",
    "CalendarPeriod",
    "Faults",
    "FlexibleLoad",
    "GenericConfig",
    "GridConfig",
    "LoadConfig",
    "MarketConfig",
    "MeterConfig",
    "Participant",
    "PvArrayConfig",
    "Role",
    "ScenarioConfig",
    "SessionPlan",
    "SiteConfig",
    "apply_overrides",
    "load_bench_config",
    "load_scenario",
    "load_with_overrides",
    "override_key_names",
    "parse_bench_config",
    "parse_faults",
    "parse_scenario",
    "read_toml",
]
