"""RedisCache's ``IndexedCache`` face: ``index_prefix``, ``page``, ``apage``, and the writes of
keys under an indexed prefix (``RedisCache`` hands them here).  The decisions are in
``_index_plan``; this module runs their steps on the sync and async clients.

Retries keep the client policy's rule (every retried command idempotent or fenced): ``WRITE``
sets the same bytes with a fresh member and deadline (``set``, ``touch``), deletes again
(``del``), or is fenced like ``CAS_SCRIPT`` (``cas``); ``BEGIN`` run twice leaves one spare
member that matches no record (dropped later); ``END``, ``PRUNE``, ``ADOPT``, ``WALK`` and the
reads are idempotent; ``PEXPIREAT`` and ``SET … PXAT`` name an absolute deadline.  A ``take``
(``WRITE`` with ``GETDEL``, or ``GETDEL`` on a cluster) is sent once, never again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, NamedTuple

from llm_core._log import get_logger
from llm_core.cache._contract import IndexedEntry, Labeler
from llm_core.cache._errors import map_exceptions
from llm_core.cache._labels import with_index
from llm_core.cache._validation import check_key, check_page, check_ttl, check_value
from llm_core.cache.redis._commands import SCAN_COUNT, cmd_cas, glob_escape, slot_groups
from llm_core.cache.redis._conn import asend_once, send_once
from llm_core.cache.redis._index_plan import (
    CLUSTER_SHARDS,
    GRACE,
    SCRIPTS,
    PageQuery,
    Step,
    Target,
    adopt_command,
    encode_label,
    index_pattern_head,
    labels_for,
    page_plan,
    px_of,
    registry_name,
    run,
    shard_of,
    shard_slot,
    start_of,
    target,
    write_plan,
)

__all__ = ["RedisIndex"]


class _Write(NamedTuple):
    """A checked write of a key under an indexed prefix."""

    op: str
    prefix: str
    key: str
    labels: str
    px: str
    expected: bytes | None
    new: bytes | None


_logger = get_logger("cache")
_ADOPT_BATCH = 500


class RedisIndex:
    """Mixed into :class:`~llm_core.cache.redis.RedisCache` (uses its clients and mapping)."""

    _indexes: tuple[tuple[str, Labeler], ...] = ()
    _ix_grace: float = GRACE  # seconds (cluster); tests may lower it
    _ix_deadlines: bool | None = None  # the server has PEXPIRETIME (Redis >= 7.0)
    _ix_pending: frozenset[str] = frozenset()  # prefixes whose earlier records may be unindexed
    _prefix: str
    _cluster: bool
    _client: Any
    _execute: Any
    _no_script: type[BaseException]
    _response_error: type[BaseException]
    _errors: tuple[type[BaseException], ...]

    def _map(self, command: str) -> map_exceptions:
        raise NotImplementedError

    def _aclient(self) -> Any:
        raise NotImplementedError

    # --- which writes are indexed -------------------------------------------------------

    def _ix_covers(self, key: object) -> bool:
        """``key`` is under a prefix this cache indexes (then its writes come here)."""
        return isinstance(key, str) and any(key.startswith(p) for p, _ in self._indexes)

    def _ix_check(self, op: str, key: str, args: tuple[Any, ...]) -> _Write:
        """Validate the call as the plain commands do, and work out its labels and PX."""
        check_key(key)
        prefix = next(p for p, _ in self._indexes if key.startswith(p))
        expected = new = None
        px = labels = ""
        if op == "set":
            new, ttl = args
            check_value(new)
            px = px_of(check_ttl(ttl))
        elif op == "cas":
            expected, new, ttl = args
            for given in (expected, new):
                if given is not None:
                    check_value(given)
            px = px_of(check_ttl(ttl))
        elif op == "touch":
            px = px_of(check_ttl(args[0]))
        if new is not None and px:
            labels = labels_for(self._indexes, prefix, key, new)
        return _Write(op, prefix, key, labels, px, expected, new)

    def _ix_plan(self, client: Any, write: _Write) -> Generator[Step, Any, Any]:
        if write.op == "cas" and write.expected is None and write.new is None:
            return _plain(cmd_cas(self._prefix, write.key, None, None, None), bool)  # reads only
        where = self._target(client, write.prefix, write.key)
        args = (write.labels, write.px, write.expected, write.new)
        return write_plan(write.op, where, self._cluster, *args)

    def _target(self, client: Any, prefix: str, key: str) -> Target:
        """Where ``key``'s index entry goes: on a cluster, one of the shards whose slot its own
        record's master serves (all shards if it serves none, or the map cannot tell)."""
        if not self._cluster:
            return target(self._prefix, prefix, key, 0, 1)
        among: list[int] = []
        try:
            home = client.get_node_from_key(self._prefix + key).name
            manager = client.nodes_manager
            among = [
                shard
                for shard in range(CLUSTER_SHARDS)
                if manager.get_node_from_slot(shard_slot(shard, CLUSTER_SHARDS)).name == home
            ]
        except Exception:  # noqa: S110 - any gap in the client's map: spread over all
            pass
        shard = shard_of(key, among or range(CLUSTER_SHARDS))
        return target(self._prefix, prefix, key, shard, CLUSTER_SHARDS)

    def _ix_write(self, op: str, key: str, *args: Any) -> Any:
        write = self._ix_check(op, key, args)
        with self._map("EVALSHA"):
            return self._drive(self._ix_plan(self._client, write))

    async def _aix_write(self, op: str, key: str, *args: Any) -> Any:
        write = self._ix_check(op, key, args)
        with self._map("EVALSHA"):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see RedisCache._aclient
            return await self._adrive(client, self._ix_plan(client, write))

    # --- running plans ------------------------------------------------------------------

    def _drive(self, plan: Generator[Step, Any, Any]) -> Any:
        reply: Any = None
        try:
            while True:
                reply = self._step(plan.send(reply))
        except StopIteration as done:
            return done.value

    async def _adrive(self, client: Any, plan: Generator[Step, Any, Any]) -> Any:
        reply: Any = None
        try:
            while True:
                reply = await self._astep(client, plan.send(reply))
        except StopIteration as done:
            return done.value

    def _step(self, step: Step) -> Any:
        if step.kind == "pipe":
            return self._pipeline(step.commands)
        if step.kind == "best":
            try:
                return self._step(step._replace(kind="pipe" if len(step.commands) > 1 else "one"))
            except self._errors as exc:
                _logger.warning("%r: index upkeep failed (done later): %s", self, exc)
                return None
        command = step.commands[0]
        if step.kind == "once":
            return send_once(
                self._client, self._cluster, command, _inline(command), self._no_script
            )
        try:
            return self._execute(*command)
        except self._no_script:
            return self._execute(*_inline(command))

    async def _astep(self, client: Any, step: Step) -> Any:
        if step.kind == "pipe":
            return await self._apipeline(client, step.commands)
        if step.kind == "best":
            try:
                kind = "pipe" if len(step.commands) > 1 else "one"
                return await self._astep(client, step._replace(kind=kind))
            except self._errors as exc:
                _logger.warning("%r: index upkeep failed (done later): %s", self, exc)
                return None
        command = step.commands[0]
        if step.kind == "once":
            return await asend_once(
                client, self._cluster, command, _inline(command), self._no_script
            )
        try:
            return await client.execute_command(*command)
        except self._no_script:
            return await client.execute_command(*_inline(command))

    def _pipeline(self, commands: tuple[tuple[Any, ...], ...]) -> list[Any]:
        try:
            return self._pipeline_once(commands)
        except self._no_script:  # a server that lost its scripts (restart, failover, flush)
            return self._pipeline_once(tuple(_inline(command) for command in commands))

    async def _apipeline(self, client: Any, commands: tuple[tuple[Any, ...], ...]) -> list[Any]:
        try:
            return await self._apipeline_once(client, commands)
        except self._no_script:
            return await self._apipeline_once(client, tuple(_inline(c) for c in commands))

    def _pipeline_once(self, commands: tuple[tuple[Any, ...], ...]) -> list[Any]:
        if not self._cluster:
            pipe = self._client.pipeline(False)
            for command in commands:
                pipe.execute_command(*command)
            return list(pipe.execute())
        # Each command's node named: redis-py's sync cluster pipeline would otherwise ask the
        # server which keys an EVAL names (COMMAND GETKEYS, one round trip per script).
        pipe = self._client.pipeline()
        node_of = self._client.get_node_from_key
        for command in commands:
            key = command[3] if command[0] in ("EVAL", "EVALSHA") else command[1]
            pipe.execute_command(*command, target_nodes=node_of(key))
        return list(pipe.execute())

    async def _apipeline_once(
        self, client: Any, commands: tuple[tuple[Any, ...], ...]
    ) -> list[Any]:
        pipe = client.pipeline() if self._cluster else client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())

    # --- IndexedCache -------------------------------------------------------------------

    def index_prefix(self, prefix: str, labeler: Labeler) -> None:
        """Index the keys written under ``prefix`` from now on (no I/O); the first page of the
        prefix also indexes the live records stored before anyone indexed it on this server
        (or cluster)."""
        self._indexes = with_index(self._indexes, prefix, labeler)
        self._ix_pending = self._ix_pending | {prefix}

    def _register(self, prefix: str) -> None:
        """Index the records stored before anyone indexed ``prefix`` here (once per server)."""
        registry = registry_name(self._prefix, prefix)
        with self._map("index_prefix"):
            self._probe(registry)
            if not self._execute("EXISTS", registry):
                self._adopt(prefix)
                self._execute("SET", registry, b"1")
        self._ix_pending = self._ix_pending - {prefix}

    def _probe(self, name: str) -> bool:
        if self._ix_deadlines is None:
            try:
                self._execute("PEXPIRETIME", name)
                self._ix_deadlines = True
            except self._response_error:  # Redis < 7.0: unknown command
                self._ix_deadlines = False
        return self._ix_deadlines

    def _adopt(self, prefix: str) -> None:
        """Index the live records under ``prefix`` that no write indexed yet (in batches)."""
        keys = self.keys(prefix)  # type: ignore[attr-defined]
        absolute = bool(self._ix_deadlines)
        for start in range(0, len(keys), _ADOPT_BATCH):
            batch = keys[start : start + _ADOPT_BATCH]
            reads: list[tuple[Any, ...]] = []
            for key in batch:
                name = self._prefix + key
                reads += [("GET", name), ("PEXPIRETIME" if absolute else "PTTL", name)]
            replies = self._pipeline(tuple(reads))
            adopt = []
            for i, key in enumerate(batch):
                value, deadline = replies[2 * i], int(replies[2 * i + 1])
                if value is None or deadline < 0:
                    continue  # gone, or no TTL: never listed
                labels = labels_for(self._indexes, prefix, key, value)
                if labels:
                    where = self._target(self._client, prefix, key)
                    adopt.append(adopt_command(where, labels, deadline, absolute))
            if adopt:
                self._pipeline(tuple(adopt))

    def _page_query(
        self, prefix: object, after: object, newest: bool, labels: object, limit: object
    ) -> PageQuery:
        prefix, position, filters, count = check_page(prefix, after, labels, limit)
        return PageQuery(
            namespace=self._prefix,
            prefix=prefix,
            shards=CLUSTER_SHARDS if self._cluster else 1,
            newest=bool(newest),
            start=start_of(position, bool(newest)),
            filters=(
                "" if filters[0] is None else encode_label(filters[0]),
                "" if filters[1] is None else encode_label(filters[1]),
            ),
            limit=count,
            labeler=dict(self._indexes).get(prefix),
            deadlines=False,  # set by page once the server has been asked
            grace_ms=round(self._ix_grace * 1000) if self._cluster else 0,
        )

    def page(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Up to ``limit`` live entries listed under ``prefix`` past ``after``, by deadline."""
        query = self._page_query(prefix, after, newest, labels, limit)
        if query.prefix in self._ix_pending:
            self._register(query.prefix)
        with self._map("page"):
            if self._ix_deadlines is None:
                self._probe(registry_name(self._prefix, query.prefix))
            query = query._replace(deadlines=bool(self._ix_deadlines))
            found: list[IndexedEntry] = self._drive(page_plan(query))
        return found

    async def apage(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Async face of :meth:`page`."""
        query = self._page_query(prefix, after, newest, labels, limit)
        if query.prefix in self._ix_pending:
            await asyncio.to_thread(self._register, query.prefix)
        with self._map("page"):
            if self._ix_deadlines is None:
                await asyncio.to_thread(self._probe, registry_name(self._prefix, query.prefix))
            query = query._replace(deadlines=bool(self._ix_deadlines))
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see RedisCache._aclient
            found: list[IndexedEntry] = await self._adrive(client, page_plan(query))
        return found

    def _ix_clear(self) -> None:
        """Delete every index key of this cache's namespace (``clear``)."""
        pattern = glob_escape(index_pattern_head(self._prefix)) + "*"
        with self._map("SCAN"):
            if self._cluster:
                names = list(
                    self._client.scan_iter(
                        match=pattern, count=SCAN_COUNT, target_nodes=self._client.PRIMARIES
                    )
                )
                for group in slot_groups(self._client.keyslot, names):
                    self._execute("UNLINK", *group)
            else:
                names = list(self._client.scan_iter(match=pattern, count=SCAN_COUNT))
                for start in range(0, len(names), SCAN_COUNT):
                    self._execute("UNLINK", *names[start : start + SCAN_COUNT])


def _plain(command: tuple[Any, ...], convert: Any) -> Generator[Step, Any, Any]:
    reply = yield run(command)
    return convert(reply)


def _inline(command: tuple[Any, ...]) -> tuple[Any, ...]:
    """``EVALSHA sha …`` as ``EVAL body …``."""
    if command[0] != "EVALSHA":
        return command
    return ("EVAL", SCRIPTS[command[1]], *command[2:])
