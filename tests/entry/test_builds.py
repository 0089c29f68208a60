"""One lookup for built artifacts: environment variable → package data → checkout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench import builds
from bench.errors import ToolMissingError


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for spec in builds.BUILDS.values():
        monkeypatch.delenv(spec.env, raising=False)
    return monkeypatch


def test_the_variable_wins_and_must_exist(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    elf = tmp_path / "meter.elf"
    elf.write_bytes(b"\x7fELF")
    no_env.setenv("GRIDBENCH_FIRMWARE_ELF", str(elf))
    assert builds.locate("firmware", build=lambda: pytest.fail("no build")) == elf
    no_env.setenv("GRIDBENCH_FIRMWARE_ELF", str(tmp_path / "gone.elf"))
    with pytest.raises(
        ToolMissingError, match=r"GRIDBENCH_FIRMWARE_ELF=.*gone\.elf does not exist"
    ):
        builds.locate("firmware")


def test_package_data_comes_before_the_checkout(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    staged = tmp_path / "builds"
    (staged / "contracts").mkdir(parents=True)
    no_env.setattr(builds.resources, "files", lambda _name: staged)
    assert builds.locate("contracts") == staged / "contracts"


def test_the_checkout_is_last_and_may_build(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_env.setattr(builds.resources, "files", lambda _name: tmp_path / "empty")
    assert builds.in_checkout()
    assert builds.locate("contracts") == builds.REPO_ROOT / "contracts" / "out"
    built = tmp_path / "fresh.elf"
    built.write_bytes(b"\x7fELF")
    assert builds.locate("firmware", build=lambda: built) == built


def test_nothing_found_says_how_to_build_it(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_env.setattr(builds.resources, "files", lambda _name: tmp_path / "empty")
    no_env.setattr(builds, "REPO_ROOT", tmp_path / "not-a-checkout")
    with pytest.raises(ToolMissingError) as err:
        builds.locate("contracts")
    assert str(err.value) == (
        "the contracts' forge output not found: $GRIDBENCH_CONTRACTS_OUT is unset, the "
        "package has no bench/builds/contracts, and this is no gridbench checkout; run "
        "`make build-contracts` in a gridbench checkout (forge build in contracts/), then "
        "set GRIDBENCH_CONTRACTS_OUT or install a wheel built with `make wheel`"
    )
    no_env.setattr(builds, "REPO_ROOT", Path(__file__).resolve().parents[2])
    missing = dataclasses.replace(builds.BUILDS["firmware"], checkout_path="firmware/none.elf")
    no_env.setitem(builds.BUILDS, "firmware", missing)
    with pytest.raises(
        ToolMissingError, match=r"none\.elf does not exist; run `make build-firmware`"
    ):
        builds.locate("firmware")
