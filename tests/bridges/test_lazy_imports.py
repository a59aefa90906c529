"""``import llm_core`` needs no framework; a bridge without its framework names the extra."""

from __future__ import annotations

import pytest

from tests.bridges.support import run_python

FRAMEWORKS = ("langgraph", "langchain_core", "llama_index")


def test_import_llm_core_imports_no_framework() -> None:
    out = run_python(
        """
        import sys
        import llm_core, llm_core.bridges
        from llm_core import recipes
        print(sorted(m for m in sys.modules if m.split(".")[0] in {frameworks!r}))
        """.replace("{frameworks!r}", repr(set(FRAMEWORKS)))
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("llm_core.bridges.langgraph", "langgraph", "langgraph"),
        ("llm_core.bridges.langchain", "langchain_core", "langchain"),
        ("llm_core.bridges.llamaindex", "llama_index", "llamaindex"),
    ],
)
def test_bridge_without_its_framework_says_which_extra(
    module: str, framework: str, extra: str
) -> None:
    # ``sys.modules[name] = None`` makes ``import name`` fail as if it were not installed.
    out = run_python(
        f"""
        import sys
        sys.modules[{framework!r}] = None
        from llm_core.errors import MissingDependencyError
        try:
            import {module}
        except MissingDependencyError as exc:
            print(type(exc).__name__, isinstance(exc, ImportError), exc.extra)
            print(exc)
        """
    )
    first, message = out.splitlines()
    assert first == f"MissingDependencyError True {extra}"
    assert f"pip install 'llm-core[{extra}]'" in message


def test_bridge_functions_load_lazily_from_the_adapters_package() -> None:
    import llm_core.bridges as adapters
    from llm_core.bridges import langchain, langgraph, llamaindex

    assert adapters.to_langgraph_cache is langgraph.to_langgraph_cache
    assert adapters.from_langchain_cache is langchain.from_langchain_cache
    assert adapters.to_llamaindex_kvstore is llamaindex.to_llamaindex_kvstore
    with pytest.raises(AttributeError, match="no attribute 'to_nothing'"):
        _ = adapters.to_nothing
