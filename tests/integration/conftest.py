from __future__ import annotations

from collections.abc import Iterator

import pytest

from dealflow.local import LocalStack
from dealflow.local.demo import set_up


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    """The demo tenant on in-process moto."""
    with LocalStack() as local:
        set_up(local)
        yield local
