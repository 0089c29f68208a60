"""A local Anvil node: free loopback port, readiness wait, clean stop, saved state."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from bench.chain.tools import native_binary
from bench.errors import ChainError

ANVIL_CHAIN_ID = 31337


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listens_on(pid: int, port: int) -> bool:
    """True when process ``pid`` holds the socket listening on TCP ``port`` (also where
    ``/proc`` cannot tell): an answer on the port may come from another process's node."""
    try:
        fd_dir = Path(f"/proc/{pid}/fd")
        sockets = {str(link.readlink()) for link in fd_dir.iterdir()}
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return True
    for row in rows:
        fields = row.split()
        # local address HEXIP:HEXPORT, state 0A = LISTEN, field 9 the socket's inode
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            return f"socket:[{fields[9]}]" in sockets
    return False


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout_s: float = 5.0):
    """One raw JSON-RPC call; raises OSError/ValueError on transport or protocol failure."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise ValueError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply["result"]


class _PortTaken(ChainError):
    """Anvil could not bind its port: another process holds it."""


class Anvil:
    """An Anvil process on a free loopback port; use as a context manager.

    ``load_state`` starts from a state file written earlier by ``dump_state`` (or by
    ``dump_state_on_stop``, which Anvil writes when it is stopped cleanly).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = ANVIL_CHAIN_ID,
        load_state: Path | None = None,
        dump_state_on_stop: Path | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.port = port or free_port()
        self._port_chosen = port is None  # another may be picked if this one is taken
        self.chain_id = chain_id
        self.load_state = load_state
        self.dump_state_on_stop = dump_state_on_stop
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()  # start() may stop() on a failed restart
        self.restarts = 0
        """How often :meth:`supervise` brought the node back."""

    @property
    def url(self) -> str:
        """The node's HTTP JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The Anvil process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the Anvil process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Anvil:
        """Spawn the native anvil binary and wait until ``eth_chainId`` answers.

        A port picked free that another process takes before Anvil binds it (a busy
        machine running several benches) is replaced by another, twice at most."""
        if self.running:
            return self
        retries = 2 if self._port_chosen else 0
        while True:
            try:
                return self._spawn()
            except _PortTaken:
                if not retries:
                    raise
                retries -= 1
                self.port = free_port()

    def _spawn(self) -> Anvil:
        args = [
            str(native_binary("anvil")),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--silent",
        ]  # fmt: skip
        if self.load_state is not None:
            if not Path(self.load_state).is_file():
                raise ChainError(
                    f"Anvil state file {self.load_state} does not exist: "
                    "give the file written by a previous run's dump_state, or start fresh"
                )
            args += ["--load-state", str(self.load_state)]
        if self.dump_state_on_stop is not None:
            args += ["--dump-state", str(self.dump_state_on_stop)]
        # stderr goes to a file, not a pipe: a pipe nobody drains would block anvil when full.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        # Its own session: a Ctrl-C at the terminal reaches the bench only, which winds
        # down on chain (locks, closes sessions) before it stops Anvil itself.
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code, stderr = self._process.returncode, self._stderr_text()
                self.stop()
                error = _PortTaken if "Address already in use" in stderr else ChainError
                raise error(
                    f"anvil exited with code {code} on port {self.port}: "
                    f"{stderr.strip()[-500:] or 'no output'}; check the port and state file"
                )
            try:
                rpc_call(self.url, "eth_chainId", timeout_s=0.5)
                if _listens_on(self._process.pid, self.port):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        self.stop()
        raise ChainError(
            f"anvil did not answer on {self.url} within {self.start_timeout_s:.0f} s: "
            "check that the machine is not overloaded and retry"
        )

    def supervise(self, state: Path, notify: Callable[[str], None], poll_s: float = 0.1) -> None:
        """Watch the process on a thread: if it dies (``kill -9``, a crash) before
        :meth:`stop`, start it again on the same port from ``state`` (the last
        :meth:`dump_state`), so clients that retry carry on; ``notify`` says what happened."""
        self._stopping.clear()

        def watch() -> None:
            while not self._stopping.wait(poll_s):
                with self._lock:
                    process = self._process
                    if self._stopping.is_set() or process is None or process.poll() is None:
                        continue
                    code = process.returncode
                    if not Path(state).is_file():
                        notify(
                            f"Anvil exited (code {code}) and no state was saved yet: the "
                            "chain is lost; start a new run"
                        )
                        return
                    self.load_state = Path(state)
                    self._process = None
                    if self._stderr is not None:
                        self._stderr.close()
                        self._stderr = None
                    try:
                        self.start()
                    except ChainError as exc:
                        notify(f"Anvil exited (code {code}) and could not restart: {exc}")
                        return
                    self.restarts += 1
                notify(
                    f"Anvil exited (code {code}): restarted on {self.url} from {Path(state).name}; "
                    "transactions since that state are sent again"
                )

        threading.Thread(target=watch, name="anvil-supervisor", daemon=True).start()

    def dump_state(self, path: Path) -> Path:
        """Write the node's whole state to ``path`` now, in the format ``load_state`` reads."""
        state = rpc_call(self.url, "anvil_dumpState", timeout_s=30.0)
        Path(path).write_bytes(gzip.decompress(bytes.fromhex(state.removeprefix("0x"))))
        return Path(path)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate (state is dumped if asked), wait, kill on timeout; never leaves orphans."""
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
