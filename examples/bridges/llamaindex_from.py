"""A LlamaIndex KV store as an llm-core Cache: expiry stored in each record, swept on demand."""

from llama_index.core.storage.kvstore import SimpleKVStore

from llm_core import Ok, Paused, recipes
from llm_core.bridges.llamaindex import from_llamaindex_kvstore

kv = SimpleKVStore()
cache = from_llamaindex_kvstore(kv, collection="llm_core_cache")
print(cache.capabilities)  # ttl='emulated', atomic_take=False, listing=True, ...

cache.set("a", b"1", ttl=300)
cache.set("b", b"2")
print(kv.get("a", collection="llm_core_cache"))  # {'value_b64': 'MQ==', 'expires_at': ...}
assert sorted(cache.keys()) == ["a", "b"]
print("expired records swept:", cache.sweep())  # 0: nothing has expired yet

runtime = recipes.hitl_gate(cache=cache)
paused = runtime.run("Archive old tickets?")
assert isinstance(paused, Paused)
done = runtime.resume(paused.token, {"decision": "approve"})
assert isinstance(done, Ok)
print(done.artefact["status"])  # approved
