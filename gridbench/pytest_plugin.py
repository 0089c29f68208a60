"""gridbench's pytest plugin: HIL tests of a bench config in a lab's own repository.

Installed with the package (entry point ``pytest11``), it adds:

- options ``--bench-config FILE`` (or the ``bench_config`` ini key; default: the
  packaged demo config) and ``--meter-port PORT`` (repeatable: real boards, given in
  order to the config's ``firmata``/``generic`` meters whose port is ``auto``);
- the marker ``hil``: the test needs a real board and is skipped without a port;
- fixtures ``bench_config`` (the checked :class:`ScenarioConfig`), ``anvil`` (one Anvil
  for the session, the chain reverted to a fresh snapshot after each test), ``market``
  (a GridMarket with the config's participants funded), ``meters`` (the config's rig,
  started) and ``run_scenario(config=None, **overrides)`` (a whole run on the session's
  Anvil, returning :class:`ScenarioRun`: the summary and the journal's replayed report).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the bench (web3, numpy) loads only when a fixture is used
    from bench.chain import Anvil, Market
    from bench.config import ScenarioConfig
    from bench.events import IntervalReport, RunSummary
    from bench.report import RunReport
    from bench.rig import Rig

RUN_TIMEOUT_S = 600.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridbench", "gridbench hardware-in-the-loop bench")
    group.addoption(
        "--bench-config",
        metavar="FILE",
        default=None,
        help="bench config of the fixtures (default: the bench_config ini key, else the demo)",
    )
    group.addoption(
        "--meter-port",
        action="append",
        default=[],
        metavar="PORT",
        help="serial port of a real meter board (repeatable); enables tests marked hil",
    )
    parser.addini("bench_config", "bench config of the fixtures, relative to the ini file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hil: needs a real meter board; skipped unless --meter-port PORT is given"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("hil") and not item.config.getoption("--meter-port"):
        pytest.skip("needs a real meter board: pass --meter-port PORT")


@dataclass(frozen=True)
class ScenarioRun:
    """What ``run_scenario`` returns: the run's summary, intervals and replayed report."""

    config: ScenarioConfig
    summary: RunSummary
    intervals: tuple[IntervalReport, ...]
    report: RunReport

    @property
    def journal(self) -> Path:
        """The run's journal file."""
        return self.report.journal


def config_path(config: pytest.Config) -> Path:
    """The bench config named by ``--bench-config``, the ini key, or the demo config."""
    from bench.fixtures import demo_config

    given = config.getoption("--bench-config")
    if given:
        return Path(given).resolve()
    ini = config.getini("bench_config")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / str(ini)).resolve()
    return demo_config()


def with_ports(scenario: ScenarioConfig, ports: list[str]) -> ScenarioConfig:
    """``scenario`` with its auto-port boards given the ``--meter-port`` ports in order."""
    from bench.config import PORT_KINDS

    remaining = list(ports)
    meters = []
    for meter in scenario.bench.meters:
        if meter.kind in PORT_KINDS and meter.port == "auto" and remaining:
            meter = replace(meter, port=remaining.pop(0))
        meters.append(meter)
    return replace(scenario, bench=replace(scenario.bench, meters=tuple(meters)))


@pytest.fixture(scope="session")
def bench_config(pytestconfig: pytest.Config) -> ScenarioConfig:
    """The checked bench config (``--bench-config``), with the ``--meter-port`` boards."""
    from bench.config import load_with_overrides

    scenario = load_with_overrides(config_path(pytestconfig))
    return with_ports(scenario, pytestconfig.getoption("--meter-port"))


@pytest.fixture(scope="session")
def anvil_session() -> Iterator[Anvil]:
    """One Anvil for the whole session (use ``anvil``: it reverts after each test)."""
    from bench.chain import Anvil
    from bench.errors import ToolMissingError

    try:
        node = Anvil().start()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def anvil(anvil_session: Anvil) -> Iterator[Anvil]:
    """The session's Anvil; what a test does on it is reverted when the test ends.

    A snapshot id is single use, so each test takes its own and reverts to it.
    """
    from bench.chain.anvil import rpc_call

    snapshot = rpc_call(anvil_session.url, "evm_snapshot")
    yield anvil_session
    if not rpc_call(anvil_session.url, "evm_revert", [snapshot]):
        raise RuntimeError(f"Anvil refused to revert to snapshot {snapshot}")


@pytest.fixture
def market(anvil: Anvil, bench_config: ScenarioConfig) -> Market:
    """A fresh GridMarket with every participant of the config funded with its deposit."""
    from bench.chain import Market

    deployed = Market.deploy(anvil.url)
    deployed.add_participants(
        [p.agent.participant for p in bench_config.participants], bench_config.deposit_wei
    )
    return deployed


@pytest.fixture
def meters(bench_config: ScenarioConfig) -> Iterator[Rig]:
    """The config's meters started (emulated, simavr or real), stopped after the test."""
    from bench.rig import Rig

    with Rig(bench_config.bench, speed=bench_config.speed) as rig:
        yield rig


def parameter_path(name: str) -> str:
    """``intervals`` → ``scenario.intervals``; ``market__mechanism`` → ``market.mechanism``;
    ``participants__flat__strategy`` → ``participants.flat.strategy`` (checked when the
    override is applied, against the config's participants)."""
    from bench.config import override_key_names
    from bench.config.overrides import PARTICIPANTS_PATH
    from bench.errors import ConfigError

    valid = override_key_names()
    dotted = name.replace("__", ".")
    if dotted in valid or dotted.startswith(f"{PARTICIPANTS_PATH}."):
        return dotted
    matches = [v for v in valid if v.rpartition(".")[2] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"parameter {name!r} is ambiguous: write one of {matches} with __")
    raise ConfigError(f"unknown parameter {name!r}; valid: {', '.join(valid)}")


@pytest.fixture
def run_scenario(
    bench_config: ScenarioConfig, anvil: Anvil, tmp_path: Path, pytestconfig: pytest.Config
) -> Callable[..., ScenarioRun]:
    """Run a config to the end on the session's Anvil: ``run_scenario(intervals=2)``."""
    from bench.config import load_with_overrides
    from bench.events import IntervalReport
    from bench.report import replay
    from bench.scenario.worker import ScenarioWorker
    from bench.store import recorder_for

    ports = pytestconfig.getoption("--meter-port")

    def run(config: ScenarioConfig | Path | str | None = None, **overrides: Any) -> ScenarioRun:
        base = bench_config if config is None else config
        if isinstance(base, Path | str):
            base = load_with_overrides(base)
        assert base.source is not None, "a config built without a file cannot be varied"
        given = {**dict(base.overrides), **{parameter_path(k): v for k, v in overrides.items()}}
        scenario = load_with_overrides(base.source, given, text=base.source_text or None)
        scenario = replace(with_ports(scenario, ports), chain_url=anvil.url)
        worker = ScenarioWorker(scenario, recorders=[recorder_for(scenario, tmp_path / "runs")])
        worker.start()
        worker.join(timeout=RUN_TIMEOUT_S)
        if worker.is_alive():
            worker.stop()
            worker.join(timeout=60)
            pytest.fail(f"the run did not end in {RUN_TIMEOUT_S:.0f} s")
        if worker.error is not None:
            raise worker.error
        intervals = []
        while True:
            try:
                event = worker.events.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, IntervalReport):
                intervals.append(event)
        summary = worker.summary
        assert summary is not None and summary.journal_path is not None
        return ScenarioRun(scenario, summary, tuple(intervals), replay(summary.journal_path))

    return run
