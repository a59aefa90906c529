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

from typing import Any

from llm_core.errors import ConfigurationError, InvalidSnapshotError

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
    """Up to five reasons ``value`` does not match ``schema`` (``[]`` if it does).

    ``InvalidSnapshotError`` if the schema itself cannot be used (it came from storage:
    a shape the checker does not understand, or more than ``_BUDGET`` steps of work).
    """
    checker = _Checker(schema)
    try:
        checker.check(schema, value, "$", 0)
    except _TooComplex:
        raise InvalidSnapshotError(
            f"the pause's expects schema is too complex to check (over {_BUDGET} steps)"
        ) from None
    except (TypeError, ValueError, AttributeError, RecursionError, OverflowError) as exc:
        raise InvalidSnapshotError(f"the pause's expects schema is not usable: {exc}") from None
    return checker.out[:_MAX_ERRORS]


class _Checker:
    """One check of a value against a schema: problems go to ``out``; the work is budgeted."""

    __slots__ = ("budget", "out", "root")

    def __init__(self, root: dict[str, Any], budget: list[int] | None = None) -> None:
        self.root = root
        self.out: list[str] = []
        self.budget = budget if budget is not None else [_BUDGET]

    def matches(self, schema: Any, value: Any, path: str, depth: int) -> bool:
        probe = _Checker(self.root, self.budget)
        probe.check(schema, value, path, depth)
        return not probe.out

    def check(self, schema: Any, value: Any, path: str, depth: int) -> None:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise _TooComplex
        out = self.out
        if schema is True or len(out) >= _MAX_ERRORS:
            return
        if schema is False:
            out.append(f"{path}: no value is allowed here")
            return
        if type(schema) is not dict or depth > 64:
            out.append(f"{path}: the schema is not a JSON Schema object")
            return
        if not schema:
            return
        ref = schema.get("$ref")
        if type(ref) is str:
            target = _resolve(self.root, ref)
            if target is None:
                out.append(f"{path}: the schema's $ref {ref!r:.60} cannot be resolved")
                return
            self.check(target, value, path, depth + 1)
        kind = schema.get("type")
        if kind is not None:
            kinds = kind if type(kind) is list else (kind,)
            if not any(k in _TYPES and _TYPES[k](value) for k in kinds):
                out.append(f"{path}: expected {' or '.join(map(str, kinds))}, got {_name(value)}")
                return
        enum = schema.get("enum")
        if type(enum) is list and value not in enum:
            out.append(f"{path}: must be one of {enum!r:.120}")
        if "const" in schema and value != schema["const"]:
            out.append(f"{path}: must be {schema['const']!r:.80}")
        if "allOf" in schema or "anyOf" in schema or "oneOf" in schema or "not" in schema:
            self._combinators(schema, value, path, depth)
        if type(value) is dict:
            self._object(schema, value, path, depth)
        elif type(value) is list:
            self._array(schema, value, path, depth)
        elif type(value) is str:
            _string(schema, value, path, out)
        elif type(value) in (int, float):
            _number(schema, value, path, out)

    def _combinators(self, schema: dict[str, Any], value: Any, path: str, depth: int) -> None:
        for part in schema.get("allOf") or ():
            self.check(part, value, path, depth + 1)
        any_of = schema.get("anyOf")
        if type(any_of) is list and not any(
            self.matches(p, value, path, depth + 1) for p in any_of
        ):
            self.out.append(f"{path}: matches none of the allowed forms")
        one_of = schema.get("oneOf")
        if type(one_of) is list:
            count = sum(1 for p in one_of if self.matches(p, value, path, depth + 1))
            if count != 1:
                self.out.append(f"{path}: must match exactly one allowed form, matches {count}")
        if "not" in schema and self.matches(schema["not"], value, path, depth + 1):
            self.out.append(f"{path}: matches a form that is not allowed")

    def _object(self, schema: dict[str, Any], value: dict[str, Any], path: str, depth: int) -> None:
        properties = schema.get("properties")
        if type(properties) is not dict:
            properties = {}
        for name in schema.get("required") or ():
            if name not in value:
                self.out.append(f"{path}: missing required field {name!r:.60}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                self.check(properties[name], item, f"{path}.{name}", depth + 1)
            elif extra is False:
                self.out.append(f"{path}: unexpected field {name!r:.60}")
            elif type(extra) is dict:
                self.check(extra, item, f"{path}.{name}", depth + 1)

    def _array(self, schema: dict[str, Any], value: list[Any], path: str, depth: int) -> None:
        low, high = schema.get("minItems"), schema.get("maxItems")
        if type(low) is int and len(value) < low:
            self.out.append(f"{path}: needs at least {low} items")
        if type(high) is int and len(value) > high:
            self.out.append(f"{path}: allows at most {high} items")
        items = schema.get("items")
        if type(items) is dict or type(items) is bool:
            for i, item in enumerate(value):
                self.check(items, item, f"{path}[{i}]", depth + 1)


def _string(schema: dict[str, Any], value: str, path: str, out: list[str]) -> None:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if type(low) is int and len(value) < low:
        out.append(f"{path}: needs at least {low} characters")
    if type(high) is int and len(value) > high:
        out.append(f"{path}: allows at most {high} characters")


def _number(schema: dict[str, Any], value: float, path: str, out: list[str]) -> None:
    for key, sign in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("exclusiveMinimum", ">"),
        ("exclusiveMaximum", "<"),
    ):
        bound = schema.get(key)
        if type(bound) is not int and type(bound) is not float:
            continue
        ok = {"≥": value >= bound, "≤": value <= bound, ">": value > bound, "<": value < bound}
        if not ok[sign]:
            out.append(f"{path}: must be {sign} {bound}")


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
