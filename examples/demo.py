"""`make demo`: pause a run in one process, resume it in another.

Each numbered step below is a separate `llm-core` process, exactly as you would type it in a
shell.  Between them, the paused run lives only in the default session cache: a SQLite file
under your state directory ($XDG_STATE_HOME/llm-core/sessions.db, else
~/.local/state/llm-core/sessions.db).  Set LLM_CORE_CACHE_URL=redis://127.0.0.1:6379/0 to see
the same thing through Redis, shared by every host that reaches it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

from llm_core.cli import default_cache_url

DRAFT = {"input": "llm-core 1.0 ships on Friday!", "policy": "no promises about dates"}


def llm_core(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `llm-core ARGS` as its own process and show it the way a terminal would."""
    print(f"$ llm-core {shlex.join(args)}")
    done = subprocess.run(
        [sys.executable, "-m", "llm_core", *args], capture_output=True, text=True, check=False
    )
    for line in (done.stdout + done.stderr).splitlines():
        print(f"  {line}")
    print(f"  (exit status {done.returncode})\n")
    return done


def main() -> int:
    print(f"Sessions live in {default_cache_url()}\n")

    print("1. Process A starts a hitl-gate run: it drafts, then pauses for a human.")
    started = llm_core("run", "hitl-gate", json.dumps(DRAFT), "--input-json")
    token = next(
        (line.split()[1] for line in started.stdout.splitlines() if line.startswith("token: ")),
        None,
    )
    if started.returncode != 0 or token is None:
        print("expected the run to pause and print a token")
        return 1
    print("   Process A has exited. The paused run is only a token now; its state waits in")
    print("   the cache until someone resumes it, once, before it expires.\n")

    print("2. Process B, any time later, lists what is waiting for a decision.")
    llm_core("sessions", "list")

    print("3. Process C resumes the token with a reviewer's decision: the run carries on from")
    print("   the gate (the draft step does not run again) and prints the artefact.")
    done = llm_core(
        "resume", token, "--decision", "edit",
        "--edited", "llm-core 1.0 is coming soon.", "--notes", "policy: no dates",
    )  # fmt: skip
    if done.returncode != 0:
        return 1

    print("4. Process D tries the same token again: a token resumes exactly once.")
    again = llm_core("resume", token, "--decision", "approve")
    if again.returncode != 10:  # 10 = session_already_resumed
        return 1
    print("Next: `llm-core --help`, docs/cli.md, and examples/in_process.py for the Python API.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
