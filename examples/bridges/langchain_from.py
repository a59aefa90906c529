"""A LangChain cache as an llm-core Cache: TTL emulated (expiry kept beside each value)."""

from langchain_core.caches import InMemoryCache

from llm_core import Ok, Paused, recipes
from llm_core.bridges.langchain import from_langchain_cache

cache = from_langchain_cache(InMemoryCache())
print(cache.capabilities)  # ttl='emulated', atomic_take=False, ...

cache.set("token", b"\x00binary is fine", ttl=60)
assert cache.get("token") == b"\x00binary is fine"
cache.delete("token")  # a tombstone: LangChain caches cannot delete one key
assert cache.get("token") is None

runtime = recipes.hitl_gate(cache=cache)
paused = runtime.run("Send the newsletter?")
assert isinstance(paused, Paused)
done = runtime.resume(paused.token, {"decision": "edit", "edited": "Send it on Monday"})
assert isinstance(done, Ok)
print(done.artefact["final"])  # Send it on Monday
