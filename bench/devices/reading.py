"""What a meter tells the bench: frozen dataclasses with units in their field names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    """One meter reading as the bench sees it.

    Sign convention (firmware/PROTOCOL.md §5.2): ``power_w`` > 0 imports from the grid
    (consumption), < 0 exports (PV surplus). ``energy_import_wh`` and
    ``energy_export_wh`` are the meter's cumulative counters, sub-Wh remainder included;
    both are monotonic (they wrap only at 2^32 Wh). ``t_s`` is the host clock at receipt
    (``time.monotonic`` unless the poller was given another clock). ``meter_time_s`` is
    the meter's own clock at the instant its counters were read, when the meter kind
    tells it (an emulator in this process: its simulated seconds); None when only the
    arrival time is known.
    """

    meter_id: str
    t_s: float
    voltage_v: float
    current_a: float
    power_w: float
    power_factor: float
    frequency_hz: float
    energy_import_wh: float
    energy_export_wh: float
    relay_closed: bool
    seq: int
    boot_count: int
    valid: bool = True
    locked_out: bool = False
    meter_time_s: float | None = None
    clipped: bool = False
    """An input (current or voltage) clipped at the meter's ADC since its previous
    reading (PROTOCOL.md §5.2 flags bit 3): the energy over that span reads low."""

    @property
    def energy_wh(self) -> float:
        """Net imported energy: import counter minus export counter."""
        return self.energy_import_wh - self.energy_export_wh


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is on a port: from REPORT_FIRMWARE and the meter's IDENTITY reply."""

    meter_id: str
    firmware_name: str
    firmware_version: tuple[int, int, int]
    protocol_version: tuple[int, int]
    firmata_version: tuple[int, int]
    boot_count: int
    key_provisioned: bool
    calibrated: bool
    signing_key: bool = False


@dataclass(frozen=True, slots=True)
class Calibration:
    """Meter calibration (PROTOCOL.md §5.4); factory defaults as field defaults."""

    v_gain_uv_per_count: int = 635_000
    i_gain_ua_per_count: int = 48_828
    v_offset_counts: int = 512
    i_offset_counts: int = 512
    phase_cdeg: int = 0


@dataclass(frozen=True, slots=True)
class EnergyDelta:
    """Energy a meter counted between two readings, derived from its counters."""

    meter_id: str
    t0_s: float
    t1_s: float
    import_wh: float
    export_wh: float
    across_reboot: bool
