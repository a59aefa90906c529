"""A separate process for the durability tests: pauses or resumes hitl-gate sessions.

    python -m tests.durability.worker pause URL COUNT     # prints one token per line, flushed
    python -m tests.durability.worker resume URL FILE     # prints "TOKEN STATUS" per token
    python -m tests.durability.worker resume URL FILE START   # connects, waits until the epoch
                                                              # second START, then resumes

Each token is printed only once ``run`` has returned ``Paused``, i.e. after its snapshot was
stored: a token on stdout is a promise that it can be resumed.
"""

from __future__ import annotations

import sys
import time

from llm_core import Error, Ok, Paused, cache_from_url, recipes


def pause(url: str, count: int) -> int:
    runtime = recipes.hitl_gate(cache=cache_from_url(url))
    for i in range(count):
        outcome = runtime.run(f"draft {i}")
        if not isinstance(outcome, Paused):
            print(f"unexpected outcome {outcome!r}", file=sys.stderr)
            return 1
        sys.stdout.write(outcome.token + "\n")
        sys.stdout.flush()
    return 0


def resume(url: str, token_file: str, start: float | None = None) -> int:
    cache = cache_from_url(url)
    runtime = recipes.hitl_gate(cache=cache)
    with open(token_file, encoding="utf-8") as f:
        tokens = [line.strip() for line in f if line.strip()]
    if start is not None:  # a race: connected and ready, every racer starts at once
        cache.get("warm-up")
        while time.time() < start:
            time.sleep(0.001)
    lines = []
    for token in tokens:
        outcome = runtime.resume(token, {"decision": "approve"})
        if isinstance(outcome, Ok):
            lines.append(f"{token} ok:{outcome.artefact['final']}")
        elif isinstance(outcome, Error):
            lines.append(f"{token} {outcome.kind}")
        else:
            lines.append(f"{token} paused")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    mode, url, arg = sys.argv[1:4]
    start = float(sys.argv[4]) if len(sys.argv) > 4 else None
    sys.exit(pause(url, int(arg)) if mode == "pause" else resume(url, arg, start))
