"""The emulated meters' TCP connect does not block their fleet's thread.

It overrides paho's private ``Client._create_socket_connection`` (paho has no public
hook for a non-blocking connect), so paho-mqtt is pinned to the versions tested here
(pyproject.toml); these tests fail, saying what to port, when paho changes that route.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Iterator
from importlib.metadata import version

import paho.mqtt.client as mqtt
import pytest

from bench.emulator.mqtt_fleet import _MeterClient
from bench.transport.mqtt_link import Broker, new_client

PORT_HINT = (
    "paho-mqtt {version} changed how Client opens its socket: bench/emulator/mqtt_fleet."
    "_MeterClient overrides Client._create_socket_connection, called by "
    "Client._create_socket; port the override, then widen the pin in pyproject.toml"
)


def test_paho_still_opens_its_tcp_socket_through_the_overridden_method() -> None:
    hint = PORT_HINT.format(version=version("paho-mqtt"))
    assert "_create_socket_connection" in vars(mqtt.Client), hint
    assert "self._create_socket_connection()" in inspect.getsource(mqtt.Client._create_socket), hint
    client = new_client(Broker("127.0.0.1", 1), "gridbench-meter-t-m0", clean=False)
    client.connect_async("127.0.0.1", 1883, 5)
    assert (client._host, client._port, client._ssl) == ("127.0.0.1", 1883, False), hint


@pytest.fixture
def full_listener() -> Iterator[tuple[str, int]]:
    """A listening socket that never accepts, its accept queue full: a new connect's
    SYN is dropped, so a blocking connect would wait for its retransmission (1 s and
    more) or its timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    address = server.getsockname()
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(address)
        fillers.append(s)
    try:
        yield address
    finally:
        for s in fillers:
            s.close()
        server.close()


def test_a_meter_connect_returns_while_the_tcp_connect_is_under_way(
    full_listener: tuple[str, int],
) -> None:
    host, port = full_listener
    client = new_client(Broker(host, port), "gridbench-meter-t-m1", clean=False, cls=_MeterClient)
    client.connect_timeout = 10.0  # a blocking connect would hold the test this long
    try:
        client.connect(host, port, 5)
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        with pytest.raises(OSError):  # ENOTCONN: the SYN is still waiting for room
            sock.getpeername()
    finally:
        sock = client.socket()
        if sock is not None:
            sock.close()


def test_a_refused_connect_is_a_lost_connection_not_a_hang() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    client = new_client(Broker(host, port), "gridbench-meter-t-m2", clean=False, cls=_MeterClient)
    client.connect(host, port, 5)  # the refusal comes with the first write
    for _ in range(50):
        if client.socket() is None:
            break
        client.loop_write()
        client.loop_read()
    assert client.socket() is None
