"""Ready-made workflows.  Importing this package registers them with ``Workflow.recipe``.

* ``hitl_gate()`` / ``Workflow.recipe("hitl-gate")``: draft → human gate → finalize.
* ``tool_approval(model=..., tools=[...])`` / ``Workflow.recipe("tool-approval")``: the model
  proposes tool calls, a human approves, edits or rejects those that need it;
  ``tool_approval_workflow(tools=[...])``: the same, unbuilt, for ``--app`` (with ``--model``).
"""

from __future__ import annotations

from llm_core.recipes.hitl_gate import hitl_gate
from llm_core.recipes.tool_approval import tool_approval, tool_approval_workflow
from llm_core.workflow import recipe_names

__all__ = ["hitl_gate", "recipe_names", "tool_approval", "tool_approval_workflow"]
