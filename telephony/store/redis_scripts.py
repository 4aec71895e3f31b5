"""The Lua scripts behind :class:`~telephony.store.redis.RedisCallStore`.

Redis runs a script as one atomic step, so each store method that reads and then writes (claims,
token spending, index upkeep, a turn's batch) is one script: no other client, in this process or
another instance, sees it half done. Every script takes the key prefix as ``ARGV[1]`` and builds
its keys from it, which ties the store to one Redis server (not Redis Cluster).

Keys, under the prefix:

- ``call:<id>``: hash with ``record`` (the record without its transcript, as ``encode_record``
  writes it), ``member`` (its place in the indexes), ``pkey`` (its carrier-id index) and
  ``direction``;
- ``turns:<id>``: the transcript, one JSON turn per list item, so appending is one ``RPUSH``;
- ``calls``, ``active``: sorted sets of members ``<16-digit insertion number>:<id>`` scored by
  ``created_at``; equal scores sort by member, so ties fall back to insertion order;
- ``active:<direction>``: set of live call ids, for ``count_active``;
- ``pcid:<len>:<provider>:<carrier id>``: sorted set of the members the carrier knows by that id;
- ``event:<id>``, ``reply:<id>``: webhook claims and answers, expiring after the retention window;
- ``token:<sha256>``, ``tokens:<call id>``: stream tokens and the hashes issued to each call.

Times are passed in by the caller as strings and stored as given, so the store's clock (not the
Redis server's) decides leases and expiry, as in the other backends.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPEND",
    "CLAIM",
    "COMMIT",
    "CONSUME_TOKEN",
    "CREATE",
    "DELETE",
    "GET",
    "GET_BY_PROVIDER_ID",
    "ISSUE_TOKEN",
    "LIST",
    "RELEASE",
    "RENEW",
    "SET_REPLY",
]

# Shared helpers, prepended to the scripts that need them.
_PUT: Final = """
local function put(P, id, meta, created, pkey, direction, active, turns)
  local ck = P .. 'call:' .. id
  local old = redis.call('HMGET', ck, 'member', 'pkey', 'direction')
  local member = old[1]
  if not member then
    member = string.format('%016d', redis.call('INCR', P .. 'seq')) .. ':' .. id
  else
    if old[2] and old[2] ~= '' then redis.call('ZREM', old[2], member) end
    if old[3] then redis.call('SREM', P .. 'active:' .. old[3], id) end
  end
  if pkey ~= '' then
    pkey = P .. pkey
    redis.call('ZADD', pkey, created, member)
  end
  redis.call('HSET', ck, 'record', meta, 'member', member, 'pkey', pkey, 'direction', direction)
  redis.call('ZADD', P .. 'calls', created, member)
  if active == '1' then
    redis.call('ZADD', P .. 'active', created, member)
    redis.call('SADD', P .. 'active:' .. direction, id)
  else
    redis.call('ZREM', P .. 'active', member)
  end
  local tk = P .. 'turns:' .. id
  redis.call('DEL', tk)
  for i = 1, #turns do redis.call('RPUSH', tk, turns[i]) end
end

-- Reads the save's fields from ARGV at position i; returns them and the next position.
local function read_save(i)
  local n = tonumber(ARGV[i + 6])
  local turns = {}
  for j = 1, n do turns[j] = ARGV[i + 6 + j] end
  return ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], turns, i + 7 + n
end
"""

_REPLY: Final = """
local function set_reply(P, id, content_type, body, now, retention_ms)
  local rk = P .. 'reply:' .. id
  redis.call('HSET', rk, 'type', content_type, 'body', body, 'at', now)
  redis.call('PEXPIRE', rk, retention_ms)
end
"""

_FETCH: Final = """
local function fetch(P, id)
  local meta = redis.call('HGET', P .. 'call:' .. id, 'record')
  if not meta then return false end
  return {meta, redis.call('LRANGE', P .. 'turns:' .. id, 0, -1)}
end
"""

CREATE: Final = (
    _PUT
    + """
-- ARGV: prefix, then one save (id, record, created_at, pkey, direction, active, n, turns...).
local P = ARGV[1]
if redis.call('EXISTS', P .. 'call:' .. ARGV[2]) == 1 then return 0 end
local id, meta, created, pkey, direction, active, turns = read_save(2)
put(P, id, meta, created, pkey, direction, active, turns)
return 1
"""
)

COMMIT: Final = (
    _PUT
    + _REPLY
    + """
-- ARGV: prefix, now, retention in ms, then operations, each led by its code:
-- S (a save, as in CREATE), A (id, turn), R (event id, content type, body).
local P, now, retention_ms = ARGV[1], ARGV[2], ARGV[3]
-- First check everything, so a batch that fails writes nothing.
local known = {}
local i = 4
while i <= #ARGV do
  local code = ARGV[i]
  if code == 'S' then
    known[ARGV[i + 1]] = true
    i = select(8, read_save(i + 1))
  elseif code == 'A' then
    local id = ARGV[i + 1]
    if not known[id] then
      if redis.call('EXISTS', P .. 'call:' .. id) == 0 then return {'missing', id} end
      known[id] = true
    end
    i = i + 3
  else
    i = i + 4
  end
end
i = 4
while i <= #ARGV do
  local code = ARGV[i]
  if code == 'S' then
    local id, meta, created, pkey, direction, active, turns, after = read_save(i + 1)
    put(P, id, meta, created, pkey, direction, active, turns)
    i = after
  elseif code == 'A' then
    redis.call('RPUSH', P .. 'turns:' .. ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  else
    set_reply(P, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], now, retention_ms)
    i = i + 4
  end
end
return {'ok'}
"""
)

SET_REPLY: Final = (
    _REPLY
    + """
-- ARGV: prefix, event id, content type, body, now, retention in ms.
set_reply(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
"""
)

APPEND: Final = (
    _FETCH
    + """
-- ARGV: prefix, call id, turn. Returns the updated record, or false for an unknown call.
local P, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', P .. 'call:' .. id) == 0 then return false end
redis.call('RPUSH', P .. 'turns:' .. id, ARGV[3])
return fetch(P, id)
"""
)

GET: Final = (
    _FETCH
    + """
-- ARGV: prefix, call id.
return fetch(ARGV[1], ARGV[2])
"""
)

GET_BY_PROVIDER_ID: Final = (
    _FETCH
    + """
-- ARGV: prefix, carrier-id index key. The newest call in the index.
local newest = redis.call('ZREVRANGE', ARGV[2], 0, 0)
if #newest == 0 then return false end
return fetch(ARGV[1], string.sub(newest[1], 18))
"""
)

LIST: Final = (
    _FETCH
    + """
-- ARGV: prefix, index name (calls or active), limit. Newest first, as {record, turns} pairs.
local P = ARGV[1]
local members = redis.call('ZREVRANGE', P .. ARGV[2], 0, tonumber(ARGV[3]) - 1)
local found = {}
for _, member in ipairs(members) do
  local one = fetch(P, string.sub(member, 18))
  if one then found[#found + 1] = one end
end
return found
"""
)

DELETE: Final = """
-- ARGV: prefix, call id. The call, its indexes, its transcript and its tokens.
local P, id = ARGV[1], ARGV[2]
local ck = P .. 'call:' .. id
local old = redis.call('HMGET', ck, 'member', 'pkey', 'direction')
if old[1] then
  redis.call('ZREM', P .. 'calls', old[1])
  redis.call('ZREM', P .. 'active', old[1])
  if old[2] and old[2] ~= '' then redis.call('ZREM', old[2], old[1]) end
  if old[3] then redis.call('SREM', P .. 'active:' .. old[3], id) end
end
redis.call('DEL', ck, P .. 'turns:' .. id)
local tokens = P .. 'tokens:' .. id
for _, hash in ipairs(redis.call('SMEMBERS', tokens)) do redis.call('DEL', P .. 'token:' .. hash) end
redis.call('DEL', tokens)
return 1
"""

CLAIM: Final = """
-- ARGV: prefix, event id, call id, now, lease end, retention cutoff, retention in ms, owner.
local P, id, now, cutoff = ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[6])
local rk, ek = P .. 'reply:' .. id, P .. 'event:' .. id
local answered = redis.call('HGET', rk, 'at')
if answered then
  if tonumber(answered) >= cutoff then return 'done' end
  redis.call('DEL', rk)
end
local held = redis.call('HMGET', ek, 'at', 'until')
if held[1] and tonumber(held[1]) >= cutoff and tonumber(held[2]) > now then return 'running' end
redis.call('HSET', ek, 'at', ARGV[4], 'until', ARGV[5], 'call', ARGV[3], 'owner', ARGV[8])
redis.call('PEXPIRE', ek, ARGV[7])
return 'won'
"""

RENEW: Final = """
-- ARGV: prefix, event id, new lease end, owner. 1 when the owner's unanswered claim was extended.
local P, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', P .. 'reply:' .. id) == 1 then return 0 end
local owner = redis.call('HGET', P .. 'event:' .. id, 'owner')
if not owner or owner ~= ARGV[4] then return 0 end
redis.call('HSET', P .. 'event:' .. id, 'until', ARGV[3])
return 1
"""

RELEASE: Final = """
-- ARGV: prefix, event id, owner ('' with any = '1': whoever holds it). Forget the claim.
local ek = ARGV[1] .. 'event:' .. ARGV[2]
if ARGV[4] ~= '1' and redis.call('HGET', ek, 'owner') ~= ARGV[3] then return 0 end
return redis.call('DEL', ek)
"""

ISSUE_TOKEN: Final = """
-- ARGV: prefix, token hash, call id, expiry time, key lifetime in ms.
local P, hash, id, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local tk, owned = P .. 'token:' .. hash, P .. 'tokens:' .. id
redis.call('HSET', tk, 'call', id, 'expires', ARGV[4])
redis.call('PEXPIRE', tk, ttl)
redis.call('SADD', owned, hash)
if redis.call('PTTL', owned) < ttl then redis.call('PEXPIRE', owned, ttl) end
return 1
"""

CONSUME_TOKEN: Final = """
-- ARGV: prefix, token hash, call id, now. 1 exactly once, for the bound call, before expiry.
local P, hash, id = ARGV[1], ARGV[2], ARGV[3]
local tk = P .. 'token:' .. hash
local found = redis.call('HMGET', tk, 'call', 'expires')
if not found[1] or found[1] ~= id then return 0 end
if tonumber(found[2]) <= tonumber(ARGV[4]) then return 0 end
redis.call('DEL', tk)
redis.call('SREM', P .. 'tokens:' .. id, hash)
return 1
"""
