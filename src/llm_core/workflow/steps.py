"""Steps: plain functions ``(ctx, state) -> state`` (sync or ``async def``), and what they get.

A step returns the new state (a ``dict``) or ``ctx.pause(kind=..., payload=...)``.  When the
run is resumed, the step that paused runs again with ``ctx.resumed`` true and
``ctx.resume_input`` set; the steps before it are not replayed::

    def gate(ctx, state):
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={"draft": state["draft"]})
        return {**state, "decision": ctx.resume_input["decision"]}
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from llm_core.errors import ConfigurationError
from llm_core.sessions import SchemaLike, to_schema

if TYPE_CHECKING:
    from llm_core.workflow.plugins import AdapterBundle

__all__ = ["PauseRequest", "Step", "StepContext", "StepFn", "StepResult", "as_step"]


class PauseRequest:
    """What ``ctx.pause`` returns; a step returns it to pause the run."""

    __slots__ = ("expects", "kind", "payload", "state")

    def __init__(
        self,
        kind: str,
        payload: Any,
        expects: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.payload = payload
        self.expects = expects
        self.state = state

    def __repr__(self) -> str:
        return f"PauseRequest(kind={self.kind!r}, payload={self.payload!r})"


StepResult: TypeAlias = dict[str, Any] | PauseRequest
StepFn: TypeAlias = Callable[["StepContext", dict[str, Any]], StepResult | Awaitable[StepResult]]


class StepContext:
    """What a step sees besides the state: its name, the recipe, the adapters, resume input.

    ``resumed`` is true only for the step that paused, when it runs again on resume;
    ``resume_input`` is then a private deep copy of what was passed to ``resume``.
    ``idempotency_key`` names this step of this session (or run): it is the same on every
    attempt -- a resumed step runs again if its resumer died -- so use it to dedupe side effects.
    """

    __slots__ = ("_run_id", "adapters", "recipe", "resume_input", "resumed", "step")

    def __init__(
        self,
        step: str,
        recipe: str,
        adapters: AdapterBundle,
        resume_input: Any = None,
        resumed: bool = False,
        run_id: str = "",
    ) -> None:
        self.step = step
        self.recipe = recipe
        self.adapters = adapters
        self.resume_input = resume_input
        self.resumed = resumed
        self._run_id = run_id

    @property
    def idempotency_key(self) -> str:
        """A stable key for this step's side effects (32 hex digits; not the token)."""
        seed = f"llm-core:step:{self.recipe}:{self._run_id}:{self.step}"
        return hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def pause(
        self,
        kind: str = "human",
        payload: Any = None,
        expects: SchemaLike | None = None,
        *,
        state: dict[str, Any] | None = None,
    ) -> PauseRequest:
        """Pause the run here: return this from the step.  ``payload`` must be JSON-able (or
        a typed value, see docs/state.md); ``expects`` (a JSON Schema dict or a pydantic model
        class) is what ``resume`` accepts: other input is ``invalid_resume_input`` and leaves
        the session untouched.  ``state``: what to store for the resume (default: the state
        this step received) -- e.g. with the progress the step made before pausing, so the
        resumed step does not repeat a model call or a tool run."""
        if type(kind) is not str or not kind:
            raise ConfigurationError(
                f"pause kind must be a non-empty str (e.g. 'human'), got {kind!r}"
            )
        if state is not None and not isinstance(state, dict):
            raise ConfigurationError(f"pause state must be a dict, got {type(state).__name__}")
        return PauseRequest(kind, payload, to_schema(expects), state)

    def __repr__(self) -> str:
        return f"StepContext(step={self.step!r}, recipe={self.recipe!r}, resumed={self.resumed})"


@dataclass(frozen=True, slots=True)
class Step:
    """A named step.  ``before``/``after`` place a plugin's new step next to an existing one;
    a step whose name already exists replaces that step in place."""

    name: str
    fn: StepFn
    before: str | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        if type(self.name) is not str or not self.name:
            raise ConfigurationError(f"a step name must be a non-empty str, got {self.name!r}")
        if not callable(self.fn):
            raise ConfigurationError(
                f"step {self.name!r}: fn must be callable as fn(ctx, state), got "
                f"{type(self.fn).__name__}"
            )
        if self.before is not None and self.after is not None:
            raise ConfigurationError(f"step {self.name!r}: give before or after, not both")


def as_step(item: Step | StepFn) -> Step:
    """A ``Step`` from a ``Step`` or a bare function (named after the function)."""
    if isinstance(item, Step):
        return item
    if not callable(item):
        raise ConfigurationError(
            f"a step is a Step or a function fn(ctx, state), got {type(item).__name__}"
        )
    name = getattr(item, "__name__", None)
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise ConfigurationError(
            f"cannot name step {item!r}: wrap it as Step('name', fn) to give it a name"
        )
    return Step(name, item)
