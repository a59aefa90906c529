"""The sans-I/O core of RedisCache (redis_commands): the exact commands and reply reading."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llm_core.cache.redis import _commands as core
from llm_core.errors import InvalidKeyError, InvalidTTLError


def test_set_commands_round_ttl_up_to_whole_milliseconds() -> None:
    assert core.cmd_set("p:", "k", b"v", None) == ("SET", "p:k", b"v")
    assert core.cmd_set("p:", "k", b"v", 0.3) == ("SET", "p:k", b"v", "PX", 300)
    assert core.cmd_set("p:", "k", b"v", 1.0001) == ("SET", "p:k", b"v", "PX", 1001)
    assert core.cmd_set("p:", "k", b"v", 0.0000001) == ("SET", "p:k", b"v", "PX", 1)
    assert core.cmd_set("p:", "k", b"v", 86400) == ("SET", "p:k", b"v", "PX", 86_400_000)


def test_one_command_per_operation() -> None:
    assert core.cmd_get("p:", "k") == ("GET", "p:k")
    assert core.cmd_delete("p:", "k") == ("DEL", "p:k")
    assert core.cmd_take("p:", "k") == ("GETDEL", "p:k")
    assert core.cmd_touch("p:", "k", 2.5) == ("PEXPIRE", "p:k", 2500)
    assert core.cmd_touch("p:", "k", None) == ("GETEX", "p:k", "PERSIST")
    assert core.cmd_scan(0, "p:*") == ("SCAN", 0, "MATCH", "p:*", "COUNT", core.SCAN_COUNT)


def test_the_core_validates_before_building() -> None:
    with pytest.raises(InvalidKeyError):
        core.cmd_get("p:", "bad\nkey")
    with pytest.raises(InvalidTTLError):
        core.cmd_set("p:", "k", b"v", 0)
    with pytest.raises(TypeError, match="must be bytes"):
        core.cmd_set("p:", "k", "text", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTTLError):
        core.cmd_touch("p:", "k", -1)


@pytest.mark.parametrize(
    ("reply", "alive"),
    [(1, True), (0, False), (True, True), (False, False), (b"value", True), (b"", True),
     (None, False)],
)  # fmt: skip
def test_touch_replies(reply: object, alive: bool) -> None:
    assert core.reply_touch(reply) is alive


def test_glob_patterns_escape_every_special_character() -> None:
    assert core.scan_pattern("ns:", "") == "ns:*"
    assert core.scan_pattern("a*b?", "[x]\\") == "a\\*b\\?\\[x\\]\\\\*"
    with pytest.raises(TypeError, match="prefix must be str"):
        core.scan_pattern("ns:", None)  # type: ignore[arg-type]


def test_scan_replies_strip_the_namespace_and_skip_foreign_keys() -> None:
    found: set[str] = set()
    cursor = core.reply_scan((b"17", [b"ns:a", b"ns:b", b"ns:\xff", b"ns:bad\nkey"]), 3, found)
    assert cursor == 17
    cursor = core.reply_scan((0, [b"ns:b", "ns:c"]), 3, found)  # duplicates happen in SCAN
    assert cursor == 0
    assert found == {"a", "b", "c"}


def test_importable_without_redis_py_and_says_which_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"  # as if redis-py were not installed
        "import llm_core\n"
        "from llm_core import RedisCache\n"
        "from llm_core.errors import MissingDependencyError\n"
        "try:\n"
        "    RedisCache()\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'llm-core[redis]'" in out


def test_missing_server_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.redis_support import free_port, require_redis

    nobody = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.delenv("LLM_CORE_REQUIRE_REDIS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Redis server answers"):
        require_redis(nobody)
    monkeypatch.setenv("LLM_CORE_REQUIRE_REDIS", "1")
    with pytest.raises(pytest.fail.Exception, match="LLM_CORE_REQUIRE_REDIS is set"):
        require_redis(nobody)
