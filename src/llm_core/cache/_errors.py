"""One exception-mapping helper for every backend (the idea of httpcore's ``map_exceptions``).

A backend wraps each call to its driver in ``with map_exceptions(catch, to_error, operation):``;
an exception of a type in ``catch`` leaves the block as the ``CacheUnavailableError`` (or
subclass) that ``to_error(operation, exc)`` builds, with the original chained as its cause.
Anything else (our own ``InvalidKeyError``, a bug's ``TypeError``) passes through untouched.

It is a plain (sync) context manager, so it also wraps the ``await`` of an async face::

    with map_exceptions(self._errors, self._unavailable, "GET"):
        return await client.execute_command("GET", name)
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from llm_core.errors import CacheUnavailableError

__all__ = ["ErrorFactory", "map_exceptions", "unavailable"]

ErrorFactory = Callable[[str, BaseException], CacheUnavailableError]
"""Builds the error to raise from the failed operation's name and the backend's exception."""


class map_exceptions:
    """Turn backend exceptions of the types in ``catch`` into ``to_error(operation, exc)``."""

    __slots__ = ("_catch", "_operation", "_to_error")

    def __init__(
        self,
        catch: type[BaseException] | tuple[type[BaseException], ...],
        to_error: ErrorFactory,
        operation: str,
    ) -> None:
        self._catch = catch
        self._to_error = to_error
        self._operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # never suppresses: mypy then knows the block's ``return`` always runs
        if exc is not None and isinstance(exc, self._catch):
            raise self._to_error(self._operation, exc) from exc


def unavailable(where: str) -> ErrorFactory:
    """The usual factory: ``CacheUnavailableError("<where>: <operation> failed: <exc>")``."""

    def to_error(operation: str, exc: BaseException) -> CacheUnavailableError:
        return CacheUnavailableError(f"{where}: {operation} failed: {exc}")

    return to_error
