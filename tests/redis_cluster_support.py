"""A private Redis Cluster for tests: ``redis-server`` masters on free loopback ports.

>>> with PrivateRedisCluster(masters=3) as cluster:   # doctest: +SKIP
...     cache = RedisCache(url=cluster.url)            # redis+cluster://127.0.0.1:P1
...     cluster.ports                                  # [P1, P2, P3]

Each node runs in its own folder under a temporary directory (``--cluster-config-file``, no RDB,
no AOF); ``redis-cli --cluster create ... --cluster-yes`` assigns the 16,384 slots evenly; the
cluster is ready when every node's ``CLUSTER INFO`` says ``cluster_state:ok``.  ``stop()`` stops
exactly the processes this object started (by their ``Popen``), then removes the folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.redis_support import free_port


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _ask(port: int, *command: str, timeout: float = 0.5) -> bytes:
    """Send one inline command to 127.0.0.1:``port``; the raw reply (b"" when down)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall((" ".join(command) + "\r\n").encode())
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.endswith(b"\r\n") and (
                    not data.startswith(b"$") or data.count(b"\r\n") >= 2
                ):
                    break
            return data
    except OSError:
        return b""


class PrivateRedisCluster:
    """``masters`` redis-server processes in cluster mode, slots spread by ``redis-cli``."""

    def __init__(self, masters: int = 3) -> None:
        for binary in ("redis-server", "redis-cli"):
            if shutil.which(binary) is None:
                pytest.skip(f"{binary} is not installed")
        self.masters = masters
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.folder: Path | None = None

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL of the first node (the client discovers the others)."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, timeout: float = 10.0) -> PrivateRedisCluster:
        self.folder = Path(tempfile.mkdtemp(prefix="llm-core-cluster-"))
        deadline = time.monotonic() + timeout
        try:
            self.ports = [_free_cluster_port() for _ in range(self.masters)]
            for port in self.ports:
                self._start_node(port)
            for port in self.ports:
                self._wait(lambda p=port: _ask(p, "PING").startswith(b"+PONG"), deadline, port)
            create = subprocess.run(
                ["redis-cli", "--cluster", "create",
                 *(f"127.0.0.1:{port}" for port in self.ports), "--cluster-yes"],
                capture_output=True,
                timeout=max(1.0, deadline - time.monotonic()),
            )  # fmt: skip
            if create.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout!r}")
            for port in self.ports:
                self._wait(lambda p=port: self.state_ok(p), deadline, port)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, port: int) -> None:
        assert self.folder is not None
        node_dir = self.folder / str(port)
        node_dir.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", "2000", "--dir", str(node_dir), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _wait(self, ready: object, deadline: float, port: int) -> None:
        while not ready():  # type: ignore[operator]
            process = self.processes.get(port)
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"cluster node on port {port} exited")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster node on port {port} was not ready in time")
            time.sleep(0.02)

    def state_ok(self, port: int) -> bool:
        return b"cluster_state:ok" in _ask(port, "CLUSTER", "INFO")

    def stop(self) -> None:
        """Stop the nodes this object started and remove their folder (idempotent)."""
        processes, self.processes = self.processes, {}
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PrivateRedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_shared: PrivateRedisCluster | None = None


def shared_cluster(config: pytest.Config) -> PrivateRedisCluster:
    """The one 3-master cluster of this test session: started on first use, stopped when
    pytest finishes (``config.add_cleanup``), so every module and class shares it."""
    global _shared
    if _shared is None:
        _shared = PrivateRedisCluster(masters=3).start()
        config.add_cleanup(_stop_shared)
    return _shared


def _stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


@pytest.fixture(scope="session")
def redis_cluster(pytestconfig: pytest.Config) -> PrivateRedisCluster:
    """The session's 3-master Redis Cluster (see :func:`shared_cluster`)."""
    return shared_cluster(pytestconfig)
