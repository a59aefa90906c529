"""``make bench``: every benchmark module, one after another, in one process."""

from __future__ import annotations

import importlib
import platform
import sys

MODULES = [
    "bench.cache_bench",
    "bench.backend_bench",
    "bench.hitl_bench",
    "bench.checkpointer_bench",
    "bench.http_bench",
    "bench.scale_bench",
    "bench.conversation_bench",
    "bench.listing_bench",
    "bench.churn_bench",
]


def main() -> None:
    print(f"# llm-core benchmarks — Python {platform.python_version()} on {platform.machine()}")
    only = sys.argv[1:]
    for name in MODULES:
        if only and not any(word in name for word in only):
            continue
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
