"""A LangGraph cache as an llm-core Cache, holding the hitl-gate recipe's paused sessions."""

from langgraph.cache.memory import InMemoryCache

from llm_core import Ok, Paused, recipes
from llm_core.bridges.langgraph import from_langgraph_cache

cache = from_langgraph_cache(InMemoryCache(), namespace=("my-app", "sessions"))
print(cache.capabilities)  # ttl='exact', atomic_take=False, ...

cache.set("greeting", b"hello", ttl=1.5)  # LangGraph gets ttl=2 s; the exact 1.5 s rides along
assert cache.get("greeting") == b"hello"

runtime = recipes.hitl_gate(cache=cache)
paused = runtime.run("Publish the quarterly report?")
assert isinstance(paused, Paused)
done = runtime.resume(paused.token, {"decision": "approve"})
assert isinstance(done, Ok)
print(done.artefact["status"])  # approved
