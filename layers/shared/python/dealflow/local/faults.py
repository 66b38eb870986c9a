"""Faults at the AWS client boundary, for tests: what AWS answers in an incident, where the code under
test meets it.

    with faults.inject("sesv2", "SendEmail", "Throttling", times=2):
        stack.drain()                    # the first two sends are refused; the third goes out

A fault answers a call as AWS would, through botocore's hooks on the harness's session (``install``,
done by ``MotoStack``), so every client the functions built at their cold start sees it and the
code takes the path it would take on AWS. Without ``after_accept`` the call never reaches moto: a
throttled or refused request (nothing happened). With ``after_accept`` it does, and moto carries it
out, then the client sees the error instead of the answer: the ambiguous failure (a 5xx or a read
timeout after SES took the message). Either way the fault stands for what the client sees after its
own retries. ``when`` narrows a fault to some calls by their parameters (run-log writes only, say);
``times`` counts the calls it hit (None: every call until the block ends).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from urllib3.response import HTTPResponse

# What AWS answers with each error code (HTTP status); a code not here answers 400.
_STATUS = {
    "TooManyRequestsException": 429,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
}
# A read timeout: the request went out and no answer came back.
READ_TIMEOUT = "ReadTimeout"
_HIT = "dealflow-fault"


@dataclass
class Fault:
    service: str  # botocore's service name: sesv2, sns, dynamodb, lambda
    operation: str  # SendEmail, Publish, PutItem, Invoke
    error: str
    times: int | None
    after_accept: bool
    when: Callable[[dict[str, Any]], bool] | None
    hits: int = 0

    def takes(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        if (service, operation) != (self.service, self.operation):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return self.when is None or bool(self.when(params))


_active: list[Fault] = []
_lock = threading.Lock()


@contextmanager
def inject(
    service: str,
    operation: str,
    error: str,
    *,
    times: int | None = 1,
    after_accept: bool = False,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[Fault]:
    """Answer the next ``times`` calls of ``service``.``operation`` (those ``when`` accepts) with
    ``error`` — an AWS error code, or ``READ_TIMEOUT`` — while the block runs; yields the fault,
    whose ``hits`` say how many calls it answered."""
    fault = Fault(service, operation, error, times, after_accept, when)
    with _lock:
        _active.append(fault)
    try:
        yield fault
    finally:
        with _lock:
            _active.remove(fault)


def install(*sessions: Any) -> None:
    """Let faults reach the clients these boto3 sessions create from now on (idempotent)."""
    for session in sessions:
        session.events.register("before-parameter-build", _choose, unique_id="dealflow-faults-choose")
        session.events.register("before-call", _before_accept, unique_id="dealflow-faults-before")
        session.events.register("after-call", _after_accept, unique_id="dealflow-faults-after")


def _choose(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    service = model.service_model.service_name
    with _lock:
        for fault in _active:
            if fault.takes(service, model.name, params):
                fault.hits += 1
                context[_HIT] = fault
                return


def _error(fault: Fault) -> tuple[int, dict[str, Any]]:
    status = _STATUS.get(fault.error, 400)
    message = f"injected by dealflow.local.faults ({'after' if fault.after_accept else 'before'} the request was taken)"
    return status, {
        "Error": {"Code": fault.error, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "local-fault"},
    }


def _timeout(fault: Fault) -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url=f"https://{fault.service}.local.invalid/")


def _before_accept(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    fault: Fault | None = context.get(_HIT)
    if fault is None or fault.after_accept:
        return None
    if fault.error == READ_TIMEOUT:
        raise _timeout(fault)
    status, parsed = _error(fault)
    body = HTTPResponse(body=io.BytesIO(b""), status=status, preload_content=False)
    return AWSResponse("", status, {}, body), parsed


def _after_accept(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    fault: Fault | None = context.get(_HIT)
    if fault is None or not fault.after_accept:
        return
    if fault.error == READ_TIMEOUT:
        raise _timeout(fault)
    # The call was carried out; what reaches the caller is the error (botocore raises it next).
    status, error = _error(fault)
    http_response.status_code = status
    parsed.clear()
    parsed.update(error)
