"""RedisCache.compare_and_set beyond the kit: the command, the script cache, TTL edges."""

from __future__ import annotations

import hashlib

import pytest

from llm_core.cache import RedisCache
from llm_core.cache.redis import _commands as core
from llm_core.errors import InvalidKeyError, InvalidTTLError


def test_the_command_is_one_evalsha() -> None:
    assert core.cmd_cas("p:", "k", None, b"v", 0.3) == (
        "EVALSHA", core.CAS_SHA, 1, "p:k", "0", b"", "1", b"v", 300,
    )  # fmt: skip
    assert core.cmd_cas("p:", "k", b"", None, None) == (
        "EVALSHA", core.CAS_SHA, 1, "p:k", "1", b"", "0", b"", "",
    )  # fmt: skip
    assert core.cmd_cas("p:", "k", b"a", b"b", 1e300)[-1] == ""  # past Redis's range: no expiry
    assert hashlib.sha1(core.CAS_SCRIPT, usedforsecurity=False).hexdigest() == core.CAS_SHA


def test_the_command_validates_before_building() -> None:
    with pytest.raises(InvalidKeyError):
        core.cmd_cas("p:", "bad\nkey", None, b"v", None)
    with pytest.raises(InvalidTTLError):
        core.cmd_cas("p:", "k", None, b"v", 10**400)
    with pytest.raises(TypeError, match="must be bytes"):
        core.cmd_cas("p:", "k", "text", b"v", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be bytes"):
        core.cmd_cas("p:", "k", None, bytearray(b"v"), None)  # type: ignore[arg-type]


@pytest.mark.redis
def test_the_sha_is_the_servers_name_for_the_script(redis_cache: RedisCache) -> None:
    assert redis_cache.client.script_load(core.CAS_SCRIPT) == core.CAS_SHA


@pytest.mark.redis
async def test_a_server_without_the_script_gets_it_by_eval(redis_cache: RedisCache) -> None:
    redis_cache.client.script_flush()
    assert redis_cache.compare_and_set("k", None, b"1") is True
    assert redis_cache.client.script_exists(core.CAS_SHA) == [True]  # EVAL cached it
    redis_cache.client.script_flush()
    assert await redis_cache.acompare_and_set("k", b"1", b"2") is True
    assert redis_cache.get("k") == b"2"


@pytest.mark.redis
def test_ttls_are_whole_milliseconds_rounded_up_or_none(redis_cache: RedisCache) -> None:
    name = redis_cache.prefix + "k"
    assert redis_cache.compare_and_set("k", None, b"v", 0.0001) is True
    assert 0 <= redis_cache.client.pttl(name) <= 1 or redis_cache.get("k") is None
    redis_cache.set("k", b"v", 60)
    assert redis_cache.compare_and_set("k", b"v", b"w", 1e300) is True  # valid, past Redis's range
    assert redis_cache.client.pttl(name) == -1
    assert redis_cache.compare_and_set("k", b"w", b"x", 2.5) is True
    assert 2400 < redis_cache.client.pttl(name) <= 2500


@pytest.mark.redis
def test_a_key_of_another_type_is_an_error_not_a_mismatch(redis_cache: RedisCache) -> None:
    """Someone else's list under our prefix: the server refuses, so we do not say 'no match'."""
    from llm_core.errors import CacheUnavailableError

    redis_cache.client.rpush(redis_cache.prefix + "list", b"x")
    with pytest.raises(CacheUnavailableError, match="WRONGTYPE"):
        redis_cache.compare_and_set("list", None, b"v")
