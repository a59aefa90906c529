"""In one process: a human-in-the-loop run that pauses, then resumes with a decision.

The hitl-gate recipe drafts a text, pauses for a human to approve / reject / edit it, and
finishes with an artefact.  A paused run is just a token: its state waits in a cache (here
the runtime's private in-memory cache) until someone resumes it, once, before it expires.
"""

from __future__ import annotations

import json
from typing import Any

from llm_core import Error, Ok, Paused, recipes


def show(title: str, value: Any) -> None:
    if title:
        print(title)
    for line in json.dumps(value, indent=2, ensure_ascii=False).splitlines():
        print(f"   {line}")


def main() -> int:
    runtime = recipes.hitl_gate()  # draft → gate (pauses for a human) → finalize

    # 1. Start a run.  It drafts, then pauses at the gate and hands back a token.
    outcome = runtime.run(
        {"input": "llm-core 1.0 ships on Friday!", "policy": "no promises about dates"}
    )
    if not isinstance(outcome, Paused):
        print(f"expected the run to pause, got {outcome}")
        return 1
    print("1. The run paused, waiting for a human.")
    print(f"   token:      {outcome.token}")
    print(f"   pause kind: {outcome.pause_kind}")
    show("   payload (what the reviewer sees):", outcome.payload)
    print()

    # 2. Later (another request, another process with a shared cache), a reviewer decides.
    decision = {
        "decision": "edit",
        "edited": "llm-core 1.0 is coming soon.",
        "notes": "policy: no dates",
    }
    show("2. A reviewer resumes the token with a decision:", decision)
    print()
    done = runtime.resume(outcome.token, decision)
    if not isinstance(done, Ok):
        print(f"expected the resume to finish, got {done}")
        return 1
    steps = " → ".join(e.step or "" for e in done.trace if e.name == "step.start")
    print(f"3. The run finished (resuming ran only: {steps}). Artefact:")
    show("", done.artefact)
    print()

    # 3. A token resumes exactly once.
    again = runtime.resume(outcome.token, decision)
    if not isinstance(again, Error):
        print(f"expected a second resume to be refused, got {again}")
        return 1
    print(f"4. Resuming the same token again is refused: {again.kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
