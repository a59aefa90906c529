"""A loopback TCP fault proxy for Redis and PostgreSQL: client ⇄ proxy ⇄ server, with faults.

It understands just enough of the wire protocol (RESP, or PostgreSQL's v3 protocol with
``protocol="postgres"``) to tell requests and replies apart, so it can act on *one* command:

* **drop a reply**: the command is forwarded and the server executes it, the reply is swallowed
  and the client connection is closed (the client sees "connection closed" after a write that
  happened);
* **reset**: the command is *not* forwarded; the client connection is reset (RST);
* **delay**: every reply waits ``delay`` seconds before it is forwarded;
* ``reset_all()``: reset every open client connection now.

Drops are chosen by command index (``drop_nth``), by the next command with a given name
(``drop_next``), or at random (``drop_rate``, seeded; only commands in ``droppable``, so the
connection handshake — ``HELLO``, ``CLIENT SETINFO``, ``AUTH``, ``SELECT`` — goes through);
resets likewise (``reset_nth``, ``reset_rate``).
Counters (``commands``, ``by_command``, ``dropped``, ``resets``, ``connections``) are plain
ints, updated on the proxy's own thread and readable from any other.

    >>> with PrivateRedis() as server, FaultProxy(server.port) as proxy:   # doctest: +SKIP
    ...     cache = RedisCache(url=proxy.url)
    ...     proxy.drop_next(b"SET")
    ...     cache.set("k", b"v")   # the server stored it; redis-py retried the SET
    ...     proxy.dropped
    1

**PostgreSQL** (``FaultProxy(5432, protocol="postgres")``; ``proxy.route(url)`` points a
``postgresql://`` URL at the proxy).  A *request* is what the client sends up to and including
a ``Sync`` (extended protocol: ``Parse``/``Bind``/``Describe``/``Execute``/``Sync``, what psycopg
sends for each ``execute``) or a simple ``Query``; its *reply* is everything the server sends up
to and including the ``ReadyForQuery`` that answers it — exactly one per ``Sync`` or ``Query``,
sent after the implicit transaction of an autocommit statement has committed.  So:

* **drop** forwards the request, holds the server's reply until its ``ReadyForQuery`` (the
  statement ran and committed), then swallows all of it and resets the client connection;
* **reset** forwards nothing of the request and resets the client connection;
* ``commands`` counts requests, i.e. round trips; a request is named by the first word of its
  SQL (``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``…; a ``Bind`` of a statement psycopg
  prepared earlier on that connection is named by the prepared SQL), the connection's startup
  exchange ``STARTUP`` (never dropped at random: ``droppable`` defaults to
  :data:`POSTGRES_DATA_COMMANDS`).

The proxy answers the client's ``SSLRequest``/``GSSENCRequest`` itself with ``N`` (it must read
the protocol, so the session is plaintext), whatever ``sslmode=prefer`` would have chosen.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import struct
import threading
import urllib.parse
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any

__all__ = ["DATA_COMMANDS", "POSTGRES_DATA_COMMANDS", "FaultProxy", "pg_request_name", "resp_end"]

DATA_COMMANDS = frozenset(
    {b"GET", b"SET", b"DEL", b"GETDEL", b"GETEX", b"PEXPIRE", b"EVALSHA", b"EVAL", b"SCAN",
     b"UNLINK", b"RPUSH", b"LRANGE"}
)  # fmt: skip
"""What ``drop_rate`` may hit by default: the commands a cache sends, not the handshake."""

POSTGRES_DATA_COMMANDS = frozenset({b"SELECT", b"INSERT", b"UPDATE", b"DELETE", b"WITH"})
"""Likewise for ``protocol="postgres"``: statements, not the connection's startup exchange."""

# PostgreSQL's untyped first messages (Int32 length, Int32 code)
_PG_SSL_REQUEST = 80877103
_PG_GSSENC_REQUEST = 80877104
_PG_CANCEL_REQUEST = 80877102

_LINE_TYPES = frozenset(b"+-:_,#(")
_BULK_TYPES = frozenset(b"$!=")
_AGGREGATE_TYPES = frozenset(b"*~>")


def resp_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """The index just past the one RESP2/RESP3 value (or inline command) at ``pos``;
    ``None`` if ``buf`` does not hold all of it yet."""
    if pos >= len(buf):
        return None
    line_end = buf.find(b"\r\n", pos)
    if line_end < 0:
        return None
    kind = buf[pos]
    if kind in _LINE_TYPES:
        return line_end + 2
    if kind in _BULK_TYPES:
        length = int(buf[pos + 1 : line_end])
        if length < 0:
            return line_end + 2
        end = line_end + 2 + length + 2
        return end if end <= len(buf) else None
    if kind in _AGGREGATE_TYPES or kind in b"%|":
        count = int(buf[pos + 1 : line_end])
        if kind in b"%|":
            count *= 2
        at: int | None = line_end + 2
        for _ in range(max(count, 0)):
            assert at is not None
            at = resp_end(buf, at)
            if at is None:
                return None
        if kind == ord("|"):  # an attribute precedes the value it describes
            return resp_end(buf, at) if at is not None else None
        return at
    return line_end + 2  # an inline command ("PING\r\n")


def command_name(buf: bytes | bytearray, start: int, end: int) -> bytes:
    """The upper-cased first word of the command in ``buf[start:end]``."""
    if buf[start] != ord("*"):
        return bytes(buf[start:end]).split()[0].upper() if end > start + 2 else b""
    first = buf.find(b"\r\n", start) + 2
    if buf[first] != ord("$"):
        return b""
    length_end = buf.find(b"\r\n", first)
    length = int(buf[first + 1 : length_end])
    return bytes(buf[length_end + 2 : length_end + 2 + length]).upper()


def pg_request_name(sql: bytes | None) -> bytes:
    """The upper-cased first word of a request's SQL (``SYNC`` for a request without any)."""
    words = (sql or b"").split(None, 1)
    return words[0].upper().rstrip(b";") if words else b"SYNC"


def _cstrings(body: bytes | bytearray, count: int) -> list[bytes]:
    """The first ``count`` NUL-terminated strings of a message body."""
    found, at = [], 0
    for _ in range(count):
        end = body.index(0, at)
        found.append(bytes(body[at:end]))
        at = end + 1
    return found


class FaultProxy:
    """A TCP proxy in front of ``upstream_host:upstream_port`` on a free loopback port."""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        drop_rate: float = 0.0,
        reset_rate: float = 0.0,
        seed: int = 0,
        droppable: Iterable[bytes] | None = None,
        delay: float = 0.0,
        protocol: str = "resp",
    ) -> None:
        if protocol not in ("resp", "postgres"):
            raise ValueError(f"protocol must be 'resp' or 'postgres', got {protocol!r}")
        self.protocol = protocol
        self.upstream = (upstream_host, upstream_port)
        self.drop_rate = drop_rate
        self.reset_rate = reset_rate
        if droppable is None:
            droppable = POSTGRES_DATA_COMMANDS if protocol == "postgres" else DATA_COMMANDS
        self.droppable = frozenset(droppable)
        self.delay = delay
        self._random = random.Random(seed)
        self._drop_at: set[int] = set()
        self._reset_at: set[int] = set()
        self._drop_next: collections.Counter[bytes | None] = collections.Counter()
        self._lock = threading.Lock()
        # counters
        self.commands = 0
        self.by_command: collections.Counter[bytes] = collections.Counter()
        self.replies = 0
        self.dropped = 0
        self.dropped_by_command: collections.Counter[bytes] = collections.Counter()
        self.resets = 0
        self.connections = 0
        # machinery
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # --- faults ---------------------------------------------------------------------------

    def drop_nth(self, n: int) -> None:
        """Drop the reply to the ``n``-th command the proxy sees (1-based, all connections)."""
        with self._lock:
            self._drop_at.add(n)

    def drop_next(self, command: bytes | None = None, times: int = 1) -> None:
        """Drop the reply to the next ``times`` commands named ``command`` (``None``: any)."""
        with self._lock:
            self._drop_next[command.upper() if command else None] += times

    def reset_nth(self, n: int) -> None:
        """Reset the client connection instead of forwarding the ``n``-th command."""
        with self._lock:
            self._reset_at.add(n)

    def reset_all(self) -> None:
        """Reset (RST) every open client connection now."""
        loop = self._loop
        assert loop is not None
        done = threading.Event()

        def reset() -> None:
            for writer in list(self._writers):
                self._abort(writer)
                self.resets += 1
            done.set()

        loop.call_soon_threadsafe(reset)
        done.wait(5)

    def reset_counters(self) -> None:
        with self._lock:
            self.commands = self.replies = self.dropped = self.resets = self.connections = 0
            self.by_command.clear()
            self.dropped_by_command.clear()

    @property
    def url(self) -> str:
        """A URL of the proxy: ``redis://…/0``, or ``postgresql://127.0.0.1:PORT`` (with no user
        nor database: prefer :meth:`route`)."""
        if self.protocol == "postgres":
            return f"postgresql://127.0.0.1:{self.port}"
        return f"redis://127.0.0.1:{self.port}/0"

    def route(self, url: str) -> str:
        """``url`` (user, password, path and query kept) with its host and port the proxy's."""
        parts = urllib.parse.urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}").geturl()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", 0)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                self._abort(writer)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the relay ------------------------------------------------------------------------

    def _decide(self, name: bytes) -> str:
        """``forward``, ``drop`` (forward, swallow the reply) or ``reset`` (do not forward)."""
        with self._lock:
            self.commands += 1
            self.by_command[name] += 1
            n = self.commands
            if n in self._reset_at:
                self._reset_at.discard(n)
                return "reset"
            if n in self._drop_at:
                self._drop_at.discard(n)
                return "drop"
            for wanted in (name, None):
                if self._drop_next[wanted] > 0:
                    self._drop_next[wanted] -= 1
                    return "drop"
            if name in self.droppable and (self.drop_rate or self.reset_rate):
                draw = self._random.random()
                if draw < self.drop_rate:
                    return "drop"
                if draw < self.drop_rate + self.reset_rate:
                    return "reset"
        return "forward"

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._abort(client_w)
            return
        self._writers.add(client_w)
        pending: collections.deque[tuple[str, bytes]] = collections.deque()
        closed = asyncio.Event()

        async def upstream() -> None:  # client → server, command by command
            buf = bytearray()
            while not closed.is_set():
                data = await client_r.read(65536)
                if not data:
                    break
                buf += data
                start = 0
                out = bytearray()
                while (end := resp_end(buf, start)) is not None:
                    name = command_name(buf, start, end)
                    action = self._decide(name)
                    if action == "reset":
                        server_w.write(out)
                        self.resets += 1
                        self._abort(client_w)
                        closed.set()
                        return
                    pending.append((action, name))
                    out += buf[start:end]
                    start = end
                del buf[:start]
                if out:
                    server_w.write(out)
                    await server_w.drain()
            closed.set()

        async def downstream() -> None:  # server → client, reply by reply
            buf = bytearray()
            while not closed.is_set():
                data = await server_r.read(65536)
                if not data:
                    break
                buf += data
                start = 0
                out = bytearray()
                while (end := resp_end(buf, start)) is not None:
                    is_push = buf[start] == ord(">")
                    action, name = ("forward", b"") if is_push or not pending else pending.popleft()
                    if action == "drop":
                        client_w.write(out)  # replies before it still arrive
                        self.dropped += 1
                        self.dropped_by_command[name] += 1
                        self._abort(client_w)
                        closed.set()
                        return
                    if not is_push:
                        self.replies += 1
                    out += buf[start:end]
                    start = end
                del buf[:start]
                if out:
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    client_w.write(out)
                    await client_w.drain()
            closed.set()

        if self.protocol == "postgres":
            pipes = self._postgres_pipes(client_r, client_w, server_r, server_w, pending, closed)
        else:
            pipes = (upstream(), downstream())
        tasks = [asyncio.create_task(pipe) for pipe in pipes]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled():
                    task.exception()  # a reset peer: nothing to report
        except asyncio.CancelledError:
            pass  # the proxy is stopping (the task ends quietly: asyncio logs a cancelled one)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._writers.discard(client_w)
            client_w.transport.abort()
            server_w.transport.abort()

    # --- PostgreSQL -----------------------------------------------------------------------

    def _postgres_pipes(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_r: asyncio.StreamReader,
        server_w: asyncio.StreamWriter,
        pending: collections.deque[tuple[str, bytes]],
        closed: asyncio.Event,
    ) -> tuple[Coroutine[Any, Any, None], Coroutine[Any, Any, None]]:
        """The two relays of one PostgreSQL connection (see the module's docstring)."""
        statements: dict[bytes, bytes] = {}  # this connection's prepared statements: name → SQL

        def reset(out: bytearray) -> None:
            server_w.write(out)  # the requests before it still reach the server
            self.resets += 1
            self._abort(client_w)
            closed.set()

        async def upstream() -> None:  # client → server, request by request
            buf = bytearray()
            started = raw = False
            batch = bytearray()
            sql: bytes | None = None
            while not closed.is_set():
                data = await client_r.read(65536)
                if not data:
                    break
                if raw:  # a CancelRequest connection: nothing to interpret
                    server_w.write(data)
                    await server_w.drain()
                    continue
                buf += data
                start = 0
                out = bytearray()
                while True:
                    if not started:  # untyped: Int32 length, Int32 code, rest
                        if len(buf) - start < 8:
                            break
                        length, code = struct.unpack_from("!ii", buf, start)
                        if len(buf) - start < length:
                            break
                        message = buf[start : start + length]
                        start += length
                        if code in (_PG_SSL_REQUEST, _PG_GSSENC_REQUEST):
                            client_w.write(b"N")  # plaintext: the proxy must read the protocol
                            continue
                        started = True
                        if code == _PG_CANCEL_REQUEST:
                            raw = True
                            out += message + buf[start:]
                            start = len(buf)
                            break
                        if self._decide(b"STARTUP") == "reset":
                            reset(out)
                            return
                        pending.append(("forward", b"STARTUP"))
                        out += message
                        continue
                    if len(buf) - start < 5:
                        break
                    kind = buf[start]
                    end = start + 1 + int.from_bytes(buf[start + 1 : start + 5], "big")
                    if end > len(buf):
                        break
                    message, body = buf[start:end], buf[start + 5 : end]
                    start = end
                    if kind in b"pX":  # authentication, Terminate: no request of their own
                        out += message
                        continue
                    if kind == ord("P"):
                        name, query = _cstrings(body, 2)
                        if name:
                            statements[name] = query
                        sql = query if sql is None else sql
                    elif kind == ord("B") and sql is None:
                        sql = statements.get(_cstrings(body, 2)[1])
                    elif kind == ord("Q"):
                        sql = _cstrings(body, 1)[0] if sql is None else sql
                    batch += message
                    if kind not in b"SQ":
                        continue
                    name = pg_request_name(sql)  # a request is complete: one ReadyForQuery
                    batch_bytes, sql = bytes(batch), None
                    batch.clear()
                    action = self._decide(name)
                    if action == "reset":
                        reset(out)
                        return
                    pending.append((action, name))
                    out += batch_bytes
                del buf[:start]
                if out:
                    server_w.write(out)
                    await server_w.drain()
            closed.set()

        async def downstream() -> None:  # server → client, whole replies (to ReadyForQuery)
            buf = bytearray()
            scanned = 0  # buf[:scanned] is whole messages of the reply being received
            while not closed.is_set():
                data = await server_r.read(65536)
                if not data:
                    break
                buf += data
                reply_start = 0
                out = bytearray()
                while len(buf) - scanned >= 5:
                    end = scanned + 1 + int.from_bytes(buf[scanned + 1 : scanned + 5], "big")
                    if end > len(buf):
                        break
                    kind, scanned = buf[scanned], end
                    if kind != ord("Z"):
                        continue
                    action, name = pending.popleft() if pending else ("forward", b"")
                    if action == "drop":
                        client_w.write(out)  # replies before it still arrive
                        self.dropped += 1
                        self.dropped_by_command[name] += 1
                        self._abort(client_w)
                        closed.set()
                        return
                    self.replies += 1
                    out += buf[reply_start:scanned]
                    reply_start = scanned
                del buf[:reply_start]
                scanned -= reply_start
                if out:
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    client_w.write(out)
                    await client_w.drain()
            if buf and not closed.is_set():  # what the server said before it closed (FATAL …)
                client_w.write(buf)
                with contextlib.suppress(OSError):
                    await client_w.drain()
            closed.set()

        return upstream(), downstream()
