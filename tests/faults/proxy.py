"""A loopback TCP fault proxy for Redis: client ⇄ proxy ⇄ ``redis-server``, with faults.

It understands just enough RESP to tell commands and replies apart, so it can act on *one*
command:

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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Iterable
from types import TracebackType

__all__ = ["DATA_COMMANDS", "FaultProxy", "resp_end"]

DATA_COMMANDS = frozenset(
    {b"GET", b"SET", b"DEL", b"GETDEL", b"GETEX", b"PEXPIRE", b"EVALSHA", b"EVAL", b"SCAN",
     b"UNLINK", b"RPUSH", b"LRANGE"}
)  # fmt: skip
"""What ``drop_rate`` may hit by default: the commands a cache sends, not the handshake."""

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
        droppable: Iterable[bytes] = DATA_COMMANDS,
        delay: float = 0.0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.drop_rate = drop_rate
        self.reset_rate = reset_rate
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
        return f"redis://127.0.0.1:{self.port}/0"

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

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
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
