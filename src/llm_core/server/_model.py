"""``--model``: the chat model the CLI and the server give their workflows.

* ``provider:name`` (``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``,
  ``ollama:llama3.1:8b``): made by LangChain's ``init_chat_model(name, model_provider=provider)``
  -- it needs ``langchain`` and the provider's package (``langchain-openai``...), which read
  their keys and endpoints from the environment as usual (``OPENAI_API_KEY``...).
* ``package.module:attr`` (a dotted module path, as for ``--app``): a chat model object, or a
  zero-argument factory returning one (a LangChain ``BaseChatModel``, a LlamaIndex ``LLM``, a
  ``ChatModel``).

Either way the model is wrapped as a chat model (``llm_core.bridges.models.as_chat_model``: a
LangChain model by ``LangChainChatModel``) and given to the workflows by a plugin added last, so
it replaces a model a loaded ``Workflow`` brings (a prebuilt ``Runtime`` keeps its own).

No web framework is imported here: the CLI uses this module without the ``server`` extra.
"""

from __future__ import annotations

import re
from typing import Any

from llm_core.bridges.models import as_chat_model, wrap_chat_model
from llm_core.errors import ConfigurationError
from llm_core.workflow import AdapterBundle, Plugin

__all__ = ["MODEL_ENV", "MODEL_PLUGIN_KEY", "ModelSpecError", "load_model", "model_plugin"]

MODEL_ENV = "LLM_CORE_MODEL"
MODEL_PLUGIN_KEY = "llm-core.model"
_PROVIDER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_SHAPE = "expected provider:name (e.g. openai:gpt-4o-mini) or package.module:attr"


class ModelSpecError(ConfigurationError):
    """``--model`` is malformed, or the model it names cannot be made (a missing package...)."""


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``(provider, name)`` of a ``provider:name`` spec, the provider normalised as LangChain
    does (lower case, ``-`` as ``_``); ``ModelSpecError`` if it is not one."""
    provider, sep, name = spec.strip().partition(":")
    if not sep or not provider or not name:
        raise ModelSpecError(f"--model {spec!r}: {_SHAPE}")
    if not _PROVIDER.fullmatch(provider):
        raise ModelSpecError(f"--model {spec!r}: {provider!r} is not a provider name; {_SHAPE}")
    if any(c.isspace() or not c.isprintable() for c in name):
        raise ModelSpecError(f"--model {spec!r}: the model name has spaces or control characters")
    return provider.replace("-", "_").lower(), name


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _init_chat_model(spec: str, provider: str, name: str) -> Any:
    """LangChain's ``init_chat_model`` for one provider and model, its failures as
    ``ModelSpecError`` (one line each: no traceback reaches the user)."""
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise ModelSpecError(
            f"--model {spec!r} needs LangChain's init_chat_model, which cannot be imported "
            f"({_one_line(str(exc))}); install it with: pip install 'llm-core[langchain]' "
            "and the provider's package (e.g. langchain-openai)"
        ) from None
    try:
        return init_chat_model(name, model_provider=provider)
    except ImportError as exc:  # the provider's package (langchain-openai...) is missing
        raise ModelSpecError(
            f"--model {spec!r}: the package for provider {provider!r} is missing: "
            f"{_one_line(str(exc))}"
        ) from None
    except ValueError as exc:
        if "provider" in str(exc).lower():  # LangChain: "Unsupported model_provider=..."
            raise ModelSpecError(
                f"--model {spec!r}: LangChain does not know the provider {provider!r}: "
                f"{_one_line(str(exc), 1000)}"
            ) from None
        raise ModelSpecError(
            f"--model {spec!r}: cannot make the model: {_one_line(str(exc))}"
        ) from None
    except Exception as exc:  # the provider's own checks: a missing API key, a bad option...
        raise ModelSpecError(
            f"--model {spec!r}: cannot make the model: {type(exc).__name__}: {_one_line(str(exc))}"
        ) from None


def _from_target(spec: str) -> Any:
    from llm_core.server._apps import load_target

    try:
        value = load_target(spec)
    except ConfigurationError as exc:
        raise ModelSpecError(str(exc).replace("--app", "--model", 1)) from None
    factory = wrap_chat_model(value) is None and not hasattr(value, "ainvoke")
    if isinstance(value, type) or (factory and callable(value)):
        try:
            value = value()
        except TypeError as exc:
            raise ModelSpecError(
                f"--model {spec!r}: the factory must take no arguments ({exc})"
            ) from None
    return value


def load_model(spec: str) -> Any:
    """The chat model ``spec`` names (see the module docstring), wrapped as a chat model."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError(f"--model {spec!r}: {_SHAPE}")
    left = spec.strip().partition(":")[0]
    if "." in left:  # package.module:attr -- a provider name has no dot
        value = _from_target(spec.strip())
    else:
        provider, name = parse_model_spec(spec)
        value = _init_chat_model(spec, provider, name)
    try:
        return as_chat_model(value)
    except ConfigurationError as exc:
        raise ModelSpecError(f"--model {spec!r}: {exc}") from None


def model_plugin(model: Any) -> Plugin:
    """A plugin giving ``model`` (as a chat model) to a workflow; add it after the workflow's
    own plugins so that it wins (tools and the rest are kept)."""
    return Plugin(
        key=MODEL_PLUGIN_KEY,
        mode="override",
        adapters=AdapterBundle(model=as_chat_model(model)),
        description="the chat model given with --model",
    )
