"""Webhook secrets under a burst: SSM's ThrottlingException is retried with back-off (botocore's
adaptive retries on the client, then ParameterStoreSecrets' own bounded retry), not a failed
webhook. Throttling is injected where AWS would answer it, through a botocore hook on the client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from dealflow.aws.secrets import SSM_CLIENT_CONFIG, SSM_MAX_ATTEMPTS, THROTTLE_RETRIES, ParameterStoreSecrets

NAME = "/dealflow/tenants/acme/webhook-secret"


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class Throttle:
    """Answers the first ``times`` GetParameter calls as SSM does when its throughput is exceeded."""

    def __init__(self, times: int) -> None:
        self.times, self.calls = times, 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if b"GetParameter" not in (request.headers.get("X-Amz-Target") or b""):
            return None
        self.calls += 1
        if self.calls > self.times:
            return None  # moto answers
        body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "throttled"}
        return AWSResponse(request.url, 400, headers, _Body(body))


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # botocore's back-off waits whole seconds: this test counts attempts, not time.
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    monkeypatch.setattr(
        "botocore.retries.adaptive.ClientRateLimiter.on_sending_request", lambda self, request, **kw: None
    )
    with mock_aws():
        client = boto3.client("ssm", region_name="eu-west-1", config=SSM_CLIENT_CONFIG)
        client.put_parameter(Name=NAME, Value="s3cret", Type="SecureString")
        yield client


def _source(client: Any, throttle: Throttle, waits: list[float]) -> ParameterStoreSecrets:
    client.meta.events.register_first("before-send.ssm.GetParameter", throttle)
    return ParameterStoreSecrets(SSMProvider(boto3_client=client), sleep=waits.append)


def test_a_throttled_read_is_retried_by_the_client_and_the_secret_comes_back(ssm: Any) -> None:
    throttle, waits = Throttle(times=3), []
    assert _source(ssm, throttle, waits).secrets("acme") == "s3cret"
    assert throttle.calls == 4  # three throttled attempts, then the answer
    assert waits == []  # botocore's own retries were enough


def test_throttling_past_the_clients_retries_is_retried_again_with_growing_back_off(ssm: Any) -> None:
    throttle, waits = Throttle(times=SSM_MAX_ATTEMPTS + 1), []
    assert _source(ssm, throttle, waits).secrets("acme") == "s3cret"
    assert len(waits) == 1 and 0 <= waits[0] <= 0.2


def test_throttling_that_never_ends_fails_after_a_bounded_number_of_tries(ssm: Any) -> None:
    throttle, waits = Throttle(times=10_000), []
    with pytest.raises(GetParameterError):
        _source(ssm, throttle, waits).secrets("acme")
    assert throttle.calls == SSM_MAX_ATTEMPTS * (THROTTLE_RETRIES + 1)
    assert len(waits) == THROTTLE_RETRIES
    assert all(0 <= w <= 0.2 * 2**i for i, w in enumerate(waits))
