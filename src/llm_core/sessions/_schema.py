"""What a pause accepts: a JSON Schema, checked against resume input before a session is touched.

``ctx.pause(..., expects=...)`` takes a JSON Schema ``dict`` or a pydantic model class (its
``model_json_schema()`` is stored).  The schema travels in the snapshot, so any process -- and
the web inbox, to render a form -- can check input without the workflow's code.  The validator
covers the JSON Schema keywords forms and pydantic use: ``type``, ``enum``, ``const``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``min/maxItems``,
``min/maxLength``, ``minimum``/``maximum`` (and exclusive), ``anyOf``/``oneOf``/``allOf``,
``not`` and local ``$ref`` (``#/$defs/...``).  Other keywords are annotations -- including
``pattern``: a schema read from a cache is hostile until verified, and a stored regular
expression could hang the checker, so check patterns in the step.  A check does at most
``_BUDGET`` units of work, so no schema (``$ref`` loops, nested ``anyOf``) can stall a resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llm_core.errors import ConfigurationError

__all__ = ["SchemaLike", "schema_errors", "schema_is_usable", "to_schema"]

SchemaLike = dict[str, Any] | type
_MAX_ERRORS = 5
_BUDGET = 20_000
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "required")
_SCHEMA_DATA = frozenset({"enum", "const", "default", "examples"})  # values, not schemas
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})


class _TooComplex(Exception):
    pass


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def to_schema(expects: object) -> dict[str, Any] | None:
    """The JSON Schema for ``expects`` (a dict, a pydantic model class, or ``None``)."""
    if expects is None:
        return None
    schema: object = expects
    to_json_schema = getattr(expects, "model_json_schema", None)
    if isinstance(expects, type) and callable(to_json_schema):
        schema = to_json_schema()
    if isinstance(schema, dict) and schema_is_usable(schema):
        return schema
    raise ConfigurationError(
        f"expects must be a JSON Schema dict (with a str or list 'type', list 'required', "
        f"'allOf', 'anyOf', 'oneOf') or a pydantic model class, got {expects!r:.80}"
    )


def schema_is_usable(schema: dict[str, Any]) -> bool:
    """True if every sub-schema has the keyword types the validator relies on (``type`` a str
    or list of str; ``allOf``/``anyOf``/``oneOf`` lists; ``required`` a list of str).
    Iterative, so a deep schema cannot exhaust the stack."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(node)
            continue
        if type(node) is not dict:
            continue
        kind = node.get("type")
        if not (kind is None or type(kind) is str or _str_list(kind)):
            return False
        for name in _SCHEMA_LISTS:
            if name in node and type(node[name]) is not list:
                return False
        if "required" in node and not _str_list(node["required"]):
            return False
        for name, value in node.items():
            if name in _SCHEMA_MAPS and type(value) is dict:  # name -> sub-schema
                stack.extend(value.values())
            elif name not in _SCHEMA_DATA:
                stack.append(value)
    return True


def _str_list(value: object) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    """Up to five reasons ``value`` does not match ``schema`` (``[]`` if it does)."""
    found: list[str] = []
    budget = [_BUDGET]
    try:
        for problem in _check(schema, value, "$", schema, 0, budget):
            found.append(problem)
            if len(found) >= _MAX_ERRORS:
                break
    except _TooComplex:
        return [f"the pause's schema is too complex to check (over {_BUDGET} steps)"]
    return found


def _check(
    schema: Any, value: Any, path: str, root: dict[str, Any], depth: int, budget: list[int]
) -> Iterator[str]:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooComplex
    if schema is True or schema == {}:
        return
    if schema is False:
        yield f"{path}: no value is allowed here"
        return
    if not isinstance(schema, dict) or depth > 64:
        yield f"{path}: the schema is not a JSON Schema object"
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(root, ref)
        if target is None:
            yield f"{path}: the schema's $ref {ref!r} cannot be resolved"
            return
        yield from _check(target, value, path, root, depth + 1, budget)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(k in _TYPES and _TYPES[k](value) for k in kinds):
            yield f"{path}: expected {' or '.join(map(str, kinds))}, got {_name(value)}"
            return
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        yield f"{path}: must be one of {schema['enum']!r:.120}"
    if "const" in schema and value != schema["const"]:
        yield f"{path}: must be {schema['const']!r:.80}"
    yield from _combinators(schema, value, path, root, depth, budget)
    if isinstance(value, dict):
        yield from _object(schema, value, path, root, depth, budget)
    elif isinstance(value, list):
        yield from _array(schema, value, path, root, depth, budget)
    elif isinstance(value, str):
        yield from _string(schema, value, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield from _number(schema, value, path)


def _combinators(
    schema: dict[str, Any],
    value: Any,
    path: str,
    root: dict[str, Any],
    depth: int,
    budget: list[int],
) -> Iterator[str]:
    for part in schema.get("allOf") or ():
        yield from _check(part, value, path, root, depth + 1, budget)

    def matches(part: Any) -> bool:
        return not any(True for _ in _check(part, value, path, root, depth + 1, budget))

    any_of = schema.get("anyOf")
    if isinstance(any_of, list) and not any(matches(p) for p in any_of):
        yield f"{path}: matches none of the allowed forms"
    one_of = schema.get("oneOf")
    if isinstance(one_of, list):
        count = sum(1 for p in one_of if matches(p))
        if count != 1:
            yield f"{path}: must match exactly one allowed form, matches {count}"
    if "not" in schema and matches(schema["not"]):
        yield f"{path}: matches a form that is not allowed"


def _object(
    schema: dict[str, Any],
    value: dict[str, Any],
    path: str,
    root: dict[str, Any],
    depth: int,
    budget: list[int],
) -> Iterator[str]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    for name in schema.get("required") or ():
        if name not in value:
            yield f"{path}: missing required field {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            yield from _check(properties[name], item, where, root, depth + 1, budget)
        elif extra is False:
            yield f"{path}: unexpected field {name!r:.60}"
        elif isinstance(extra, dict):
            yield from _check(extra, item, where, root, depth + 1, budget)


def _array(
    schema: dict[str, Any],
    value: list[Any],
    path: str,
    root: dict[str, Any],
    depth: int,
    budget: list[int],
) -> Iterator[str]:
    if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
        yield f"{path}: needs at least {schema['minItems']} items"
    if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
        yield f"{path}: allows at most {schema['maxItems']} items"
    items = schema.get("items")
    if isinstance(items, dict | bool):
        for i, item in enumerate(value):
            yield from _check(items, item, f"{path}[{i}]", root, depth + 1, budget)


def _string(schema: dict[str, Any], value: str, path: str) -> Iterator[str]:
    if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
        yield f"{path}: needs at least {schema['minLength']} characters"
    if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
        yield f"{path}: allows at most {schema['maxLength']} characters"


def _number(schema: dict[str, Any], value: float, path: str) -> Iterator[str]:
    for key, sign in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("exclusiveMinimum", ">"),
        ("exclusiveMaximum", "<"),
    ):
        bound = schema.get(key)
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            continue
        ok = {"≥": value >= bound, "≤": value <= bound, ">": value > bound, "<": value < bound}
        if not ok[sign]:
            yield f"{path}: must be {sign} {bound}"


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _name(value: Any) -> str:
    for name, test in _TYPES.items():
        if name not in ("integer", "number") and test(value):
            return name
    return "number" if isinstance(value, int | float) else type(value).__name__
