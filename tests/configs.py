"""Bench configs for the tests, composed from TOML blocks: a test spells out what is its
own (meters, participants, a section's keys) and :func:`run_config` adds the lab's usual
timing (15-minute intervals at 3600x, a reading every 50 ms).

Test modules import it as ``tests.configs`` (``from conftest import`` would find whichever
folder's conftest was imported first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Value = str | bool | int | float | Sequence["Value"] | Mapping[str, "Value"]


def toml_value(value: Value) -> str:
    """``value`` as a TOML value (strings quoted, lists and inline tables nested)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def table(header: str, keys: Mapping[str, Value | None]) -> str:
    """One TOML table: ``[header]`` (or ``[[header]]`` as given) and its keys (a key
    whose value is None is left out)."""
    lines = [header, *(f"{k} = {toml_value(v)}" for k, v in keys.items() if v is not None)]
    return "\n".join(lines) + "\n"


def meter_block(
    meter_id: str, kind: str = "fake", power_w: float | None = None, **keys: Value | None
) -> str:
    """A ``[[meters]]`` entry (no ``power_w`` line when it is None)."""
    return table("[[meters]]", {"id": meter_id, "kind": kind, "power_w": power_w, **keys})


def participant_block(name: str, role: str, **keys: Value | None) -> str:
    """A ``[[participants]]`` entry, on the meter of the same id unless ``meter=`` names
    another."""
    return table("[[participants]]", {"name": name, "role": role, "meter": name, **keys})


def prosumer(name: str, offer_price_wei_per_wh: int | None = None, **keys: Value | None) -> str:
    """A prosumer on its own meter, offering at the price given (the default if None)."""
    return participant_block(
        name, "prosumer", offer_price_wei_per_wh=offer_price_wei_per_wh, **keys
    )


def consumer(name: str, bid_price_wei_per_wh: int | None = None, **keys: Value | None) -> str:
    """A consumer on its own meter, bidding the price given (the default if None)."""
    return participant_block(name, "consumer", bid_price_wei_per_wh=bid_price_wei_per_wh, **keys)


def session_block(consumer: str, meter: str, owner: str, **keys: Value | None) -> str:
    """A ``[[sessions]]`` entry: ``consumer`` charges on the supply point ``meter``."""
    return table("[[sessions]]", {"consumer": consumer, "meter": meter, "owner": owner, **keys})


def run_config(
    *,
    meters: Sequence[str],
    participants: Sequence[str],
    intervals: int,
    speed: float = 3600,
    market_interval_s: int = 900,
    reading_interval_s: float = 0.05,
    bench: Mapping[str, Value | None] | None = None,
    scenario: Mapping[str, Value | None] | None = None,
    sections: Mapping[str, Mapping[str, Value | None]] | None = None,
    extra: str = "",
) -> str:
    """A whole bench config: ``[bench]`` and ``[scenario]`` (the timing given plus the keys
    in ``bench`` and ``scenario``), one table per ``sections`` entry (``{"chain": {...}}``),
    the meter and participant blocks, and ``extra`` TOML last (``[[sessions]]``)."""
    parts = [
        table("[bench]", {"reading_interval_s": reading_interval_s, **(bench or {})}),
        table(
            "[scenario]",
            {
                "market_interval_s": market_interval_s,
                "intervals": intervals,
                "speed": speed,
                **(scenario or {}),
            },
        ),
        *(table(f"[{name}]", keys) for name, keys in (sections or {}).items()),
        *meters,
        *participants,
    ]
    return "\n".join(parts) + ("\n" + extra if extra else "")
