"""``gridbench meter``: commission a meter board (or a simavr meter) from the bench.

- ``info``: identity, firmware, calibration, relay key and signing address;
- ``provision``: the meter id, a fresh relay HMAC key into a 0600 keystore file, a fresh
  signing key (host entropy mixed in), its address; registered on chain when given one;
- ``calibrate``: gains from a reference voltage and current, stored on the meter, then a
  check reading against the same reference.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bench.devices import commissioning, wire
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import fingerprint, read_key_file
from bench.errors import ConfigError
from bench.transport.link import DEFAULT_BAUD

if TYPE_CHECKING:
    from bench.chain.commission import ChainTarget


def _open(args: argparse.Namespace, key: bytes) -> FirmataMeter:
    return FirmataMeter.open(
        args.port, baud=args.baud, key=key, reset_wait_s=args.reset_wait, timeout_s=args.timeout
    )


def _key(path: Path | None) -> bytes:
    return wire.DEFAULT_KEY if path is None else read_key_file(path)


def info_lines(info: commissioning.MeterInfo, port: str, keystore: Path | None) -> list[str]:
    """What ``meter info`` prints (the panel's dialog shows the same lines)."""
    ident = info.identity
    version = ".".join(map(str, ident.firmware_version))
    lines = [
        f"meter {ident.meter_id} on {port}",
        f"firmware {ident.firmware_name} {version}, protocol "
        f"{ident.protocol_version[0]}.{ident.protocol_version[1]}, boot {ident.boot_count}",
        f"flags: {', '.join(info.flags) or 'none'}",
        commissioning.calibration_text(info.calibration),
    ]
    if ident.key_provisioned and keystore:
        lines.append(f"relay key: provisioned; keystore {keystore}: {fingerprint(_key(keystore))}")
    elif ident.key_provisioned:
        lines.append("relay key: provisioned (give --keystore to name its file)")
    else:
        lines.append("relay key: default (all zero): provision it before use on a bench")
    if info.signer_address:
        lines.append(f"signing address: {info.signer_address}")
    else:
        lines.append("signing address: none yet (provision makes one)")
    return lines


def provision_lines(done: commissioning.Provisioned, port: str) -> list[str]:
    """What ``meter provision`` prints."""
    lines = [f"meter {done.old_meter_id} on {port}"]
    if done.old_meter_id != done.meter_id:
        lines.append(f"meter id: {done.old_meter_id} -> {done.meter_id}")
    lines += [
        f"relay key: fresh, in {done.keystore} (mode 0600), fingerprint {done.key_fingerprint}",
        f"signing address: {done.signer_address} (fresh key, host entropy mixed in)",
    ]
    return lines


def calibrate_lines(done: commissioning.Calibrated, tolerance: float) -> tuple[list[str], bool]:
    """What ``meter calibrate`` prints, and whether the check passed."""
    v_err, i_err = done.check_error_fraction
    lines = [
        commissioning.calibration_text(done.before),
        f"reads {done.read_v:.3f} V, {done.read_a:.4f} A; reference {done.reference_v:g} V, "
        f"{done.reference_a:g} A",
        commissioning.calibration_text(done.after),
        f"check: {done.check_v:.3f} V ({v_err:+.3%}), {done.check_a:.4f} A ({i_err:+.3%})",
    ]
    ok = max(abs(v_err), abs(i_err)) <= tolerance
    if not ok:
        lines.append(
            f"check failed: beyond ±{tolerance:.1%}; is the reference steady? Run calibrate again"
        )
    return lines, ok


def _info(args: argparse.Namespace) -> int:
    with _open(args, _key(args.keystore)) as meter:
        info = commissioning.read_info(meter)
    print("\n".join(info_lines(info, args.port, args.keystore)))
    return 0


def _provision(args: argparse.Namespace) -> int:
    target = _target(args) if args.chain else None
    with _open(args, _key(args.current_keystore)) as meter:
        done = commissioning.provision(
            meter, args.id, args.keystore, replace_keystore=args.replace, timeout_s=args.timeout
        )
        print("\n".join(provision_lines(done, args.port)), flush=True)
        if target is not None:
            from bench.chain.commission import register_meter  # lazy: web3

            print(register_meter(target, args.id, done.signer_address, meter.signed_reading))
        print(f'config: [[meters]] id = "{args.id}", relay_key_file = "{args.keystore}"')
    return 0


def _target(args: argparse.Namespace) -> ChainTarget:
    from bench.chain.commission import ChainTarget  # lazy: web3

    target = ChainTarget(
        url=args.chain,
        market=args.market or "",
        owner=args.owner or "",
        location=args.location or "",
        owner_key_file=args.owner_key_file,
        operator_key_file=args.operator_key_file,
        allow_anvil_key=args.allow_anvil_key,
    )
    target.check()  # before the meter is touched
    return target


def _calibrate(args: argparse.Namespace) -> int:
    if args.volts <= 0 or args.amps <= 0:
        raise ConfigError("--volts and --amps are the reference's RMS values: both above 0")
    with _open(args, _key(args.keystore)) as meter:
        done = commissioning.calibrate(
            meter, args.volts, args.amps, readings=args.readings, interval_s=args.interval
        )
    lines, ok = calibrate_lines(done, args.tolerance)
    print("\n".join(lines))
    return 0 if ok else 1


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
