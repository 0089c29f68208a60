"""Anvil process management against the real binary."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bench.chain import Anvil, Market
from bench.chain.anvil import rpc_call
from bench.errors import ChainError, ToolMissingError
from pricing import Trade
from tests.chain.conftest import Meters

pytestmark = pytest.mark.chain


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_starts_answers_and_stops_without_orphan(artifacts: None) -> None:
    node = Anvil()
    with node:
        assert rpc_call(node.url, "eth_chainId") == hex(31337)
        assert node.url == f"http://127.0.0.1:{node.port}"
        pid = node._process.pid  # type: ignore[union-attr]
        assert _alive(pid)
    assert not node.running
    assert not _alive(pid)


def test_missing_binary_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRIDBENCH_TOOLS", str(tmp_path))
    with pytest.raises(ToolMissingError, match="make demo"):
        Anvil().start()


def test_busy_port_is_a_chain_error(artifacts: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ChainError, match="anvil exited"):
            Anvil(port=port).start()


def test_missing_state_file_is_a_chain_error(tmp_path: Path) -> None:
    with pytest.raises(ChainError, match="does not exist"):
        Anvil(load_state=tmp_path / "nope.json").start()


def test_state_dumped_by_rpc_reloads(tmp_path: Path, artifacts: None) -> None:
    state = tmp_path / "state.json"
    with Anvil() as node:
        market = Market.deploy(node.url)
        market.add_participants(["alice", "bob"], 1000)
        readings = Meters(market, ("alice", "bob")).next()
        market.settle_interval(1, [Trade("alice", "bob", 2, 250)], readings)
        node.dump_state(state)
    with Anvil(load_state=state) as node:
        again = Market.attach(node.url, market.address, keys=market.keys)
        assert again.balance_wei("bob") == 1500
        assert again.settled_intervals() == [1]


def test_state_dumped_on_stop_reloads(tmp_path: Path, artifacts: None) -> None:
    state = tmp_path / "state.json"
    with Anvil(dump_state_on_stop=state) as node:
        market = Market.deploy(node.url)
        market.add_participants(["alice"], 77)
    assert state.is_file()
    with Anvil(load_state=state) as node:
        again = Market.attach(node.url, market.address, keys=market.keys)
        assert again.balance_wei("alice") == 77


def test_a_picked_port_another_node_takes_first_is_replaced(
    monkeypatch: pytest.MonkeyPatch, artifacts: None
) -> None:
    """Another bench's Anvil holds the port this one picked: this node must not take the
    other's answers for its own (it would trade on the other's chain), but bind another."""
    import bench.chain.anvil as anvil_module

    with Anvil() as other:
        picks = iter([other.port])
        real_free_port = anvil_module.free_port
        monkeypatch.setattr(
            anvil_module, "free_port", lambda: next(picks, None) or real_free_port()
        )
        with Anvil() as node:
            assert node.port != other.port
            rpc_call(node.url, "evm_mine")
            assert int(rpc_call(node.url, "eth_blockNumber"), 16) == 1
            assert int(rpc_call(other.url, "eth_blockNumber"), 16) == 0
