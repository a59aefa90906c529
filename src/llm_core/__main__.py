"""``python -m llm_core``: the same as the ``llm-core`` command."""

from llm_core.cli import main

raise SystemExit(main())
