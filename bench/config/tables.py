"""The bench config's schema: every table and key, with unit, default and range.

``docs/config.md`` is generated from this module (``gridbench config reference``).
"""

from __future__ import annotations

from bench.config.schema import REQUIRED, Key, Table

BACKENDS = ("native", "pyfirmata2")
METER_KINDS = (
    "firmata",
    "generic",
    "emulated",
    "simavr",
    "fake",
    "pzem004t",
    "sdm120",
    "sdm630",
    "mqtt",
)
"""Meter kinds (opened by :mod:`bench.rig`): a board on a port running the project's
firmware, a StandardFirmata board, the Python emulator, the firmware ELF in simavr, the
in-process fake, the Modbus meters PZEM-004T v3 and Eastron SDM120 / SDM630 (on a port,
or emulated by the bench without one), a meter publishing to an MQTT broker."""
PORT_KINDS = ("firmata", "generic")
"""Kinds on a serial port named by ``port``; the bench starts the others itself."""
MODBUS_KINDS = ("pzem004t", "sdm120", "sdm630")
"""Modbus meters: with ``port`` (a device path or ``tcp://host:port``) a real meter,
without one emulated by the bench."""
PROFILE_KINDS = ("emulated", *MODBUS_KINDS, "mqtt")
"""Kinds whose emulated load may follow a profile."""
ROLES = ("prosumer", "consumer", "responsive")
MECHANISM_NAMES = ("pay_as_clear", "pay_as_bid", "pay_as_offer", "utility")
STRATEGY_NAMES = ("fixed", "tariff", "signal", "zip")
"""Bidding strategies (``pricing.STRATEGIES``) a participant's ``strategy`` names."""
AREAS = ("campus", "city")
"""Market areas: the campus with its rooftop PV, the city around it."""
MAX_WEI_PER_WH = 1e9
MAX_POWER_W = 1e7


def _fraction(name: str, doc: str, *, default: float = 0.0, high_open: bool = False) -> Key:
    return Key(name, "float", default, doc, "fraction", 0.0, 1.0, high_open=high_open)


def _price(name: str, default: int, doc: str, *, low: float = 0) -> Key:
    return Key(name, "int", default, doc, "wei/Wh", low, MAX_WEI_PER_WH)


def _key_file(name: str, doc: str) -> Key:
    return Key(name, "path", None, f"{doc}; relative to the config file, mode 0600")


BENCH = Table(
    "bench",
    "How the host talks to the meters.",
    (
        Key("baud", "int", 57600, "serial baud rate of every meter link", "baud", 300, 2_000_000),
        Key(
            "reset_wait_s",
            "float",
            2.0,
            "wait after opening a real board (an Uno resets on open); emulators need none",
            "s",
            0.0,
            60.0,
        ),
        Key(
            "reading_interval_s",
            "float",
            0.1,
            "each meter sends a reading this often (real time)",
            "s",
            0.01,
            16.383,
        ),
        Key("backend", "str", "native", "Firmata host backend", choices=BACKENDS),
        Key(
            "online_timeout_s",
            "float",
            5.0,
            "the run starts once every meter sent a reading or after this long (real time); "
            "a meter that is later is reported and its energy attributed from its counters",
            "s",
            0.0,
            120.0,
        ),
        Key(
            "seed",
            "int",
            0,
            "seed of the emulated meters' noise and fault draws (a rerun draws the same)",
            "",
            0,
            2**31 - 1,
        ),
    ),
    renamed={"interval_s": "reading_interval_s"},
)

FAULTS = Table(
    "meters.faults",
    "Faults injected into an emulated meter's output (rates per frame).",
    (
        _fraction("noise_fraction", "relative noise on power and voltage"),
        Key("drift_per_h", "float", 0.0, "calibration drift per hour", "fraction/h", -1.0, 1.0),
        _fraction("garbage_rate", "chance of a garbage byte run between frames"),
        _fraction("drop_rate", "chance a frame is dropped"),
        _fraction("truncate_rate", "chance a frame is cut short"),
        Key("wrong_firmware", "bool", False, "answer as another firmware (identity check)"),
    ),
)

GENERIC = Table(
    "meters.generic",
    "A plain StandardFirmata board with analog sensors (host-side estimates).",
    (
        Key("voltage_pin", "int", 0, "analog pin of the voltage sensor", "pin", 0, 15),
        Key("current_pin", "int", 1, "analog pin of the current sensor", "pin", 0, 15),
        Key("v_per_count", "float", 0.635, "voltage per ADC count", "V", 0.0, 1e3, low_open=True),
        Key("a_per_count", "float", 0.048828, "current per ADC count", "A", 0, 1e3, low_open=True),
        Key("v_offset_counts", "float", 512.0, "ADC count at 0 V", "counts", 0.0, 1023.0),
        Key("i_offset_counts", "float", 512.0, "ADC count at 0 A", "counts", 0.0, 1023.0),
        Key("power_factor", "float", 1.0, "assumed power factor", "", 0.0, 1.0, low_open=True),
        Key("direction", "str", "import", "energy direction", choices=("import", "export")),
        Key("relay_pin", "int", None, "digital pin of the relay (none: no relay)", "pin", 0, 19),
        Key("sampling_ms", "int", 19, "Firmata analog sampling period", "ms", 1, 16383),
        Key("window_s", "float", 1.0, "RMS window", "s", 0.0, 3600.0, low_open=True),
    ),
)

MODBUS = Table(
    "meters.modbus",
    "A Modbus meter's place on its line (PZEM-004T, SDM120, SDM630).",
    (
        Key("address", "int", 1, "its Modbus address on the line", "", 1, 247),
        Key(
            "bus",
            "str",
            "modbus",
            "emulated: meters naming the same bus share one emulated RS-485 line",
        ),
        Key(
            "transport",
            "str",
            "rtu",
            "emulated: Modbus-RTU on a pty or Modbus-TCP on loopback",
            choices=("rtu", "tcp"),
        ),
        Key("baud", "int", 9600, "RTU: the line's baud rate (PZEM: 9600)", "baud", 1200, 115_200),
    ),
)

METERS = Table(
    "meters",
    "One entry per meter. kind, when absent, is generic with a [meters.generic] table, "
    "firmata with a port, emulated otherwise.",
    (
        Key("id", "str", REQUIRED, "the meter's id (its IDENTITY on the wire)"),
        Key(
            "kind",
            "str",
            None,
            "what the meter is",
            choices=METER_KINDS,
            renamed_choices={"real": "firmata"},
        ),
        Key(
            "port",
            "str",
            None,
            "firmata and generic: device path, URL or 'auto'; Modbus: device path or "
            "tcp://host:port (absent: emulated)",
        ),
        Key("key", "hex32", None, "HMAC key of the relay commands (default all zero)", "hex"),
        _key_file("relay_key_file", "file holding the relay HMAC key instead of key"),
        Key("profile", "str", None, "emulated: load/PV profile, e.g. 'household+pv*2'"),
        Key(
            "allow_default_key",
            "bool",
            False,
            "firmata: accept a board still on the default (all-zero) relay key (demo benches)",
        ),
        Key(
            "power_w",
            "float",
            0.0,
            "emulated, simavr, fake, emulated Modbus and MQTT: constant power without a "
            "profile (< 0 exports)",
            "W",
            -MAX_POWER_W,
            MAX_POWER_W,
        ),
        Key(
            "accuracy_fraction",
            "float",
            0.005,
            "the meter's declared energy accuracy (class 0.5: 0.005, class 1: 0.01); the "
            "energy balance's tolerance is the least accurate meter's, of the energy injected",
            "",
            0.0,
            0.1,
        ),
    ),
    tables=(FAULTS, GENERIC, MODBUS),
    array=True,
)

SCENARIO = Table(
    "scenario",
    "The simulated clock and the market's timing.",
    (
        Key(
            "market_interval_s",
            "float",
            900.0,
            "one market interval (simulated time)",
            "s",
            1.0,
            86_400.0,
        ),
        Key("intervals", "int", 24, "market intervals to run", "", 1, 100_000),
        Key(
            "speed", "float", 1800.0, "simulated seconds per real second", "", 0, 1e5, low_open=True
        ),
        Key(
            "start_hour",
            "float",
            9.0,
            "simulated time of day at the start",
            "h",
            0,
            24.0,
            high_open=True,
        ),
        Key("feeder_meter", "str", None, "the meter at the grid connection (energy balance)"),
        Key(
            "unmetered_load_w",
            "float",
            0.0,
            "emulation only: a tap past the meters the audit should catch",
            "W",
            0.0,
            MAX_POWER_W,
        ),
        Key(
            "demand_response",
            "bool",
            True,
            "responsive participants and flexible loads answer the published price "
            "(false: the same scenario without response, for comparison)",
        ),
    ),
    renamed={"interval_s": "market_interval_s", "time_scale": "speed"},
)

MARKET = Table(
    "market",
    "Clearing mechanism and the non-market price components.",
    (
        Key(
            "mechanism",
            "str",
            "pay_as_clear",
            "clearing mechanism; utility: no local market, everyone buys from and sells to "
            "the [grid] at its tariffs (the conventional counterfactual, "
            "`gridbench run --mode conventional`)",
            choices=MECHANISM_NAMES,
        ),
        _price("production_cost_wei_per_wh", 60, "production cost floor of the price"),
        _price("network_charge_wei_per_wh", 20, "network charge added to the price"),
        _fraction("tax_rate", "tax on the price", default=0.10, high_open=True),
        Key(
            "storage_capacity_wh",
            "float",
            20_000.0,
            "shared battery's capacity",
            "Wh",
            0,
            1e9,
            low_open=True,
        ),
        Key(
            "storage_power_w",
            "float",
            5_000.0,
            "shared battery's power limit",
            "W",
            0,
            MAX_POWER_W,
            low_open=True,
        ),
        Key(
            "import_slope_wei_per_wh_per_w",
            "float",
            0.05,
            "how fast the city grid's price rises with the microgrid's import",
            "wei/Wh per W",
            0,
            1e3,
            low_open=True,
        ),
        _fraction(
            "loss_fraction",
            "line losses the audit expects, of the energy injected",
            default=0.02,
            high_open=True,
        ),
    ),
)

CHAIN = Table(
    "chain",
    "Where trades settle.",
    (
        Key("url", "str", "", "JSON-RPC node; empty: start Anvil on a free loopback port"),
        Key("deposit_wei", "int", 100_000_000, "prepaid per participant", "wei", 1, 1e18),
        _key_file("operator_key_file", "the bench operator's private key"),
        Key(
            "allow_well_known_key",
            "bool",
            False,
            "accept Anvil's publicly known development keys for operator and wallets",
        ),
    ),
)

PARTICIPANTS = Table(
    "participants",
    "One entry per market participant.",
    (
        Key("name", "str", REQUIRED, "the participant's name"),
        Key("role", "str", "consumer", "what it does in the market", choices=ROLES),
        Key("meter", "str", REQUIRED, "id of the [[meters]] entry that measures it"),
        _price("offer_price_wei_per_wh", 80, "limit price of its offers"),
        _price("bid_price_wei_per_wh", 300, "limit price of its bids"),
        Key("elasticity", "float", 0.0, "responsive: demand's price elasticity", "", 0.0, 10.0),
        _price(
            "reference_price_wei_per_wh", 200, "responsive: price of the unscaled demand", low=1
        ),
        _key_file("key_file", "the participant's wallet private key"),
        Key(
            "strategy",
            "str",
            "fixed",
            "how it sets its limit price each interval (fixed: the limit prices above)",
            choices=STRATEGY_NAMES,
        ),
        _fraction(
            "tariff_position",
            "tariff: position between feed-in (0) and import tariff (1)",
            default=0.5,
        ),
        Key(
            "signal_offset_wei_per_wh",
            "float",
            0.0,
            "signal: buyers bid the price forecast + this, sellers offer it − this",
            "wei/Wh",
            -MAX_WEI_PER_WH,
            MAX_WEI_PER_WH,
        ),
        Key(
            "zip_margin",
            "float",
            0.0,
            "zip: initial profit margin (buyers −1…0, sellers ≥ 0)",
            "",
            -1.0,
            10.0,
        ),
        Key(
            "flexible_energy_wh",
            "float",
            0.0,
            "energy a flexible load (EV charger, water heater) must draw inside its window",
            "Wh",
            0.0,
            1e9,
        ),
        Key(
            "flexible_power_w",
            "float",
            0.0,
            "the flexible load's power limit",
            "W",
            0.0,
            MAX_POWER_W,
        ),
        Key(
            "flexible_first",
            "int",
            1,
            "first interval of the flexible load's window",
            "",
            1,
            100_000,
        ),
        Key(
            "flexible_last", "int", 1, "last interval of the flexible load's window", "", 1, 100_000
        ),
        Key(
            "area",
            "str",
            "campus",
            "the market area it belongs to (KPIs: city demand, shortfall covered)",
            choices=AREAS,
        ),
    ),
    array=True,
)

SESSIONS = Table(
    "sessions",
    "Planned supply sessions on a supply point's meter.",
    (
        Key("consumer", "str", REQUIRED, "participant whose wallet opens the session"),
        Key("meter", "str", REQUIRED, "the supply point's meter (not a participant's)"),
        Key("owner", "str", REQUIRED, "the supply point's owner (its own wallet)"),
        _price("tariff_wei_per_wh", 200, "owner's tariff", low=1),
        Key("cap_wei", "int", 10_000_000, "deposit escrowed while open", "wei", 1, 1e18),
        _price("max_price_wei_per_wh", 400, "highest tariff the consumer accepts", low=1),
        Key("open_interval", "int", 1, "interval that opens the session", "", 1, 100_000),
        Key("close_interval", "int", 2, "interval at whose end it closes", "", 1, 100_000),
    ),
    array=True,
)

GRID = Table(
    "grid",
    "The city grid as a counterparty at the feeder: it sells at the import tariff and buys "
    "exports at the feed-in tariff, up to the feeder limits, in every interval, with its own "
    "wallet. Absent: no grid in the market.",
    (
        Key("participant", "str", "grid", "the grid's name in the market (its wallet)"),
        Key(
            "import_schedule",
            "schedule",
            ((0.0, 200),),
            "time-of-use import tariff: [[start_hour, wei_per_wh], ...] from hour 0, "
            "each holding until the next",
            "h, wei/Wh",
        ),
        _price("feed_in_wei_per_wh", 80, "what the grid pays for exports"),
        Key("import_limit_w", "float", 100_000.0, "most the feeder imports", "W", 0, MAX_POWER_W),
        Key(
            "export_limit_w",
            "float",
            100_000.0,
            "most the feeder exports; emulated [[arrays]] meters curtail PV beyond it (with "
            "mechanism utility: the campus's own net-metering limit)",
            "W",
            0,
            MAX_POWER_W,
        ),
        Key(
            "emission_factor_g_per_kwh",
            "float",
            710.0,
            "the grid's emissions per kWh it generates (India's CEA average ~710 g CO2/kWh); "
            "the KPIs' emissions avoided by the PV",
            "g/kWh",
            0,
            10_000,
        ),
        Key(
            "supply_cap_schedule",
            "schedule",
            (),
            "the city substation's supply cap: [[start_hour, W], ...] from hour 0, each "
            "holding until the next; the city's draw above it (less the campus's surplus, "
            'which feeds the city first in a market) is shed from the area = "city" '
            "participants' emulated meters. Empty: no cap",
            "h, W",
        ),
    ),
)

AGGREGATOR = Table(
    "aggregator",
    "The aggregator between the two market areas: each interval the campus clears first, "
    "the aggregator offers the campus's pooled surplus in the city and buys from the "
    "savers exactly what the city took, passing the city's revenue (less its fee) to each "
    "saver by the energy it delivered (docs/pricing.md, The aggregator). Needs a [grid]. "
    "Absent: one market for everyone. Ignored with mechanism utility (no local market).",
    (
        Key("participant", "str", "aggregator", "the aggregator's name in the market (its wallet)"),
        Key(
            "fee_bp",
            "int",
            0,
            "the aggregator's fee: basis points of its city revenue (rounded down)",
            "bp",
            0,
            9999,
        ),
        Key("lower_area", "str", "campus", "the area whose surplus is pooled", choices=AREAS),
        Key("upper_area", "str", "city", "the area the pool is offered in", choices=AREAS),
    ),
)

BATTERY = Table(
    "battery",
    "The shared store: a meter with emulated battery physics, owned by an aggregator "
    "participant; each interval its setpoint follows the storage HJB's policy. Absent: no "
    "battery (the PDE still prices storage scarcity).",
    (
        Key("participant", "str", "", "required: the aggregator participant that owns it"),
        Key("meter", "str", "", "required: its meter (load control: emulated, simavr, fake)"),
        Key("capacity_wh", "float", 20_000.0, "usable capacity", "Wh", 0, 1e9, low_open=True),
        Key(
            "power_w",
            "float",
            5_000.0,
            "power limit, both ways",
            "W",
            0,
            MAX_POWER_W,
            low_open=True,
        ),
        Key(
            "round_trip_efficiency",
            "float",
            0.9,
            "energy out / energy in over a full cycle",
            "fraction",
            0.0,
            1.0,
            low_open=True,
        ),
        _fraction("initial_soc_fraction", "state of charge at the start", default=0.5),
        Key(
            "soc_nodes",
            "int",
            101,
            "state-of-charge nodes of the HJB grid (fewer: faster re-solve)",
            "",
            11,
            2001,
        ),
    ),
)

MQTT = Table(
    "mqtt",
    "The MQTT broker of the mqtt meters (topics and payloads: docs/mqtt.md).",
    (
        Key(
            "url",
            "str",
            "",
            "broker, mqtt://host:port or mqtts://host:port; empty: start mosquitto on a "
            "free loopback port",
        ),
        Key("topic_prefix", "str", "gridbench", "first level of every topic"),
        Key("username", "str", "", "broker user (empty: anonymous)"),
        _key_file("password_file", "the broker user's password"),
        Key("ca_file", "path", None, "CA certificate of an mqtts:// broker"),
        Key(
            "keepalive_s",
            "int",
            5,
            "MQTT keep-alive: a silent client is declared gone after 1.5x this",
            "s",
            1,
            3600,
        ),
        Key(
            "emulate",
            "bool",
            True,
            "the bench emulates its mqtt meters itself (false: they run elsewhere, e.g. "
            "gridbench emulate run --mqtt)",
        ),
    ),
)

LOAD_KINDS = ("dorm", "lab", "library", "household", "shop", "clinic")
"""Calendar-aware load models (:mod:`bench.profiles.loads`): campus dorms (per resident),
labs and library buildings, city households, shops and a clinic."""
DAY_KINDS = ("term", "vacation", "holiday")
"""What a ``[[calendar]]`` period marks; a day in no period is a term day."""

SITE = Table(
    "site",
    "Where the emulated PV arrays and calendar loads are computed (pvlib clear sky times a "
    "seeded cloud process). Simulated day 0 (the clock's first midnight) is start_date.",
    (
        Key("latitude_deg", "float", 25.26, "site latitude (north > 0)", "°", -90.0, 90.0),
        Key("longitude_deg", "float", 82.99, "site longitude (east > 0)", "°", -180.0, 180.0),
        Key("altitude_m", "float", 81.0, "site altitude above sea level", "m", -500.0, 9000.0),
        Key("timezone", "str", "Asia/Kolkata", "IANA time zone of the simulated clock"),
        Key("start_date", "str", "2026-05-11", "ISO date of simulated day 0"),
        Key("step_s", "float", 300.0, "resolution of the generated profiles", "s", 60.0, 3600.0),
        _fraction("cloud_cover", "mean cloud cover of the seeded cloud process", default=0.1),
        Key(
            "cloud_timescale_s",
            "float",
            3600.0,
            "correlation time of the cloud process",
            "s",
            60.0,
            259_200.0,
        ),
        Key("cloud_seed", "int", 0, "seed of the cloud process", "", 0, 2**31 - 1),
        Key("temp_air_mean_c", "float", 32.0, "daily mean air temperature", "°C", -40.0, 60.0),
        Key(
            "temp_air_swing_c",
            "float",
            6.0,
            "air temperature's daily half-range (peak at 15:00)",
            "°C",
            0.0,
            30.0,
        ),
        Key("wind_speed_m_s", "float", 1.0, "wind speed for the cell temperature", "m/s", 0, 50),
        _fraction("albedo", "ground reflectance", default=0.2),
    ),
)

ARRAYS = Table(
    "arrays",
    "Rooftop PV arrays (pvlib: Ineichen clear sky with its Linke turbidity, clouds, SAPM "
    "cell temperature, PVWatts DC and inverter). An emulated meter exports the sum of its "
    "arrays' AC power, on top of its profile and loads.",
    (
        Key("meter", "str", REQUIRED, "the emulated meter the array feeds"),
        Key("kwp", "float", REQUIRED, "DC nameplate power", "kWp", 0.0, 1e5, low_open=True),
        Key("tilt_deg", "float", 20.0, "panel tilt from horizontal", "°", 0.0, 90.0),
        Key(
            "azimuth_deg",
            "float",
            180.0,
            "panel azimuth (180: facing south)",
            "°",
            0.0,
            360.0,
            high_open=True,
        ),
        Key(
            "inverter_kw",
            "float",
            None,
            "inverter AC limit (none: kwp / 1.2, PVWatts' DC/AC ratio)",
            "kW",
            0.0,
            1e5,
            low_open=True,
        ),
        Key(
            "gamma_pdc_per_c",
            "float",
            -0.0037,
            "DC power temperature coefficient",
            "1/°C",
            -0.02,
            0.0,
        ),
        _fraction("losses_fraction", "DC system losses (soiling, wiring, mismatch)", default=0.14),
        Key(
            "inverter_efficiency",
            "float",
            0.96,
            "inverter nominal efficiency",
            "fraction",
            0.5,
            1.0,
        ),
    ),
    array=True,
)

LOADS = Table(
    "loads",
    "Calendar-aware loads on an emulated meter: campus buildings follow term and vacation "
    "days, city loads the weekday.",
    (
        Key("meter", "str", REQUIRED, "the emulated meter that measures the load"),
        Key("kind", "str", REQUIRED, "what the load is", choices=LOAD_KINDS),
        Key(
            "units",
            "float",
            1.0,
            "how many (dorm residents, labs, buildings, households, shops, clinics)",
            "",
            0.0,
            1e6,
        ),
        Key(
            "peak_w",
            "float",
            None,
            "one unit's peak power (none: the kind's default)",
            "W",
            0.0,
            MAX_POWER_W,
            low_open=True,
        ),
    ),
    array=True,
)

CALENDAR = Table(
    "calendar",
    "Periods of the campus calendar (inclusive ISO dates); a day in no period is a term day.",
    (
        Key("first", "str", REQUIRED, "first day of the period (ISO date)"),
        Key("last", "str", REQUIRED, "last day of the period (ISO date)"),
        Key("kind", "str", "vacation", "what the period is", choices=DAY_KINDS),
    ),
    array=True,
)

DOCUMENT = Table(
    "",
    "A bench config file.",
    (),
    tables=(
        BENCH,
        METERS,
        SCENARIO,
        MARKET,
        CHAIN,
        PARTICIPANTS,
        SESSIONS,
        GRID,
        AGGREGATOR,
        BATTERY,
        MQTT,
        SITE,
        ARRAYS,
        LOADS,
        CALENDAR,
    ),
)
"""Every top-level table, in the order of the reference."""
