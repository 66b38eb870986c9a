"""Ambiguous outcomes and the run log's own failures, at the edges: which failures the adapters call
ambiguous, each action kind's documented default, and a run-log write that keeps to its own budget
(the whole flow, with faults injected at the AWS client boundary: tests/integration/test_faults.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError, ReadTimeoutError

from dealflow import clock
from dealflow.aws.adapters import SesMailer, SnsNotifier, is_transient
from dealflow.engine.run_log_keeper import PAUSES, keep
from dealflow.model import RunRecord, SendEmail
from dealflow.model.automation import AMBIGUOUS_DEFAULTS, Action, Recipients
from dealflow.model.catalog import content_digest, union_tags
from dealflow.ports import AmbiguousOutcome
from tests.fakes import FakeRunLog

README = Path(__file__).resolve().parents[2] / "README.md"


def _client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class Failing:
    """An SES v2 and SNS client whose every call raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send_email(self, **_: Any) -> dict[str, Any]:
        raise self.error

    def publish(self, **_: Any) -> dict[str, Any]:
        raise self.error


def _send(error: Exception) -> None:
    SesMailer(Failing(error)).send(sender="a@acme.example", to=["b@acme.example"], subject="s", body="b")


def _publish(error: Exception) -> None:
    SnsNotifier(Failing(error), "arn:aws:sns:eu-west-1:1:t").notify(
        tenant_id="acme", deal_id="d-1", user_ids=["u-1"], message="m"
    )


@pytest.mark.parametrize("call", [_send, _publish])
@pytest.mark.parametrize(
    "error",
    [_client_error("InternalFailure", 500, "SendEmail"), ReadTimeoutError(endpoint_url="https://email.local")],
)
def test_a_5xx_or_a_read_timeout_may_hide_a_sent_message(call: Any, error: Exception) -> None:
    with pytest.raises(AmbiguousOutcome) as raised:
        call(error)
    assert raised.value.__cause__ is error
    assert is_transient(raised.value)  # a retry policy may send again; a hold policy never does


@pytest.mark.parametrize("call", [_send, _publish])
@pytest.mark.parametrize(
    "error",
    [
        _client_error("Throttling", 400, "SendEmail"),
        EndpointConnectionError(endpoint_url="https://email.local"),
        ParamValidationError(report="Missing required parameter"),
    ],
)
def test_a_throttle_a_refused_request_or_a_connection_never_made_left_nothing_behind(
    call: Any, error: Exception
) -> None:
    with pytest.raises(type(error)):
        call(error)


def test_every_action_kind_states_its_default_and_the_readme_shows_it() -> None:
    kinds = union_tags(Action)
    assert set(AMBIGUOUS_DEFAULTS) == set(kinds)
    section = README.read_text().split("### Ambiguous outcomes", 1)[1]
    table = section[section.index("| effect kind |") :].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]  # below the header and its rule
    shown = {
        kind: row.split(" | ")[2].split()[0].strip("`")
        for row in rows
        for kind in re.findall(r"`([a-z_]+)`", row.split(" | ")[1])
    }
    assert {k: shown[k] for k in kinds} == AMBIGUOUS_DEFAULTS


def test_an_unset_override_leaves_a_saved_definition_as_it_was() -> None:
    # A run request names its automation by content digest: a runner with this field and a
    # dispatcher without it (or the other way round, mid-deploy) must compute the same one.
    email = SendEmail(to=Recipients(responsible=True), subject="s", body="b")
    assert "ambiguous" not in email.model_dump_json()
    held = email.model_copy(update={"ambiguous": "hold"})
    assert content_digest(held) != content_digest(email)


# ---- a run-log write keeps to its own budget --------------------------------------------------


def _record() -> RunRecord:
    return RunRecord(
        tenant_id="acme",
        run_id="run-1",
        automation_id="won-email",
        automation_name="Won",
        automation_kind="rule",
        deal_id="d-1",
        event_id="e-1",
        started_by={},
        status="running",
        started_at="2026-01-05T10:00:00.000+00:00",
    )


class ThrottledRunLog(FakeRunLog):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures, self.tries = failures, 0

    def write(self, record: RunRecord) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise _client_error("ProvisionedThroughputExceededException", 400, "PutItem")
        super().write(record)


class DeadLetter:
    def __init__(self) -> None:
        self.kept: list[tuple[RunRecord, str]] = []

    def put(self, record: RunRecord, error: str) -> None:
        self.kept.append((record, error))


@pytest.fixture
def pauses() -> Iterator[list[float]]:
    taken: list[float] = []
    clock.use(None, taken.append)
    yield taken
    clock.use(None)


def test_a_run_log_write_that_fails_a_while_is_tried_again_and_written(pauses: list[float]) -> None:
    runs, letters = ThrottledRunLog(failures=len(PAUSES)), DeadLetter()
    assert keep(runs, _record(), letters) is True
    assert runs.tries == len(PAUSES) + 1 and runs.writes == [_record()]
    assert pauses == list(PAUSES) and letters.kept == []


def test_a_run_log_write_out_of_its_budget_goes_to_the_dead_letter_without_raising(pauses: list[float]) -> None:
    runs, letters = ThrottledRunLog(failures=len(PAUSES) + 1), DeadLetter()
    assert keep(runs, _record(), letters) is False
    assert runs.writes == []
    [(record, error)] = letters.kept
    assert record == _record()
    assert error.startswith("the run log could not be written: An error occurred (ProvisionedThroughputExceeded")
