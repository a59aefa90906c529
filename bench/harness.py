"""A small, honest timing harness: same loop for every contender, best of several rounds."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured contender: nanoseconds per operation, best round."""

    group: str
    name: str
    ns_per_op: float


def per_op(run: Callable[[], int], rounds: int = 5) -> float:
    """Best ns/op over ``rounds`` calls of ``run`` (which returns how many ops it did)."""
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter_ns()
            ops = run()
            elapsed = time.perf_counter_ns() - start
            best = min(best, elapsed / ops)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def loop1(fn: Callable[[str], object], keys: Sequence[str]) -> Callable[[], int]:
    """A timed body calling ``fn(key)`` for every key."""

    def run() -> int:
        for key in keys:
            fn(key)
        return len(keys)

    return run


def print_table(title: str, rows: Sequence[Row], baseline: str) -> None:
    """A Markdown table, rows grouped by ``group``; the ratio column is against the row of each
    group named ``baseline``."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    cells = [("operation", "contender", "µs/op", f"x {baseline}")]
    for group, members in groups.items():
        base = next((r.ns_per_op for r in members if r.name == baseline), None)
        for row in members:
            ratio = f"{row.ns_per_op / base:.2f}" if base else "-"
            cells.append((group, row.name, f"{row.ns_per_op / 1000:.3f}", ratio))
    widths = [max(len(line[i]) for line in cells) for i in range(4)]
    print(f"\n## {title}\n")
    for n, (group, name, micros, ratio) in enumerate(cells):
        print(
            f"| {group:<{widths[0]}} | {name:<{widths[1]}} "
            f"| {micros:>{widths[2]}} | {ratio:>{widths[3]}} |"
        )
        if n == 0:
            print(
                f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}"
                f"|{'-' * (widths[2] + 1)}:|{'-' * (widths[3] + 1)}:|"
            )
