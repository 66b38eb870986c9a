"""The runner's services are built by its first run, once per container, even when the local
harness starts several runs at once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dealflow import runtime
from dealflow.aws.settings import MissingSetting
from tests.fakes import FakeMetrics


@pytest.fixture
def runner_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AUTOMATION_TABLE": "automation",
        "DEALS_TABLE": "deals",
        "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:notifications",
    }.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield
    runtime.reset()


def test_runs_starting_together_share_one_set_of_services(runner_environment: None) -> None:
    services = runtime.runner(counted=FakeMetrics())

    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(lambda _: services(), range(8)))

    assert all(one is built[0] for one in built)
    assert built[0].sender is None and built[0].deals is services().deals


def test_a_runner_without_its_deals_table_fails_before_any_run(
    runner_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEALS_TABLE")
    runtime.reset()

    with pytest.raises(MissingSetting, match="DEALS_TABLE"):
        runtime.runner(counted=FakeMetrics())
