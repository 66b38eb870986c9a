"""Error handling in the automation itself: per-action retry policies, ``on_error``, a process
action's fault branch, ``notify_on_failure`` and the tries recorded on the step — on the one
interpreter with in-memory fakes (the durable engine's retries simulated as the policy says)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from pydantic import ValidationError

from dealflow.authoring.budgets import budget_of
from dealflow.authoring.checks import check_automation
from dealflow.authoring.transfer import export_document, validate_document
from dealflow.aws.adapters import failure_class, retry_strategy
from dealflow.engine.run_requests import run_request
from dealflow.engine.testmode import RecordingOutbox, run_test
from dealflow.engine.writes import writes_of
from dealflow.http_errors import Invalid
from dealflow.language.templates import TemplateError, validate_text
from dealflow.model import BusinessProcess, RetryPolicy, RunRecord, StageEntry
from dealflow.model.catalog import Automation, content_digest
from dealflow.ports import StaleDeal
from tests.fakes import (
    FakeAutomation,
    FakeDeals,
    FakeDurable,
    FakeEngine,
    a_rule,
    a_tenant,
    a_won_deal,
    compiled_tenant,
    some_fields,
    some_pipelines,
)

EMAIL = {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Won: {{ deal.title }}", "body": "Well done"}
TASK = {"kind": "create_task", "title": "Call about {{ deal.title }}"}


def _aws_error(code: str, status: int, operation: str = "SendEmail") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class FlakyOutbox(RecordingOutbox):
    """A mailer (and notifier) that raises the given errors, one per call, before it delivers."""

    def __init__(self, *errors: Exception) -> None:
        super().__init__()
        self.errors = list(errors)
        self.calls = 0

    def send(self, **message: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().send(**message)


def _run(automation: Automation, outbox: RecordingOutbox | None = None) -> tuple[RunRecord, FakeDurable, FakeEngine]:
    engine = FakeEngine(
        FakeAutomation(a_tenant(), some_pipelines(), some_fields(), [automation]), FakeDeals(a_won_deal())
    )
    if outbox is not None:
        engine.outbox = outbox
    entry = StageEntry(pipeline_id="sales", stage_id="won").model_dump()
    record, durable = engine.run(
        run_request(a_won_deal(), automation, "e-1", entry, run_id="run-1"), FakeDurable(retrying=True)
    )
    return record, durable, engine


def _process(*nodes: dict[str, Any], owner: str | None = "u-anna", **extra: Any) -> BusinessProcess:
    body = {"id": "p1", "name": "Onboarding", "start_on": ["change"], "nodes": list(nodes), "owner_id": owner, **extra}
    return BusinessProcess.model_validate(body)


def _emails(outbox: RecordingOutbox) -> list[dict[str, Any]]:
    return [m for m in outbox.sent if m["kind"] == "email"]


# --- Retry policies --------------------------------------------------------------------------------------------------


def test_a_throttled_email_is_retried_as_its_policy_says_and_goes_out_once_with_its_tries_on_the_step() -> None:
    retry = {"attempts": 3, "backoff": {"initial_seconds": 5, "multiplier": 3, "max_seconds": 60}}
    outbox = FlakyOutbox(_aws_error("Throttling", 400), _aws_error("ServiceUnavailable", 503))

    record, durable, _ = _run(a_rule("r1", {**EMAIL, "retry": retry}), outbox)

    assert record.status == "completed"
    assert len(_emails(outbox)) == 1
    assert durable.tries == [("action-1-send_email", 1, 5), ("action-1-send_email", 2, 15)]
    step = record.steps[-1]
    assert (step.outcome, step.detail["attempts"]) == ("done", 3)
    assert [e["attempt"] for e in step.detail["errors"]] == [1, 2]
    assert "Throttling" in step.detail["errors"][0]["error"]


def test_a_failure_its_policy_does_not_name_is_not_retried() -> None:
    outbox = FlakyOutbox(_aws_error("InternalFailure", 500))

    record, durable, _ = _run(a_rule("r1", {**EMAIL, "retry": {"attempts": 5, "retry_on": ["throttled"]}}), outbox)

    assert record.status == "failed"
    assert outbox.calls == 1 and durable.tries == []
    assert "InternalFailure" in (record.reason or "")


def test_a_refusal_is_never_retried_whatever_the_policy() -> None:
    outbox = FlakyOutbox(_aws_error("MessageRejected", 400))

    record, durable, _ = _run(a_rule("r1", {**EMAIL, "retry": {"attempts": 10}}), outbox)

    assert record.status == "failed"
    assert outbox.calls == 1 and durable.tries == []
    assert record.steps[-1].outcome == "failed"


def test_without_a_policy_an_action_gets_the_engines_four_tries() -> None:
    outbox = FlakyOutbox(*[_aws_error("Throttling", 400)] * 4)

    record, durable, _ = _run(a_rule("r1", EMAIL), outbox)

    assert record.status == "failed"
    assert outbox.calls == 4
    assert [delay for _, _, delay in durable.tries] == [2, 4, 8]
    assert record.steps[-1].detail["attempts"] == 4


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_aws_error("Throttling", 400), "throttled"),
        (_aws_error("TooManyRequestsException", 429), "throttled"),
        (_aws_error("ProvisionedThroughputExceededException", 400, "PutItem"), "throttled"),
        (_aws_error("InternalFailure", 500), "server_error"),
        (_aws_error("TransactionConflictException", 400, "TransactWriteItems"), "conflict"),
        (StaleDeal("moved"), "conflict"),
        (ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com"), "timeout"),
        (_aws_error("MessageRejected", 400), None),
        (ValueError("bad"), None),
    ],
)
def test_the_adapters_class_each_failure_as_the_policies_name_them(error: Exception, expected: str | None) -> None:
    assert failure_class(error) == expected


def test_the_durable_sdks_strategy_follows_the_policy() -> None:
    decide = retry_strategy(RetryPolicy(attempts=2, retry_on=["server_error"]))

    assert decide(_aws_error("InternalFailure", 500), 1).should_retry
    assert not decide(_aws_error("InternalFailure", 500), 2).should_retry  # two tries in all
    assert not decide(_aws_error("Throttling", 400), 1).should_retry  # not a class it names


# --- on_error ----------------------------------------------------------------------------------------------------


def test_on_error_continue_records_the_failed_step_and_the_next_action_still_runs() -> None:
    failing = {**EMAIL, "to": {"users": ["u-gone"]}, "on_error": "continue"}

    record, _, engine = _run(a_rule("r1", failing, TASK))

    assert record.status == "completed"
    assert [(s.name, s.outcome) for s in record.steps[-2:]] == [
        ("action-1-send_email", "failed"),
        ("action-2-create_task", "done"),
    ]
    assert [(e.step, e.handled) for e in record.errors] == [("action-1-send_email", "continued")]
    assert "u-gone" in record.errors[0].reason
    assert len(engine.records.items) == 1


def test_on_error_continue_after_retries_are_spent_on_the_last_action_completes_the_run_with_errors() -> None:
    outbox = FlakyOutbox(*[_aws_error("Throttling", 400)] * 2)
    failing = {**EMAIL, "retry": {"attempts": 2}, "on_error": "continue"}

    record, durable, _ = _run(a_rule("r1", TASK, failing), outbox)

    assert record.status == "completed" and record.finished_at is not None
    assert record.errors[0].attempts == 2
    assert "action-2-send_email-error" in durable.step_names
    assert record.steps[-1].detail["attempts"] == 2


def test_on_error_stop_fails_the_run_as_before() -> None:
    record, _, engine = _run(a_rule("r1", {**EMAIL, "to": {"users": ["u-gone"]}}, TASK))

    assert record.status == "failed"
    assert record.errors == []
    assert engine.records.items == {}


# --- Fault branches and notify_on_failure ------------------------------------------------------------------------


FAULT_NOTICE = {"kind": "notify_on_failure", "message": "Failed at {{ run.error.step }}: {{ run.error.reason }}"}


def test_a_fault_branch_runs_sees_the_reason_and_the_run_ends_failed_handled() -> None:
    outbox = FlakyOutbox(*[_aws_error("Throttling", 400)] * 2)
    automation = _process(
        {
            "kind": "action",
            "name": "welcome",
            "action": {**EMAIL, "retry": {"attempts": 2}},
            "fault": [{"kind": "action", "action": FAULT_NOTICE}],
        },
        {"kind": "action", "action": TASK},
    )

    record, _, engine = _run(automation, outbox)

    assert record.status == "failed"
    assert record.reason is not None and "handled by its fault branch" in record.reason
    assert [(e.step, e.handled, e.attempts) for e in record.errors] == [("welcome", "fault_branch", 2)]
    assert engine.records.items == {}  # stop: nothing after the failed action ran
    (notice,) = _emails(outbox)
    assert notice["to"] == ["anna@acme.example"]  # the owner
    assert "failed at step 'welcome' after 2 tries" in notice["body"]
    assert "/runs/run-1" in notice["body"]
    assert "Failed at welcome: " in notice["body"] and "Throttling" in notice["body"]
    assert [s.name for s in record.steps if s.kind == "action"] == ["welcome", "n0.f.n0-notify_on_failure"]


def test_a_fault_branch_with_on_error_continue_goes_on_and_the_run_completes_with_errors() -> None:
    automation = _process(
        {
            "kind": "action",
            "action": {**EMAIL, "to": {"users": ["u-gone"]}, "on_error": "continue"},
            "fault": [
                {
                    "kind": "action",
                    "action": {**FAULT_NOTICE, "audience": ["administrators"], "channels": ["notification"]},
                }
            ],
        },
        {"kind": "action", "action": TASK},
    )

    record, _, engine = _run(automation)

    assert record.status == "completed"
    assert len(engine.records.items) == 1
    (notice,) = [m for m in engine.outbox.sent if m["kind"] == "notification"]
    assert notice["users"] == ["u-admin"]


def test_notify_on_failure_goes_to_administrators_when_the_owner_is_unknown_and_once_on_a_retried_step() -> None:
    automation = _process(
        {
            "kind": "action",
            "action": {**EMAIL, "to": {"users": ["u-gone"]}},
            "fault": [{"kind": "action", "action": FAULT_NOTICE}],
        },
        owner=None,
    )
    record, _, engine = _run(automation)
    assert record.errors[0].handled == "fault_branch"
    (notice,) = _emails(engine.outbox)
    assert notice["to"] == ["ada@acme.example"]

    # The notice's step run again (an invocation killed after the send): the ledger sends nothing twice.
    entry = StageEntry(pipeline_id="sales", stage_id="won").model_dump()
    engine.runs.records.clear()
    engine.run(run_request(a_won_deal(), automation, "e-1", entry, run_id="run-1"), FakeDurable(retrying=True))
    assert len(_emails(engine.outbox)) == 1


def test_notify_on_failure_without_a_failure_sends_nothing() -> None:
    record, _, engine = _run(a_rule("r1", FAULT_NOTICE))

    assert record.status == "completed"
    assert engine.outbox.sent == []
    assert record.steps[-1].detail["sent"] is False


# --- Saving: policies, templates, budgets, digests ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "field"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 11}, "attempts"),
        ({"backoff": {"initial_seconds": 60, "max_seconds": 10}}, "backoff"),
        ({"backoff": {"multiplier": 0.5}}, "multiplier"),
        ({"retry_on": ["sometimes"]}, "retry_on"),
        ({"retry_on": []}, "retry_on"),
        ({"retry_on": ["throttled", "throttled"]}, "retry_on"),
    ],
)
def test_a_bad_retry_policy_is_refused_naming_its_field(retry: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        a_rule("r1", {**EMAIL, "retry": retry})
    assert field in str(refused.value)


def test_templates_may_read_the_runs_failure_but_not_facts_it_does_not_have() -> None:
    validate_text("{{ run.error.step }} {{ run.error.reason }} {{ run.error.attempts }} {{ run.url }} {{ run.id }}")
    with pytest.raises(TemplateError, match=r"run\.error\.why is not a fact"):
        validate_text("{{ run.error.why }}")
    with pytest.raises(TemplateError, match=r"run\.owner is not a fact"):
        validate_text("{{ run.owner }}")


def test_the_budget_counts_every_try_an_explicit_policy_allows_and_the_fault_branch() -> None:
    plain = budget_of(a_rule("r1", EMAIL)).cost
    tried = budget_of(a_rule("r1", {**EMAIL, "retry": {"attempts": 5, "backoff": {"initial_seconds": 10}}})).cost
    assert tried.operations == plain.operations + 4
    assert tried.wait_seconds == plain.wait_seconds + 10 + 20 + 30 + 30  # capped at max_seconds (30)

    bare = budget_of(_process({"kind": "action", "action": EMAIL})).cost
    handled = budget_of(
        _process({"kind": "action", "action": EMAIL, "fault": [{"kind": "action", "action": FAULT_NOTICE}]})
    ).cost
    assert handled.operations == bare.operations + 2  # the step recording the failure, the notice


def test_a_definition_saved_before_these_fields_keeps_its_content_digest() -> None:
    old = a_rule("r1", EMAIL)
    assert "retry" not in old.model_dump_json() and "on_error" not in old.model_dump_json()
    assert content_digest(old) == content_digest(a_rule("r1", {**EMAIL, "on_error": "stop"}))


# --- Test mode, references, export and import know the new fields -----------------------------------------------


def test_test_mode_walks_the_fault_branch_and_shows_the_notice_sending_nothing() -> None:
    automation = _process(
        {
            "kind": "action",
            "action": {**EMAIL, "to": {"users": ["u-gone"]}},
            "fault": [{"kind": "action", "action": FAULT_NOTICE}],
        }
    )
    engine = FakeEngine(
        FakeAutomation(a_tenant(), some_pipelines(), some_fields(), [automation]), FakeDeals(a_won_deal())
    )

    run = run_test(automation, a_won_deal(), engine.services)

    assert run.test and run.status == "failed"
    notice = run.steps[-1]
    assert (notice.name, notice.detail["users"]) == ("n0.f.n0-notify_on_failure", ["u-anna"])
    assert "unknown user(s): u-gone" in notice.detail["message"]
    assert engine.outbox.sent == []


def test_a_fault_branch_is_checked_like_any_other_step_when_saved() -> None:
    automation = _process(
        {
            "kind": "action",
            "action": EMAIL,
            "fault": [
                {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-gone"]}, "message": "x"}},
                {"kind": "action", "action": {"kind": "move_to_stage", "stage_id": "nowhere"}},
            ],
        },
        pipeline_id="sales",
    )

    with pytest.raises(Invalid) as refused:
        check_automation(automation, compiled_tenant(automation=[]))

    fields = {p["field"] for p in refused.value.problems}
    assert {"nodes.0.fault.0.action.to.users.0", "nodes.0.fault.1.action.stage_id"} <= fields


def test_export_and_import_keep_retry_policies_on_error_and_fault_branches() -> None:
    automation = _process(
        {
            "kind": "action",
            "action": {**EMAIL, "retry": {"attempts": 2, "retry_on": ["timeout"]}, "on_error": "continue"},
            "fault": [{"kind": "action", "action": FAULT_NOTICE}],
        }
    )
    known = compiled_tenant(automation=[automation])

    document = json.loads(json.dumps(export_document(known), default=str))
    again = validate_document(document, known)

    [node] = document["automation"][0]["nodes"]
    assert node["action"]["retry"]["retry_on"] == ["timeout"] and node["action"]["on_error"] == "continue"
    assert node["fault"][0]["action"]["kind"] == "notify_on_failure"
    assert [a for a in again.automation if a.id == "p1"] == [automation]


def test_the_loop_check_sees_what_a_fault_branch_writes() -> None:
    automation = _process(
        {
            "kind": "action",
            "action": EMAIL,
            "fault": [{"kind": "action", "action": {"kind": "move_to_stage", "stage_id": "lost"}}],
        },
        pipeline_id="sales",
    )

    assert [(w.name, w.at) for w in writes_of(automation)] == [("lost", "nodes.0.fault.0.action.stage_id")]
