"""Where built artifacts are found: the contracts' forge output and the firmware ELF.

One lookup for both, first match wins:

1. the environment variable (``GRIDBENCH_CONTRACTS_OUT``, ``GRIDBENCH_FIRMWARE_ELF``);
2. package data: ``bench/builds/contracts/`` and ``bench/builds/firmware/gridmeter.elf``,
   staged into a wheel by ``make wheel``;
3. the repository checkout: ``contracts/out/`` and ``firmware/build/uno/gridmeter.elf``
   (the firmware is built there on first use).

Nothing found is a :class:`~bench.errors.ToolMissingError` that says how to build it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bench.errors import ToolMissingError

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Build:
    """One artifact: its variable, package-data path, checkout path and how to build it."""

    what: str
    env: str
    package_path: str
    checkout_path: str
    how: str


BUILDS = {
    "contracts": Build(
        "the contracts' forge output",
        "GRIDBENCH_CONTRACTS_OUT",
        "contracts",
        "contracts/out",
        "run `make build-contracts` in a gridbench checkout (forge build in contracts/)",
    ),
    "firmware": Build(
        "the firmware ELF",
        "GRIDBENCH_FIRMWARE_ELF",
        "firmware/gridmeter.elf",
        "firmware/build/uno/gridmeter.elf",
        "run `make build-firmware` in a gridbench checkout (needs gcc-avr and avr-libc)",
    ),
}


def in_checkout() -> bool:
    """True when this package runs from a gridbench repository checkout."""
    return (REPO_ROOT / "contracts" / "foundry.toml").is_file()


def locate(name: str, *, build: Callable[[], Path] | None = None) -> Path:
    """The path of build ``name`` (``contracts`` or ``firmware``); see the module doc.

    ``build`` makes the artifact in a checkout (e.g. an incremental ``make``) and returns
    its path; without it the checkout's path must already exist.
    """
    spec = BUILDS[name]
    given = os.environ.get(spec.env)
    if given:
        path = Path(given)
        if not path.exists():
            raise ToolMissingError(f"{spec.env}={given} does not exist; fix it or unset it")
        return path
    packaged = Path(str(resources.files(__name__).joinpath(spec.package_path)))
    if packaged.exists():
        return packaged
    if in_checkout():
        path = build() if build is not None else REPO_ROOT / spec.checkout_path
        if path.exists():
            return path
    raise ToolMissingError(
        f"{spec.what} not found: ${spec.env} is unset, the package has no "
        f"bench/builds/{spec.package_path}, and "
        + (
            f"{REPO_ROOT / spec.checkout_path} does not exist; {spec.how}"
            if in_checkout()
            else f"this is no gridbench checkout; {spec.how}, then set {spec.env} "
            "or install a wheel built with `make wheel`"
        )
    )
