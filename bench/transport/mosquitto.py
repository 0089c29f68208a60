"""A private Eclipse Mosquitto broker on a free loopback port (started and stopped cleanly).

Persistence is on, in the broker's own directory: sessions, subscriptions and queued QoS 1
messages survive :meth:`Mosquitto.restart` (mosquitto writes its database on SIGTERM).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.errors import ToolMissingError, TransportError

INSTALL_HINT = "install it: apt-get install mosquitto (Debian/Ubuntu; `make setup` does it)"
START_TIMEOUT_S = 10.0


def mosquitto_path() -> str:
    """The mosquitto binary; ToolMissingError with the install command when absent."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ToolMissingError(f"the MQTT broker mosquitto is not installed; {INSTALL_HINT}")
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A broker process of our own (a context manager); ``url`` is ``mqtt://127.0.0.1:PORT``.

    ``users`` (name -> password): only they may connect; else anonymous clients may.
    ``tls`` (certificate, key): serve MQTT over TLS (``mqtts://``) only.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        users: dict[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.binary = mosquitto_path()
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="gridbench-mqtt-"))
        self.password_file = self._password_file(users) if users else None
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    def _password_file(self, users: dict[str, str]) -> Path:
        """The broker's hashed password file (mosquitto_passwd), mode 0600."""
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            raise ToolMissingError(f"mosquitto_passwd is not installed; {INSTALL_HINT}")
        path = self.data_dir / "passwd"
        path.touch(mode=0o600)
        for user, password in users.items():
            subprocess.run([tool, "-b", str(path), user, password], check=True, timeout=30)
        return path

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's log."""
        return self.data_dir / "mosquitto.log"

    def _write_config(self) -> Path:
        auth = (
            f"allow_anonymous false\npassword_file {self.password_file}\n"
            if self.password_file
            else "allow_anonymous true\n"
        )
        tls = f"certfile {self.tls[0]}\nkeyfile {self.tls[1]}\n" if self.tls else ""
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"{tls}"
            f"{auth}"
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.data_dir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "set_tcp_nodelay true\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        return conf

    def start(self) -> Mosquitto:
        """Start the broker and wait until it accepts connections."""
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise TransportError(
                    f"mosquitto exited at start (code {self.proc.returncode}): "
                    f"{(err + log).strip()[-500:]}; is port {self.port} taken?"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TransportError(f"mosquitto did not listen on port {self.port} within 10 s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM: it saves its database); idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
        if proc.stderr:
            proc.stderr.close()

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s``, start again on the same port and database."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
