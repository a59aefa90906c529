"""The inbox's answer forms: which form a pause gets, its fields, and the resume input a posted
form makes.

* **a tool call** (tool-approval's ``tool_call`` pause: ``expects`` has a ``decision`` of
  approve/edit/reject, ``arguments`` and ``reason``; the payload names the ``tool`` and its
  ``arguments``): the call's arguments as fields pre-filled with what the model proposed (one
  JSON text area when the tool's schema cannot describe them), a reason, and the buttons
  *Approve*, *Run with these arguments* (edit) and *Reject*;
* **a gate** (hitl-gate: a ``decision`` of approve/reject/edit): notes and the edited text;
* **anything else**: fields generated from the ``expects`` schema, or one JSON text area.

No web framework is imported here.
"""

from __future__ import annotations

import json
from typing import Any

from llm_core.server._service import Problem

__all__ = ["answer_of", "is_gate", "schema_fields", "tool_call_view"]

TOOL_DECISIONS = frozenset({"approve", "edit", "reject"})
_SHORT = 80  # a proposed string this short, on one line, gets a one-line input


def _decisions(expects: Any) -> set[Any]:
    props = expects.get("properties") if isinstance(expects, dict) else None
    decision = props.get("decision") if isinstance(props, dict) else None
    return set(decision.get("enum") or ()) if isinstance(decision, dict) else set()


def is_gate(expects: Any) -> bool:
    """A hitl-gate style decision: approve, reject or edit the draft (not a tool call)."""
    return _decisions(expects) >= {"approve", "reject", "edit"} and not _is_tool_schema(expects)


def _is_tool_schema(expects: Any) -> bool:
    props = expects.get("properties") if isinstance(expects, dict) else None
    return (
        isinstance(props, dict)
        and {"arguments", "reason"} <= props.keys()
        and _decisions(expects) >= TOOL_DECISIONS
    )


def schema_fields(
    schema: Any, prefix: str = "f.", proposed: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Form fields for an object schema's properties (``[]``: use one JSON text area).

    ``proposed``: values to pre-fill (a str as is, anything else as JSON)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    listed = schema.get("required")
    required: list[Any] = listed if isinstance(listed, list) else []
    fields = []
    for name, prop in schema["properties"].items():
        if not isinstance(prop, dict):
            prop = {}
        kind = prop.get("type")
        field: dict[str, Any] = {
            "name": name,
            "input": prefix + str(name),
            "label": str(prop.get("title") or name),
            "description": str(prop.get("description") or ""),
            "required": name in required,
            "widget": "json",
            "kind": kind,
        }
        if isinstance(prop.get("enum"), list):
            field["widget"] = "select"
            field["options"] = [(json.dumps(v), str(v)) for v in prop["enum"]]
            field["kind"] = "enum"
        elif kind == "boolean":
            field["widget"] = "select"
            field["options"] = [("true", "yes"), ("false", "no")]
        elif kind in ("integer", "number"):
            field["widget"] = "number"
            field["step"] = "1" if kind == "integer" else "any"
        elif kind == "string":
            short = isinstance(prop.get("maxLength"), int) and prop["maxLength"] <= 200
            field["widget"] = "text" if short else "textarea"
        if proposed is not None and name in proposed:
            value = proposed[name]
            if kind == "string" and isinstance(value, str):
                field["value"] = value
                one_line = len(value) <= _SHORT and "\n" not in value
                field["widget"] = "text" if one_line else "textarea"
            else:
                indent = 2 if field["widget"] == "json" else None
                field["value"] = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
        fields.append(field)
    return fields


def parse_fields(fields: list[dict[str, Any]], form: dict[str, str]) -> dict[str, Any]:
    """The values of ``fields`` in a posted form (an empty optional field is left out)."""
    answer: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field["input"], "")
        name = field["name"]
        if raw == "" and field["kind"] != "string":
            continue
        if raw == "" and not field["required"]:
            continue
        try:
            if field["kind"] in ("enum", "boolean"):
                answer[name] = json.loads(raw)
            elif field["kind"] == "integer":
                answer[name] = int(raw)
            elif field["kind"] == "number":
                answer[name] = float(raw)
            elif field["kind"] == "string":
                answer[name] = raw
            else:
                answer[name] = json.loads(raw)
        except (ValueError, RecursionError):
            raise Problem("invalid_resume_input", f"{field['label']}: not a valid value") from None
    return answer


def tool_call_view(payload: Any, expects: Any) -> dict[str, Any] | None:
    """What the tool-call form shows, or ``None`` when the pause is not a tool call."""
    if not _is_tool_schema(expects) or not isinstance(payload, dict):
        return None
    tool, arguments = payload.get("tool"), payload.get("arguments")
    if not isinstance(tool, str) or not isinstance(arguments, dict):
        return None
    schema = expects["properties"]["arguments"]
    fields = schema_fields(schema, "a.", arguments)
    if not fields or arguments.keys() - {f["name"] for f in fields}:
        fields = []  # the schema does not describe every proposed argument: edit them as JSON
    found = payload.get("message")
    message: dict[str, Any] = found if isinstance(found, dict) else {}
    listed = message.get("tool_calls")
    calls: list[Any] = listed if isinstance(listed, list) else []
    description = payload.get("description")
    return {
        "tool": tool,
        "description": description if isinstance(description, str) else "",
        "arguments": arguments,
        "arguments_json": json.dumps(arguments, indent=2, ensure_ascii=False, default=str),
        "fields": fields,
        "message": message.get("content") if isinstance(message.get("content"), str) else "",
        "other_calls": [
            c for c in calls if isinstance(c, dict) and c.get("id") != payload.get("tool_call_id")
        ],
    }


def _tool_answer(session: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    decision = values.get("decision", "")
    if decision not in TOOL_DECISIONS:
        raise Problem("invalid_resume_input", "choose Approve, Run with these arguments or Reject")
    if decision == "approve":
        return {"decision": "approve"}
    if decision == "reject":
        reason = values.get("reason", "").strip()
        if not reason:
            raise Problem("invalid_resume_input", "say why you reject the call: the model is told")
        return {"decision": "reject", "reason": reason}
    view = tool_call_view(session.get("payload"), session.get("expects"))
    if view is not None and view["fields"]:
        return {"decision": "edit", "arguments": parse_fields(view["fields"], values)}
    try:
        arguments = json.loads(values.get("arguments", ""))
    except (ValueError, RecursionError):
        raise Problem("invalid_resume_input", "the arguments are not valid JSON") from None
    return {"decision": "edit", "arguments": arguments}


def answer_of(session: dict[str, Any], values: dict[str, str]) -> Any:
    """The resume input a posted form makes for ``session`` (``Problem`` if it cannot)."""
    expects = session.get("expects")
    if tool_call_view(session.get("payload"), expects) is not None:
        return _tool_answer(session, values)
    if is_gate(expects):
        decision = values.get("decision", "")
        answer: dict[str, Any] = {"decision": decision}
        if values.get("notes", "").strip():
            answer["notes"] = values["notes"]
        if decision == "edit":
            answer["edited"] = values.get("edited", "")
        return answer
    fields = schema_fields(expects)
    if fields:
        return parse_fields(fields, values)
    try:
        return json.loads(values.get("json", ""))
    except (ValueError, RecursionError):
        raise Problem("invalid_resume_input", "the answer is not valid JSON") from None
