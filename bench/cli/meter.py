"""``gridbench meter``: commission a meter board (or a simavr meter) from the bench.

- ``info``: identity, firmware, calibration, relay key and signing address;
- ``provision``: the meter id, a fresh relay HMAC key into a 0600 keystore file, a fresh
  signing key (host entropy mixed in), its address; registered on chain when given one;
- ``calibrate``: gains from a reference voltage and current, stored on the meter, then a
  check reading against the same reference.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

from bench.devices import wire
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import fingerprint, read_key_file, write_key_file
from bench.devices.reading import Calibration, Reading
from bench.errors import ConfigError, DeviceError
from bench.transport.link import DEFAULT_BAUD

FLAG_NAMES = ("relay key provisioned", "calibrated", "signing key present")


def _open(args: argparse.Namespace, key: bytes) -> FirmataMeter:
    return FirmataMeter.open(
        args.port, baud=args.baud, key=key, reset_wait_s=args.reset_wait, timeout_s=args.timeout
    )


def _key(path: Path | None) -> bytes:
    return wire.DEFAULT_KEY if path is None else read_key_file(path)


def _print_calibration(cal: Calibration) -> None:
    print(
        f"calibration: {cal.v_gain_uv_per_count} µV/count, {cal.i_gain_ua_per_count} µA/count, "
        f"offsets {cal.v_offset_counts}/{cal.i_offset_counts} counts, "
        f"phase {cal.phase_cdeg / 100:.2f}°"
    )


def _info(args: argparse.Namespace) -> int:
    key = _key(args.keystore)
    with _open(args, key) as meter:
        ident = meter.identity()
        on = (ident.key_provisioned, ident.calibrated, ident.signing_key)
        flags = [n for n, set_ in zip(FLAG_NAMES, on, strict=True) if set_]
        version = ".".join(map(str, ident.firmware_version))
        print(f"meter {ident.meter_id} on {args.port}")
        print(
            f"firmware {ident.firmware_name} {version}, protocol "
            f"{ident.protocol_version[0]}.{ident.protocol_version[1]}, boot {ident.boot_count}"
        )
        print(f"flags: {', '.join(flags) or 'none'}")
        _print_calibration(meter.calibration())
        if ident.key_provisioned and args.keystore:
            print(f"relay key: provisioned; keystore {args.keystore}: {fingerprint(key)}")
        elif ident.key_provisioned:
            print("relay key: provisioned (give --keystore to name its file)")
        else:
            print("relay key: default (all zero): provision it before use on a bench")
        if ident.signing_key:
            print(f"signing address: {meter.signer_address()}")
        else:
            print("signing address: none yet (provision makes one)")
    return 0


def _provision(args: argparse.Namespace) -> int:
    keystore: Path = args.keystore
    with _open(args, _key(args.current_keystore)) as meter:
        before = meter.identity()
        print(f"meter {before.meter_id} on {args.port} (boot {before.boot_count})")
        if before.meter_id != args.id:
            meter.set_meter_id(args.id)
            print(f"meter id: {before.meter_id} -> {args.id}")
        new_key = os.urandom(32)
        write_key_file(keystore, new_key, replace=args.replace)
        try:
            meter.set_key(new_key)
        except Exception:
            keystore.unlink()
            raise
        print(f"relay key: fresh, in {keystore} (mode 0600), fingerprint {fingerprint(new_key)}")
        address = meter.new_signing_key(timeout_s=max(args.timeout, 5.0))
        print(f"signing address: {address} (fresh key, host entropy mixed in)")
        if args.chain:
            _register(args, meter, address)
        print(f'config: [[meters]] id = "{args.id}", relay_key_file = "{keystore}"')
    return 0


def _register(args: argparse.Namespace, meter: FirmataMeter, address: str) -> None:
    from bench.chain import Market  # lazy: web3
    from bench.chain.keys import KeyRing

    if not (args.market and args.owner):
        raise ConfigError("registering on chain needs --market ADDRESS and --owner NAME")
    keys = KeyRing({args.owner: args.owner_key_file} if args.owner_key_file else {})
    market = Market.attach(
        args.chain,
        args.market,
        keys=keys,
        operator_key_file=args.operator_key_file,
        allow_anvil_key=args.allow_anvil_key,
    )
    first = meter.signed_reading()  # the commissioning reading the contract checks
    market.registry.register(
        args.id, args.owner, args.location or "", signer=address, commissioning=first
    )
    kind = market.registry.attestation(args.id)
    print(f"registered on {args.market}: owner {args.owner}, {kind}, seq {first.seq}")


def _mean_reading(meter: FirmataMeter, n: int, interval_s: float) -> tuple[float, float]:
    readings: list[Reading] = []
    for _ in range(n):
        time.sleep(interval_s)
        readings.append(meter.read())
    return (
        sum(r.voltage_v for r in readings) / n,
        sum(r.current_a for r in readings) / n,
    )


def _calibrate(args: argparse.Namespace) -> int:
    if args.volts <= 0 or args.amps <= 0:
        raise ConfigError("--volts and --amps are the reference's RMS values: both above 0")
    with _open(args, _key(args.keystore)) as meter:
        cal = meter.calibration()
        _print_calibration(cal)
        v, i = _mean_reading(meter, args.readings, args.interval)
        print(f"reads {v:.3f} V, {i:.4f} A; reference {args.volts:g} V, {args.amps:g} A")
        if v <= 0 or i <= 0:
            raise DeviceError(
                f"meter on {args.port} reads {v:.3f} V, {i:.4f} A: no signal to calibrate "
                "against; connect the reference source (and close the relay) and retry"
            )
        new = replace(
            cal,
            v_gain_uv_per_count=round(cal.v_gain_uv_per_count * args.volts / v),
            i_gain_ua_per_count=round(cal.i_gain_ua_per_count * args.amps / i),
        )
        meter.set_calibration(new)
        _print_calibration(new)
        v2, i2 = _mean_reading(meter, args.readings, args.interval)
        v_err, i_err = v2 / args.volts - 1, i2 / args.amps - 1
        print(f"check: {v2:.3f} V ({v_err:+.3%}), {i2:.4f} A ({i_err:+.3%})")
        if max(abs(v_err), abs(i_err)) > args.tolerance:
            print(
                f"check failed: beyond ±{args.tolerance:.1%}; is the reference steady? "
                "Run calibrate again"
            )
            return 1
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="the meter's serial port (or a pty)")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="default: %(default)s")
    p.add_argument(
        "--reset-wait",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds to wait for the board's reset after opening (0 for a simavr meter)",
    )
    p.add_argument("--timeout", type=float, default=2.0, metavar="S", help="reply deadline")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``meter info|provision|calibrate``."""
    meter = subparsers.add_parser("meter", help="commission a meter: info, provision, calibrate")
    sub = meter.add_subparsers(dest="meter_command", metavar="ACTION", required=True)

    info = sub.add_parser("info", help="identity, firmware, calibration, keys")
    _common(info)
    info.add_argument("--keystore", type=Path, help="the meter's relay keystore file")
    info.set_defaults(func=_info)

    prov = sub.add_parser("provision", help="meter id, fresh relay and signing keys")
    _common(prov)
    prov.add_argument("--id", required=True, help="the meter id (1-16 of A-Z a-z 0-9 - _ .)")
    prov.add_argument(
        "--keystore", type=Path, required=True, help="new keystore file for the relay key (0600)"
    )
    prov.add_argument("--replace", action="store_true", help="overwrite an existing keystore")
    prov.add_argument(
        "--current-keystore",
        type=Path,
        help="keystore of the meter's current key (default: the all-zero key)",
    )
    prov.add_argument("--chain", metavar="URL", help="register the meter on this chain")
    prov.add_argument("--market", metavar="ADDRESS", help="the GridMarket to register with")
    prov.add_argument("--owner", metavar="NAME", help="the participant who owns the meter")
    prov.add_argument("--owner-key-file", type=Path, help="the owner's wallet key file (0600)")
    prov.add_argument("--operator-key-file", type=Path, help="the operator's key file (0600)")
    prov.add_argument("--location", help="where the meter is installed")
    prov.add_argument(
        "--allow-anvil-key", action="store_true", help="accept Anvil's public development keys"
    )
    prov.set_defaults(func=_provision)

    cal = sub.add_parser("calibrate", help="gains from a reference source, then a check")
    _common(cal)
    cal.add_argument("--keystore", type=Path, required=True, help="the meter's relay keystore")
    cal.add_argument("--volts", type=float, required=True, help="reference RMS voltage")
    cal.add_argument("--amps", type=float, required=True, help="reference RMS current")
    cal.add_argument("--readings", type=int, default=5, help="readings averaged (default 5)")
    cal.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="between readings (default 1 s)"
    )
    cal.add_argument(
        "--tolerance", type=float, default=0.005, help="check bound (default 0.005 = 0.5 %%)"
    )
    cal.set_defaults(func=_calibrate)
