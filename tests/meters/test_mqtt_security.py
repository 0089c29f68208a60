"""Broker authentication and TLS: a password-protected broker, a self-signed CA."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.config import parse_bench_config
from bench.errors import ToolMissingError, TransportError
from bench.rig import Rig
from bench.transport.mosquitto import Mosquitto, mosquitto_path
from bench.transport.mqtt_link import Broker, MqttHub


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    try:
        mosquitto_path()
    except ToolMissingError as exc:
        pytest.skip(str(exc))


def test_a_password_broker_admits_only_its_user() -> None:
    with Mosquitto(users={"bench": "s3cret-pass"}) as broker:
        good = Broker.from_url(broker.url, username="bench", password="s3cret-pass")
        with MqttHub(good) as hub:
            assert hub.connected.is_set()
        for wrong in (
            Broker.from_url(broker.url),
            Broker.from_url(broker.url, username="bench", password="guess"),
        ):
            with pytest.raises(TransportError, match="did not accept"):
                MqttHub(wrong, client_id="intruder").start()


def test_the_rig_starts_its_broker_with_the_configured_user(tmp_path: Path) -> None:
    pw = tmp_path / "broker.pw"
    pw.write_text("rig-pass\n")
    pw.chmod(0o600)
    bench = parse_bench_config(
        {
            "mqtt": {"username": "rig", "password_file": str(pw), "topic_prefix": "auth"},
            "meters": [{"id": "mq-a", "kind": "mqtt", "power_w": 300.0}],
        },
        source=tmp_path / "bench.toml",
    )
    with Rig(bench) as rig, rig.opener("mq-a")() as driver:  # type: ignore[attr-defined]
        assert driver.read().power_w == pytest.approx(300.0)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_with_the_self_signed_ca_and_only_with_it(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with Mosquitto(tls=(cert, key)) as broker:
        assert broker.url.startswith("mqtts://")
        with MqttHub(Broker.from_url(broker.url, ca_file=cert)) as hub:
            assert hub.connected.is_set()
        with pytest.raises(TransportError):  # the system's CAs do not know ours
            MqttHub(Broker.from_url(broker.url), client_id="no-ca").start()
