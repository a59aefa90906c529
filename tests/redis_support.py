"""Helpers for tests that talk to a real Redis: find it, namespace it, start a private one.

* ``REDIS_URL``: the shared server (``redis://127.0.0.1:6379/0``; env ``LLM_CORE_TEST_REDIS_URL``
  overrides it).
* ``require_redis(url)``: skip when no server answers, unless env ``LLM_CORE_REQUIRE_REDIS`` is
  set, in which case a missing server fails the test.
* ``unique_prefix()`` and ``delete_prefix(url, prefix)``: one namespace per test, cleaned after.
* ``PrivateRedis``: a throw-away ``redis-server`` on a free port (no persistence) that a test can
  stop and restart to see what "down" looks like.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

import pytest

REDIS_URL = os.environ.get("LLM_CORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_answers(url: str = REDIS_URL, timeout: float = 0.5) -> bool:
    """True if a Redis server at ``url`` answers ``PING``."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.exceptions.RedisError, OSError):
        return False
    finally:
        client.close()


def require_redis(url: str = REDIS_URL) -> str:
    """Return ``url`` if its server answers; else skip (or fail under LLM_CORE_REQUIRE_REDIS)."""
    if redis_answers(url):
        return url
    message = f"no Redis server answers at {url}"
    if os.environ.get("LLM_CORE_REQUIRE_REDIS"):
        pytest.fail(message + " and LLM_CORE_REQUIRE_REDIS is set")
    pytest.skip(message + " (set LLM_CORE_REQUIRE_REDIS=1 to make this a failure)")


def unique_prefix(label: str = "test") -> str:
    """A namespace no other test run uses."""
    return f"llm-core-{label}:{uuid.uuid4().hex}:"


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (a literal prefix, glob characters escaped)."""
    import redis

    if not prefix:
        raise ValueError("refusing to delete every key of the database: give a prefix")
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=escaped + "*", count=1000))
        for start in range(0, len(names), 1000):
            client.unlink(*names[start : start + 1000])
        return len(names)
    finally:
        client.close()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A private ``redis-server`` on 127.0.0.1 (no RDB, no AOF), for tests that stop it.

    >>> with PrivateRedis() as server:   # doctest: +SKIP
    ...     cache = RedisCache(url=server.url)
    ...     server.stop()                # now every call raises CacheUnavailableError
    ...     server.start()               # same port: it works again (empty)
    """

    def __init__(
        self, port: int | None = None, binary: str = "redis-server", args: Sequence[str] = ()
    ) -> None:
        """``args``: extra server options, e.g. ``("--requirepass", "secret")``."""
        found = shutil.which(binary)
        if found is None:
            pytest.skip(f"{binary} is not installed")
        self.binary = found
        self.port = port or free_port()
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.process is not None:
            raise RuntimeError("already running")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                self.process = None
                raise RuntimeError(f"redis-server on port {self.port} exited: {err}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not answer in time")
            time.sleep(0.01)
        return self

    def _answers(self) -> bool:
        """The server replies to PING (``+PONG``, or ``-NOAUTH`` when it wants a password)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server and wait until it has exited (idempotent)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
