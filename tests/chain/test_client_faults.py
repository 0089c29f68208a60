"""Chain faults survived by the client, against a real Anvil: a node that drops its
connections or restarts (with or without the last transactions) slows a call down but
never loses a transaction, never runs the nonce ahead and never escapes as a raw
``requests`` error."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from hexbytes import HexBytes

from bench.chain import Anvil
from bench.chain.client import ChainClient, Wallet
from bench.errors import ChainError

pytestmark = pytest.mark.chain

ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SINK = "0x000000000000000000000000000000000000dEaD"


class Proxy:
    """A TCP proxy to a node that can be cut: while down it refuses (closes) every
    connection, and cutting it also drops the connections already open."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self.up.is_set():
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.cut()
        self._server.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    _close(src)
    _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def node() -> Iterator[Anvil]:
    with Anvil() as anvil:
        yield anvil


@pytest.fixture
def proxy(node: Anvil) -> Iterator[Proxy]:
    p = Proxy(node.port)
    yield p
    p.close()


def _later(delay_s: float, fn) -> threading.Timer:  # type: ignore[no-untyped-def]
    timer = threading.Timer(delay_s, fn)
    timer.start()
    return timer


def test_calls_and_sends_ride_out_dropped_connections(proxy: Proxy) -> None:
    client = ChainClient(proxy.url)
    wallet = Wallet(client, Account.from_key(ANVIL_KEY_0))
    proxy.cut()
    _later(0.8, proxy.up.set)
    assert client.w3.eth.block_number >= 0  # waited for the node, did not fail
    assert client.provider.retries > 0
    proxy.cut()
    _later(0.8, proxy.up.set)
    receipt = wallet.wait(wallet.send(SINK, b"", gas=21_000, value=7))
    assert client.w3.eth.get_balance(SINK) == 7
    assert client.w3.eth.get_transaction_count(wallet.address) == 1
    assert receipt.block_number == client.w3.eth.block_number


def test_a_node_gone_for_good_is_a_chain_error_that_says_what_to_do(proxy: Proxy) -> None:
    client = ChainClient(proxy.url, retry_s=0.5)
    wallet = Wallet(client, Account.from_key(ANVIL_KEY_0))
    proxy.cut()
    started = time.monotonic()
    with pytest.raises(ChainError, match="restart it"):
        client.w3.eth.block_number  # noqa: B018
    assert time.monotonic() - started >= 0.5
    with pytest.raises(ChainError, match="restart it"):
        wallet.send(SINK, b"", gas=21_000, value=1)
    proxy.up.set()  # back: the nonce comes from the chain, not the failed attempt
    wallet.wait(wallet.send(SINK, b"", gas=21_000, value=1))
    assert client.w3.eth.get_transaction_count(wallet.address) == 1


def test_a_dead_node_at_the_first_call_fails_fast(tmp_path: Path) -> None:
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    started = time.monotonic()
    with pytest.raises(ChainError, match="not answering"):
        ChainClient(f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 20


def _kill_and_reload(node: Anvil, state: Path | None) -> Anvil:
    """``kill -9`` the node, then start another on its port from ``state`` (or empty)."""
    assert node.pid is not None
    os.kill(node.pid, signal.SIGKILL)
    node.stop()
    return Anvil(port=node.port, load_state=state).start()


def test_transactions_lost_in_a_restart_from_older_state_are_sent_again(
    node: Anvil, tmp_path: Path
) -> None:
    client = ChainClient(node.url)
    wallet = Wallet(client, Account.from_key(ANVIL_KEY_0))
    wallet.wait(wallet.send(SINK, b"", gas=21_000, value=1))
    state = node.dump_state(tmp_path / "state.json")
    lost = [wallet.send(SINK, b"", gas=21_000, value=v) for v in (10, 100)]
    for tx_hash in lost:  # mined, then lost in the restart
        wallet.wait(tx_hash)
    restarted = _kill_and_reload(node, state)
    try:
        assert client.w3.eth.get_transaction_count(wallet.address) == 1
        # the wallet's counter is at 3: this one would wait for ever behind a gap
        sent = wallet.send(SINK, b"", gas=21_000, value=1000)
        receipt = wallet.wait(sent, timeout_s=30)
        assert receipt.tx_hash == sent  # the lost ones filled the gap, each once
        assert client.w3.eth.get_balance(SINK) == 1 + 10 + 100 + 1000
        assert client.w3.eth.get_transaction_count(wallet.address) == 4
        assert wallet.resent == 3
        for tx_hash in lost:
            assert client.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["status"] == 1
        wallet.wait(wallet.send(SINK, b"", gas=21_000, value=5), timeout_s=5)  # no gap left
        assert client.w3.eth.get_balance(SINK) == 1 + 10 + 100 + 1000 + 5
    finally:
        restarted.stop()


def test_a_transaction_stranded_behind_a_gap_is_re_signed_once(node: Anvil) -> None:
    client = ChainClient(node.url)
    wallet = Wallet(client, Account.from_key(ANVIL_KEY_0))
    wallet._nonce = 2  # a counter ahead of the chain, as after a lost restart
    sent = wallet.send(SINK, b"", gas=21_000, value=1000)
    receipt = wallet.wait(sent, timeout_s=30)
    assert receipt.tx_hash != sent  # re-signed at the chain's nonce
    wallet.wait(wallet.send(SINK, b"", gas=21_000, value=5), timeout_s=5)
    wallet.wait(wallet.send(SINK, b"", gas=21_000, value=7), timeout_s=5)  # nonce 2 again
    assert client.w3.eth.get_balance(SINK) == 1000 + 5 + 7  # the stranded one never mined
    assert client.w3.eth.get_transaction_count(wallet.address) == 3


def test_a_transaction_sent_but_not_mined_before_a_crash_is_sent_again(
    node: Anvil, tmp_path: Path
) -> None:
    client = ChainClient(node.url)
    wallet = Wallet(client, Account.from_key(ANVIL_KEY_0))
    client.rpc("evm_setAutomine", [False])
    sent = wallet.send(SINK, b"", gas=21_000, value=42)
    state = node.dump_state(tmp_path / "state.json")
    restarted = _kill_and_reload(node, state)  # automine again, an empty pool
    try:
        receipt = wallet.wait(sent, timeout_s=30)
        assert receipt.tx_hash == sent  # the same signed transaction, once
        assert client.w3.eth.get_balance(SINK) == 42
        assert client.w3.eth.get_transaction_count(wallet.address) == 1
    finally:
        restarted.stop()
