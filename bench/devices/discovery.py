"""Which meter is on which port: list the ports without opening them, then probe only
the named ones or those with an Arduino board's own USB vendor id."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bench.config import PORT_KINDS, BenchConfig
from bench.devices.firmata_meter import FirmataMeter
from bench.errors import BenchError, ConfigError
from bench.transport.link import DEFAULT_BAUD
from bench.transport.ports import list_serial_ports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortProbe:
    """The outcome of probing one port."""

    url: str
    meter_id: str | None
    detail: str


def probe_ports(
    urls: Iterable[str],
    *,
    baud: int = DEFAULT_BAUD,
    reset_wait_s: float = 2.0,
    timeout_s: float = 0.5,
) -> list[PortProbe]:
    """Open each URL at ``baud`` and ask who is there; failures are reported, not raised."""
    out = []
    for url in urls:
        try:
            with FirmataMeter.open(
                url, baud=baud, reset_wait_s=reset_wait_s, timeout_s=timeout_s
            ) as m:
                ident = m.identity()
            out.append(PortProbe(url, ident.meter_id, f"gridmeter {ident.firmware_version}"))
        except BenchError as exc:
            log.info("probe %s: %s", url, exc)
            out.append(PortProbe(url, None, str(exc)))
    return out


def resolve_ports(config: BenchConfig, candidates: Iterable[str] | None = None) -> dict[str, str]:
    """Port URL of every real meter; ``port = "auto"`` entries are found by identity."""
    found: dict[str, str] = {}
    auto = []
    for m in config.meters:
        if m.kind not in PORT_KINDS or m.port is None:
            continue
        if m.port == "auto":
            auto.append(m.meter_id)
        else:
            found[m.meter_id] = m.port
    if auto:
        taken = set(found.values())
        listed = list_serial_ports()
        urls = candidates or [p.device for p in listed if p.arduino_like]
        probes = probe_ports(
            [u for u in urls if u not in taken],
            baud=config.baud,
            reset_wait_s=config.reset_wait_s,
        )
        by_id = {p.meter_id: p.url for p in probes if p.meter_id}
        missing = [mid for mid in auto if mid not in by_id]
        if missing:
            seen = ", ".join(f"{p.url}: {p.meter_id or 'no gridmeter'}" for p in probes)
            bridges = [p.device for p in listed if p.usb_bridge] if candidates is None else []
            hint = (
                f"; not probed (USB-serial bridges, maybe clone boards): {', '.join(bridges)}"
                if bridges
                else ""
            )
            raise ConfigError(
                f"meters {missing} (port = 'auto') were not found on any Arduino port "
                f"({seen or 'none plugged in'}){hint}. Plug them in, or give their port "
                "explicitly (`gridbench meter info --port PORT` says who is on a port)"
            )
        found.update({mid: by_id[mid] for mid in auto})
    return found
