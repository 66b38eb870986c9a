from __future__ import annotations

from collections.abc import Iterator

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import set_up


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    """The demo tenant on in-process moto."""
    with MotoStack() as local:
        set_up(local)
        yield local
