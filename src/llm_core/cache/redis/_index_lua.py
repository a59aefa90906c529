"""The Lua scripts of :class:`~llm_core.cache.redis.RedisCache`'s index (see ``_index_plan``).

An index shard is two keys in one hash slot: ``Z``, a sorted set of *members*
``key \\0 seq \\0 stamp \\0 labels`` scored by their deadline (milliseconds, the server's clock),
and ``H``, a hash from ``key`` to the suffixes (``seq \\0 stamp \\0 labels``) of its members,
joined by ``\\1``, plus a counter field ``\\1seq``.  ``seq`` tells one write's member from
another's, ``stamp`` is when it was added (ms), ``labels`` the two labels, each JSON-encoded,
joined by ``\\2``.  Keys hold no control characters and JSON no raw ones, so the separators are
unambiguous, and members order by ``(deadline, key)`` as a page walks them.

Every script names its keys in ``KEYS`` (one slot on a cluster) and gets the time from
``TIME``, so it is replicated by its effects.  Lua compares strings with ``strcoll`` (the
server's locale): the walk compares bytes itself (``before``).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

__all__ = [
    "ADOPT",
    "BEGIN",
    "CAS_AT",
    "END",
    "PRUNE",
    "WALK",
    "WRITE",
    "Script",
]


class Script(NamedTuple):
    """A Lua script and the SHA1 Redis knows it by."""

    body: bytes
    sha: str


def _script(text: str) -> Script:
    body = text.encode("utf-8")
    return Script(body, hashlib.sha1(body, usedforsecurity=False).hexdigest())


_COMMON = r"""
local function int(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function entries(h, k)
  local out = {}
  local v = redis.call('HGET', h, k)
  if v then for s in string.gmatch(v, '[^\1]+') do out[#out + 1] = s end end
  return out
end
local function store(h, k, keep, before)
  if #keep == before then return end
  if #keep == 0 then redis.call('HDEL', h, k)
  else redis.call('HSET', h, k, table.concat(keep, '\1')) end
end
local function drop(z, h, k, doomed)
  local es = entries(h, k)
  local keep = {}
  for _, s in ipairs(es) do
    if doomed(s) then redis.call('ZREM', z, k .. '\0' .. s) else keep[#keep + 1] = s end
  end
  store(h, k, keep, #es)
  return #es - #keep
end
local function every() return true end
local function labels_of(s) return string.match(s, '^[^%z]*%z[^%z]*%z(.*)$') end
local function add(z, h, k, d, labels, now)
  local seq = redis.call('HINCRBY', h, '\1seq', 1)
  local s = int(seq) .. '\0' .. int(now) .. '\0' .. labels
  redis.call('ZADD', z, int(d), k .. '\0' .. s)
  local v = redis.call('HGET', h, k)
  if v then v = v .. '\1' .. s else v = s end
  redis.call('HSET', h, k, v)
  local life = d - now + 60000
  for _, name in ipairs({z, h}) do
    if redis.call('PTTL', name) < life then redis.call('PEXPIRE', name, int(life)) end
  end
  return seq
end
local function unlink(z, h, m)
  if redis.call('ZREM', z, m) == 0 then return 0 end
  local k, s = string.match(m, '^([^%z]*)%z(.*)$')
  local es = entries(h, k)
  local keep = {}
  for _, e in ipairs(es) do if e ~= s then keep[#keep + 1] = e end end
  store(h, k, keep, #es)
  return 1
end
local function prune(z, h, now, n)
  local old = redis.call('ZRANGE', z, '-inf', '(' .. int(now), 'BYSCORE', 'LIMIT', 0, n)
  for _, m in ipairs(old) do unlink(z, h, m) end
  return #old
end
"""
# ``add`` keeps Z and H alive a minute past their last member's deadline, so a shard nobody
# writes or pages any more disappears on its own; ``prune`` drops members whose deadline passed.

WRITE = _script(
    _COMMON
    + r"""
local rec, z, h = KEYS[1], KEYS[2], KEYS[3]
local op, k, labels, px = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
prune(z, h, now, 8)
if op == 'take' then
  local v = redis.call('GETDEL', rec)
  drop(z, h, k, every)
  return v
elseif op == 'del' then
  redis.call('DEL', rec)
  drop(z, h, k, every)
  return 1
elseif op == 'touch' then
  if px == '' then
    if not redis.call('GETEX', rec, 'PERSIST') then return 0 end
    drop(z, h, k, every)
    return 1
  end
  local d = now + tonumber(px)
  if redis.call('PEXPIREAT', rec, int(d)) == 0 then return 0 end
  local es = entries(h, k)
  if #es > 0 then
    local moved = labels_of(es[#es])
    drop(z, h, k, every)
    add(z, h, k, d, moved, now)
  end
  return 1
elseif op == 'cas' then
  local current = redis.call('GET', rec)
  if ARGV[5] == '1' then
    if current ~= ARGV[6] then return 0 end
  elseif current then
    return 0
  end
  if ARGV[7] == '0' then
    redis.call('DEL', rec)
    drop(z, h, k, every)
    return 1
  end
end
drop(z, h, k, every)
if px == '' then
  redis.call('SET', rec, ARGV[8])
  return 1
end
local d = now + tonumber(px)
redis.call('SET', rec, ARGV[8], 'PXAT', int(d))
if labels ~= '' then add(z, h, k, d, labels, now) end
return 1
"""
)
"""A write and its index entry as one atomic script (one server).  ``KEYS``: record, Z, H;
``ARGV``: op (``set``, ``cas``, ``del``, ``take``, ``touch``), key, labels (``''``: not listed),
PX ms (``''``: no TTL), has expected, expected, has new, new.  The record gets ``PXAT`` the
member's score, so both end at the same millisecond."""

BEGIN = _script(
    _COMMON
    + r"""
local z, h = KEYS[1], KEYS[2]
local k, mode, labels, px = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
prune(z, h, now, 8)
local es = entries(h, k)
local d = 0
if px ~= '' then d = now + tonumber(px) end
if mode == 'copy' then
  if #es > 0 then labels = labels_of(es[#es]) else mode = 'none' end
end
if mode ~= 'none' and d > 0 then
  return {add(z, h, k, d, labels, now), d, #es, 1}
end
local seq = redis.call('HINCRBY', h, '\1seq', 1)
if redis.call('PTTL', h) == -1 then redis.call('PEXPIRE', h, 60000) end
return {seq, d, #es, 0}
"""
)
"""Step 1 of a write on a cluster, on the shard: reserve a ``seq``, compute the deadline, and
add the write's member (``mode``: ``add`` with ``labels``, ``copy`` the labels of the key's
latest member (``touch``), ``none``).  Answers ``{seq, deadline, members the key had, added}``."""

END = _script(
    _COMMON
    + r"""
local z, h = KEYS[1], KEYS[2]
local k, seq, done = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
return drop(z, h, k, function(s)
  local n = tonumber(string.match(s, '^(%d+)'))
  if done then return n < seq end
  return n == seq
end)
"""
)
"""Step 3 of a write on a cluster, after the record: the write landed (``'1'``): drop the
key's members older than its own; it did not: drop its own member."""

CAS_AT = _script(
    r"""
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PXAT', ARGV[5])
end
return 1
"""
)
"""Compare-and-set of a record to an absolute deadline (``ARGV[5]``: PXAT ms, ``''`` = none):
step 2 of a compare-and-set on a cluster.  Other arguments as ``CAS_SCRIPT``."""

WALK = _script(
    _COMMON
    + r"""
local function before(a, b)
  local n = math.min(#a, #b)
  for p = 1, n do
    local x, y = string.byte(a, p), string.byte(b, p)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local z, h = KEYS[1], KEYS[2]
local newest = ARGV[1] == '1'
local as, ak, fa, fb = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit, budget = tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
prune(z, h, now, 1000)
local n = redis.call('ZCARD', z)
local asn = tonumber(as)
local i, bound
local live = redis.call('ZCOUNT', z, '-inf', '(' .. int(now))
if not asn then
  if newest then i = n - 1 else i = live end
elseif newest then
  i = redis.call('ZCOUNT', z, '-inf', as) - 1
  bound = ak .. '\0'
else
  i = math.max(live, redis.call('ZCOUNT', z, '-inf', '(' .. as))
  bound = ak .. '\1'
end
local out = {now, 1, '', ''}
local scanned, found = 0, 0
while (newest and i >= 0) or ((not newest) and i < n) do
  local lo, hi = i, math.min(n - 1, i + 127)
  if newest then lo, hi = math.max(0, i - 127), i end
  local r = redis.call('ZRANGE', z, lo, hi, 'WITHSCORES')
  local count = #r / 2
  for j = 1, count do
    local x = j
    if newest then x = count - j + 1 end
    local m, s = r[2 * x - 1], r[2 * x]
    local sn = tonumber(s)
    if sn < now then
      if newest then return out end
    else
      local skip = false
      if asn and sn == asn then
        if newest then skip = not before(m, bound) else skip = before(m, bound) end
      end
      if not skip then
        scanned = scanned + 1
        out[3], out[4] = s, m
        local la, lb = string.match(m, '^[^%z]*%z[^%z]*%z[^%z]*%z([^\2]*)\2(.*)$')
        if (fa == '' or la == fa) and (fb == '' or lb == fb) then
          out[#out + 1] = m
          out[#out + 1] = s
          found = found + 1
        end
        if found >= limit or scanned >= budget then
          out[2] = 0
          return out
        end
      end
    end
  end
  if newest then i = lo - 1 else i = hi + 1 end
end
return out
"""
)
"""One shard's part of a page: from just past the position (``ARGV[2..3]``: score, key;
``''``: the start) in the direction asked, the members whose labels match (``''``: any), at
most ``limit`` of them and ``budget`` members looked at.  Answers ``{now, exhausted, last
score, last member, member, score, ...}`` (``exhausted``: nothing left past the last one)."""

PRUNE = _script(
    _COMMON
    + r"""
local n = 0
for _, m in ipairs(ARGV) do n = n + unlink(KEYS[1], KEYS[2], m) end
return n
"""
)
"""Drop the given members (stale: their record is gone, changed, or moved) if still there."""

ADOPT = _script(
    _COMMON
    + r"""
local z, h = KEYS[1], KEYS[2]
local k, labels, kind, at = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
if #entries(h, k) > 0 then return 0 end
if kind == 'in' then at = now + at end
if at < now then return 0 end
add(z, h, k, at, labels, now)
return 1
"""
)
"""Index a record stored before its prefix was indexed, unless a write indexed it meanwhile
(``kind``: ``at`` an absolute deadline, ``in`` milliseconds from now)."""
