"""RedisCache's index beyond the conformance kit, on one server and on the test session's
3-master cluster: order across shards and masters, ties, stale members (expired, deleted or moved
behind the index's back, a write cut between its steps) never returned and pruned, labels with
awkward characters, ``keys``/``clear``, scripts the server forgot, and an ``index_prefix`` that
needs no server (the first page indexes what was stored before)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llm_core.cache import RedisCache
from llm_core.cache.redis._index_lua import BEGIN
from llm_core.cache.redis._index_plan import (
    CLUSTER_SHARDS,
    encode_labels,
    registry_name,
    shard_names,
    shard_slot,
    start_of,
)
from llm_core.errors import CacheUnavailableError
from tests.redis_support import PrivateRedis, unique_prefix

pytestmark = pytest.mark.redis

PREFIX = "s:"


def labeler(value: bytes) -> tuple[str, str] | None:
    first, sep, second = value.decode("utf-8", "replace").partition("|")
    return (first, second) if sep else None


@pytest.fixture(params=["server", "cluster"])
def cache(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[RedisCache]:
    """An indexed cache (prefix ``s:``) on one server or on the cluster, cleared after."""
    if request.param == "server":
        url = request.getfixturevalue("redis_url")
    else:
        from tests.redis_cluster_support import shared_cluster

        url = shared_cluster(pytestconfig).url
    cache = RedisCache(url=url, prefix=unique_prefix("index"))
    cache.index_prefix(PREFIX, labeler)
    try:
        yield cache
    finally:
        cache.clear()
        cache.close()


def shards(cache: RedisCache) -> list[tuple[str, str]]:
    count = CLUSTER_SHARDS if cache.cluster else 1
    return [shard_names(cache.prefix, PREFIX, i, count) for i in range(count)]


def members(cache: RedisCache) -> list[tuple[str, float]]:
    """Every index member of ``s:`` (key part only) with its score, all shards."""
    found = []
    for z, _ in shards(cache):
        for member, score in cache.client.zrange(z, 0, -1, withscores=True):
            found.append((member.decode().split("\x00", 1)[0], score))
    return sorted(found)


def keys(entries: list[Any]) -> list[str]:
    return [entry.key for entry in entries]


def walk(cache: RedisCache, **options: Any) -> list[Any]:
    """Every entry, page by page (``limit`` 7)."""
    found: list[Any] = []
    after = None
    while True:
        page = cache.page(PREFIX, after=after, limit=7, **options)
        found += page
        if len(page) < 7:
            return found
        after = (page[-1].expires_at, page[-1].key)


def test_pages_follow_deadlines_across_shards(cache: RedisCache) -> None:
    ttls = list(range(100, 260))
    random.Random(7).shuffle(ttls)
    recipe = {}
    for i, ttl in enumerate(ttls):
        recipe[f"s:{i:03d}"] = "a" if i % 3 else "b"
        cache.set(f"s:{i:03d}", f"{recipe[f's:{i:03d}']}|human".encode(), ttl)
    by_deadline = [f"s:{i:03d}" for _, i in sorted((ttl, i) for i, ttl in enumerate(ttls))]
    entries = walk(cache)
    assert keys(entries) == by_deadline
    assert [e.expires_at for e in entries] == sorted(e.expires_at for e in entries)
    assert keys(walk(cache, newest=True)) == by_deadline[::-1]
    assert keys(walk(cache, labels=("b", None))) == [k for k in by_deadline if recipe[k] == "b"]
    assert keys(walk(cache, labels=("b", "tool"))) == []
    if cache.cluster:  # the entries sit in shards on every master
        client = cache.client
        used = {z for z, _ in shards(cache) if client.zcard(z)}
        assert len({client.get_node_from_key(z).name for z in used}) == 3
        assert len(used) >= 6


def test_ties_at_one_deadline_page_by_key(cache: RedisCache) -> None:
    """Thirty records stored before the prefix is indexed, all ending at the same millisecond:
    the registration indexes them (deadline from PEXPIRETIME) and pages order them by key."""
    other = RedisCache(url=_url(cache), prefix=cache.prefix)  # same namespace, new prefix
    deadline = int(time.time() * 1000) + 60_000
    names = [f"t:{i:02d}" for i in random.Random(3).sample(range(30), 30)]
    for name in names:
        cache.client.set(cache.prefix + name, b"r|k", pxat=deadline)
    other.index_prefix("t:", labeler)
    found: list[Any] = []
    after = None
    while page := other.page("t:", after=after, limit=7):
        found += page
        after = (page[-1].expires_at, page[-1].key)
    assert keys(found) == sorted(names)
    assert {e.expires_at for e in found} == {deadline / 1000}
    newest = other.page("t:", newest=True, after=(deadline / 1000, "t:10"), limit=100)
    assert keys(newest) == [f"t:{i:02d}" for i in range(9, -1, -1)]
    other.close()


def test_a_record_deleted_behind_the_index_is_never_returned_then_pruned(
    cache: RedisCache,
) -> None:
    for i in range(3):
        cache.set(f"s:{i}", b"r|k", 100 + i)
    cache.client.delete(cache.prefix + "s:1")  # not through the cache: the index is not told
    assert keys(cache.page(PREFIX)) == ["s:0", "s:2"]
    if cache.cluster:  # a member this young may belong to a write between its steps: kept
        assert [k for k, _ in members(cache)] == ["s:0", "s:1", "s:2"]
        cache._ix_grace = 0.0
        assert keys(cache.page(PREFIX)) == ["s:0", "s:2"]
    assert [k for k, _ in members(cache)] == ["s:0", "s:2"]


def test_expired_members_are_pruned_and_the_shards_expire(cache: RedisCache) -> None:
    cache.set("s:short", b"r|k", 0.2)
    cache.set("s:long", b"r|k", 100)
    time.sleep(0.3)
    assert keys(cache.page(PREFIX)) == ["s:long"]
    assert [k for k, _ in members(cache)] == ["s:long"]
    for z, h in shards(cache):  # the shard keys live a minute past their last member
        for name in (z, h):
            assert cache.client.pttl(name) in (-2, *range(1, 161_000))


def test_a_record_changed_behind_the_index_is_checked_against_its_value_and_deadline(
    cache: RedisCache,
) -> None:
    cache.set("s:moved", b"r|k", 100)
    cache.set("s:done", b"r|k", 101)
    cache.set("s:kept", b"r|k", 102)
    other = RedisCache(url=_url(cache), prefix=cache.prefix)  # never registered the prefix
    other.set("s:done", b"-", 101)  # a plain SET: unlisted now, the index not told
    cache.client.pexpire(cache.prefix + "s:moved", 500_000)  # a new deadline, not told either
    assert keys(cache.page(PREFIX)) == ["s:kept"]
    cache._ix_grace = 0.0
    cache.page(PREFIX)
    assert [k for k, _ in members(cache)] == ["s:kept"]
    other.close()


def test_a_cluster_write_cut_between_its_steps_is_never_listed(cache: RedisCache) -> None:
    if not cache.cluster:
        pytest.skip("one server: a write and its entry are one script")
    cache.set("s:a", b"r|k", 100)
    cache.set("s:b", b"r|k", 101)
    target = cache._target(cache.client, PREFIX, "s:ghost")
    # step 1 of a set that never wrote its record (the process died)
    labels = encode_labels(("r", "k"))
    begin = ("EVALSHA", BEGIN.sha, 2, target.z, target.h, "s:ghost", "add", labels, "50000")
    cache._drive(_one(begin))
    # steps 1 and 2 of a re-set of s:b, without step 3: two members, one record
    where = cache._target(cache.client, PREFIX, "s:b")
    reply = cache._drive(_one((*begin[:3], where.z, where.h, "s:b", "add", labels, "200000")))
    cache.client.set(cache.prefix + "s:b", b"r|k", pxat=reply[1])
    assert [k for k, _ in members(cache)] == ["s:a", "s:b", "s:b", "s:ghost"]
    entries = cache.page(PREFIX)
    assert keys(entries) == ["s:a", "s:b"]
    assert entries[1].expires_at == reply[1] / 1000
    cache._ix_grace = 0.0  # what a page does once the members are GRACE seconds old
    assert keys(cache.page(PREFIX, newest=True)) == ["s:b", "s:a"]
    assert [k for k, _ in members(cache)] == ["s:a", "s:b"]


def test_labels_with_awkward_characters(cache: RedisCache) -> None:
    awkward = ["a\x00b", "é日本", '"quoted"', "\x02\x01", ""]
    for i, label in enumerate(awkward):
        cache.set(f"s:{i}", f"{label}|kind".encode(), 100 + i)
    assert keys(cache.page(PREFIX)) == [f"s:{i}" for i in range(len(awkward))]
    for i, label in enumerate(awkward):
        assert keys(cache.page(PREFIX, labels=(label, "kind"))) == [f"s:{i}"], label


def test_keys_never_list_the_index_and_clear_removes_it(cache: RedisCache) -> None:
    cache.set("s:a", b"r|k", 100)
    cache.set("plain", b"v")
    assert sorted(cache.keys()) == ["plain", "s:a"]
    assert members(cache)
    assert keys(cache.page(PREFIX)) == ["s:a"]  # the first page marks the prefix as indexed
    assert cache.client.exists(registry_name(cache.prefix, PREFIX))
    cache.clear()
    assert cache.keys() == []
    assert members(cache) == []
    assert not cache.client.exists(registry_name(cache.prefix, PREFIX))


def test_scripts_the_server_forgot_are_sent_again(cache: RedisCache) -> None:
    """A restart, a failover or SCRIPT FLUSH empties the script cache: every step (a write's
    scripts, a page's pipelined walks and prunes) sends the script itself once more."""
    cache.set("s:a", b"r|k", 100)

    def flush() -> None:
        if cache.cluster:
            for node in cache.client.get_primaries():
                cache.client.execute_command("SCRIPT", "FLUSH", target_nodes=node)
        else:
            cache.client.script_flush()

    flush()
    cache.set("s:b", b"r|k", 101)
    flush()
    assert cache.compare_and_set("s:b", b"r|k", b"q|k", 102)
    flush()
    cache.client.delete(cache.prefix + "s:a")
    cache._ix_grace = 0.0
    assert keys(cache.page(PREFIX)) == ["s:b"]  # walks, reads, then a prune of s:a
    flush()
    assert keys(asyncio.run(cache.apage(PREFIX))) == ["s:b"]
    flush()
    assert cache.take("s:b") == b"q|k"
    assert members(cache) == []


def test_index_prefix_needs_no_server_and_the_first_page_indexes_earlier_records(
    private_redis: PrivateRedis,
) -> None:
    cache = RedisCache(url=private_redis.url, prefix="w:", retries=0)
    private_redis.stop()
    cache.index_prefix(PREFIX, labeler)  # no I/O: a runtime built during an outage builds
    with pytest.raises(CacheUnavailableError):
        cache.page(PREFIX)
    private_redis.start()
    plain = RedisCache(url=private_redis.url, prefix="w:")
    plain.set("s:before", b"r|k", 100)  # stored by a cache that does not index
    cache.set("s:after", b"r|k", 101)
    assert keys(cache.page(PREFIX)) == ["s:before", "s:after"]  # the first page indexed it
    plain.close()
    cache.close()


def test_shard_tags_spread_over_the_slots() -> None:
    slots = [shard_slot(i, CLUSTER_SHARDS) for i in range(CLUSTER_SHARDS)]
    ranges = [slot * CLUSTER_SHARDS // 16384 for slot in slots]
    assert ranges == list(range(CLUSTER_SHARDS))


def test_walk_positions() -> None:
    assert start_of(None, False) is None
    assert start_of((1732550000.123, "k"), False) == ("1732550000123", "k")
    assert start_of((1732550000123 / 1000, "k"), True) == ("1732550000123", "k")
    assert start_of((1000.0005, "k"), False) == ("1000001", "")  # strictly later: from 1000001
    assert start_of((1000.0005, "k"), True) == ("1000001", "")  # strictly earlier: below it


def _url(cache: RedisCache) -> str:
    if cache.cluster:
        node = cache.client.get_default_node()
        return f"redis+cluster://{node.host}:{node.port}"
    kwargs = cache.client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def _one(command: tuple[Any, ...]) -> Iterator[Any]:
    from llm_core.cache.redis._index_plan import run

    reply = yield run(command)
    return reply
