from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.backends import FACTORIES, Backend


@pytest.fixture(params=sorted(FACTORIES), ids=str)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = FACTORIES[request.param](tmp_path)
    try:
        yield made
    finally:
        made.cleanup()
