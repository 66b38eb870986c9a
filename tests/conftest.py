"""Session-wide settings for the whole suite (each pytest-xdist worker is its own session)."""

from __future__ import annotations

import gc

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse",
        action="store_true",
        help="run the tests in reverse order: a test that passes only after another one shows up",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse"):
        items.reverse()


def pytest_collection_finish(session: pytest.Session) -> None:
    # By now botocore, moto, pydantic, schemathesis and the tests themselves are imported and live
    # as long as the session: leave them out of every later collection. Each integration test then
    # makes and drops a whole moto stack, so collect less often too. Together this took the
    # collector from a quarter of the suite's CPU time to a tenth; it changes no outcome.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
