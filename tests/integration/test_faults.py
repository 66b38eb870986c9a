"""Faults injected at the AWS client boundary (``dealflow.local.faults``): each ends with exactly the
documented number of messages in moto's outboxes, and a run-log or dead-letter entry — never silence.

The documented numbers (README, "Ambiguous outcomes"): throttling is retried to exactly one
message; a 5xx or a timeout may come after the request was taken, so an e-mail (``hold``) is never
sent again — one message if SES had taken it, none if not, and the run fails saying so — while a
notification (``retry``) is sent again: one more message when SNS had taken it.
"""

from __future__ import annotations

import argparse
import io
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

from dealflow import runtime
from dealflow.aws.run_starter import LambdaRunStarter
from dealflow.cli import run_log
from dealflow.cli.target import Target
from dealflow.local import MotoStack, faults
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Notify, Rule, RunRecord, RunRequest, SendEmail
from dealflow.model.automation import Action, Recipients
from dealflow.ports import AmbiguousOutcome
from dealflow.store.ledger import EffectLedger
from dealflow.store.run_dead_letter import SqsRunDeadLetter

ANNA = "anna@acme.example"


def email(**policy: Any) -> SendEmail:
    return SendEmail(to=Recipients(responsible=True), subject="Negotiating {{ deal.title }}", body="-", **policy)


def note(**policy: Any) -> Notify:
    return Notify(to=Recipients(responsible=True), message="Negotiating {{ deal.title }}", **policy)


def negotiate(stack: MotoStack, *actions: Action) -> None:
    """A rule on the negotiation stage doing ``actions``; one deal moved there, and the runs done."""
    stack.put_rule(
        TENANT,
        Rule(
            id="negotiation-tell", name="Negotiation", pipeline_id="sales", stage_id="negotiation", actions=[*actions]
        ),
    )
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()


def sent(stack: MotoStack) -> list[str]:
    return [e.to[0] for e in stack.emails() if e.subject.startswith("Negotiating")]


def notified(stack: MotoStack) -> list[str]:
    return [n.message for n in stack.notifications() if n.message.startswith("Negotiating")]


def the_run(stack: MotoStack) -> RunRecord:
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "negotiation-tell"]
    return run


def assert_held(run: RunRecord, reason: str) -> None:
    """Failed at the action, recorded "unconfirmed" for a person to decide, saying why."""
    step = run.steps[-1]
    assert (run.status, step.kind, step.outcome) == ("failed", "action", "unconfirmed")
    assert run.reason is not None and reason in run.reason and "not repeated" in run.reason
    assert "\n" not in run.reason


# ---- SES ------------------------------------------------------------------------------------


def test_ses_throttling_is_retried_to_exactly_one_email(stack: MotoStack) -> None:
    with faults.inject("sesv2", "SendEmail", "Throttling", times=2) as throttled:
        negotiate(stack, email())

    assert throttled.hits == 2
    assert sent(stack) == [ANNA]
    assert the_run(stack).status == "completed"


def test_an_ses_5xx_after_it_took_the_email_is_held_not_sent_twice(stack: MotoStack) -> None:
    with faults.inject("sesv2", "SendEmail", "InternalFailure", after_accept=True):
        negotiate(stack, email())

    assert sent(stack) == [ANNA]  # SES had it: the one message; no second one
    run = the_run(stack)
    assert_held(run, "SES answered 500 (InternalFailure) after the request may have been taken")
    assert run.steps[-1].detail["unconfirmed"] == [ANNA]

    stack.runs_port._names.clear()  # the stream record again, in a fresh container: still held
    stack.deliver([r for r in stack.delivered if r["eventName"] == "MODIFY"])
    stack.drain()
    assert sent(stack) == [ANNA]


def test_an_ses_5xx_before_it_took_the_email_is_held_too_and_nothing_went_out(stack: MotoStack) -> None:
    # The runner cannot tell the two 5xx apart: at most once means none here, and the run says so.
    with faults.inject("sesv2", "SendEmail", "ServiceUnavailable"):
        negotiate(stack, email())

    assert sent(stack) == []
    assert_held(the_run(stack), "SES answered 503 (ServiceUnavailable)")


def test_an_ses_read_timeout_after_it_took_the_email_is_held(stack: MotoStack) -> None:
    with faults.inject("sesv2", "SendEmail", faults.READ_TIMEOUT, after_accept=True):
        negotiate(stack, email())

    assert sent(stack) == [ANNA]
    assert_held(the_run(stack), "SES did not answer after the request went out")


def test_an_email_set_to_retry_is_sent_again_after_an_ambiguous_5xx(stack: MotoStack) -> None:
    with faults.inject("sesv2", "SendEmail", "InternalFailure", after_accept=True):
        negotiate(stack, email(ambiguous="retry"))

    assert sent(stack) == [ANNA, ANNA]  # at least once: the documented duplicate
    assert the_run(stack).status == "completed"


# ---- SNS ------------------------------------------------------------------------------------


def test_sns_throttling_is_retried_to_exactly_one_notification(stack: MotoStack) -> None:
    with faults.inject("sns", "Publish", "Throttling", times=3) as throttled:
        negotiate(stack, note())

    assert throttled.hits == 3
    assert notified(stack) == ["Negotiating Data migration"]
    assert the_run(stack).status == "completed"


def test_an_sns_5xx_after_it_took_the_notification_sends_it_again(stack: MotoStack) -> None:
    with faults.inject("sns", "Publish", "InternalError", after_accept=True):
        negotiate(stack, note())

    assert len(notified(stack)) == 2  # retry, the notification's default: one more, never none
    assert the_run(stack).status == "completed"


def test_an_sns_5xx_before_it_took_the_notification_is_retried_to_one(stack: MotoStack) -> None:
    with faults.inject("sns", "Publish", "InternalError"):
        negotiate(stack, note())

    assert len(notified(stack)) == 1
    assert the_run(stack).status == "completed"


def test_a_notification_set_to_hold_is_not_sent_again_after_an_ambiguous_5xx(stack: MotoStack) -> None:
    with faults.inject("sns", "Publish", "InternalError", after_accept=True):
        negotiate(stack, note(ambiguous="hold"))

    assert len(notified(stack)) == 1
    assert_held(the_run(stack), "SNS answered 500 (InternalError)")


# ---- the run log's own failures ----------------------------------------------------------------


def run_log_write(params: dict[str, Any]) -> bool:
    """A runner's write of a run's record (the dispatcher's 'not started' entries aside)."""
    item = params.get("Item") or {}
    return "RUN#" in str(item.get("sk")) and "not_started" not in str(item.get("status"))


def dead_letters(stack: MotoStack) -> SqsRunDeadLetter:
    return SqsRunDeadLetter(boto3.client("sqs"), stack.resources.queues["RunLogDeadLetterQueue"])


def drain_dead_letters(stack: MotoStack) -> int:
    """``dealflow run-log drain`` against this stack."""
    target = Target(
        session=boto3.DEFAULT_SESSION,
        deals_table=stack.resources.tables["DealsTable"],
        automation_table=stack.resources.tables["AutomationTable"],
        topic_arn=stack.resources.topics["NotificationsTopic"],
        run_dead_letter_queue=stack.resources.queues["RunLogDeadLetterQueue"],
    )
    return run_log.drain(argparse.Namespace(max=1000), target)


def test_run_log_writes_throttled_throughout_neither_stop_the_email_nor_lose_the_run(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # The case: every write of the run's record throttled, far past any retry budget.
    throttled = faults.inject(
        "dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=None, when=run_log_write
    )
    with throttled as fault:
        negotiate(stack, email(), note())

    assert fault.hits >= 8  # each write tried four times: at the start, after each action
    assert sent(stack) == [ANNA] and len(notified(stack)) == 1  # the run went on, once each
    assert stack.runs(TENANT, "d-1") == []  # the run log never took it...

    capsys.readouterr()
    assert drain_dead_letters(stack) == 0  # ...the dead-letter did, and gives it back
    run = the_run(stack)
    assert run.status == "completed"
    assert [s.outcome for s in run.steps if s.kind == "action"] == ["done", "done"]
    out = capsys.readouterr().out
    assert f"written: run {run.run_id}" in out and "ProvisionedThroughputExceededException" in out
    assert dead_letters(stack).receive() == []  # every message handled and deleted


def test_run_log_writes_throttled_for_a_while_leave_the_run_log_complete_late(stack: MotoStack) -> None:
    # Four tries: the start step's write is dead-lettered; the next write has the whole record.
    with faults.inject("dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=4, when=run_log_write):
        negotiate(stack, email())

    assert sent(stack) == [ANNA]
    run = the_run(stack)
    assert run.status == "completed" and [s.kind for s in run.steps][-1] == "action"

    assert drain_dead_letters(stack) == 0  # the stale 'running' record never overwrites it
    assert the_run(stack) == run


def test_with_the_run_log_and_its_dead_letter_both_down_the_record_is_in_the_function_log(
    stack: MotoStack, caplog: pytest.LogCaptureFixture
) -> None:
    throttled = faults.inject(
        "dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=None, when=run_log_write
    )
    with throttled, faults.inject("sqs", "SendMessage", "ServiceUnavailable", times=None):
        negotiate(stack, email())

    assert sent(stack) == [ANNA]  # still sent once
    last_resort = [r for r in caplog.records if "neither to the run log nor to its dead-letter" in r.getMessage()]
    kept = [getattr(r, "record", {}) for r in last_resort]
    assert [(k["automation_id"], k["status"]) for k in kept][-1] == ("negotiation-tell", "completed")


# ---- invoke throttling ---------------------------------------------------------------------------


def invoking_the_runner(stack: MotoStack) -> None:
    """The dispatcher starting runs as on AWS, through ``LambdaRunStarter`` and a botocore Lambda
    client (faults and the IAM contract see its Invoke); an Invoke that gets through is handed to
    the harness's in-process runner, which refuses a run name it has started before, as Lambda does."""
    client = boto3.client("lambda")

    def lambda_service(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if model.name != "Invoke":
            return None
        started = stack.runs_port.start(RunRequest.model_validate_json(params["body"]))
        status = 202 if started else 409
        parsed = {"ResponseMetadata": {"HTTPStatusCode": status}, "StatusCode": status}
        if not started:
            parsed["Error"] = {"Code": "DurableExecutionAlreadyStartedException", "Message": "started before"}
        return AWSResponse("", status, {}, HTTPResponse(body=io.BytesIO(b""), status=status)), parsed

    client.meta.events.register("before-call", lambda_service)  # after the session's: faults come first
    runner = stack.iam.environment(stack.iam.function_for("functions/dispatcher"), "RUNNER_FUNCTION")
    stack._dispatcher_app.DISPATCHER = runtime.dispatcher(LambdaRunStarter(client, runner))


def test_invoke_throttling_is_redelivered_and_starts_the_run_once(stack: MotoStack) -> None:
    invoking_the_runner(stack)
    with faults.inject("lambda", "Invoke", "TooManyRequestsException", times=2) as throttled:
        negotiate(stack, email())

    assert throttled.hits == 2  # the stream record was delivered again twice, then started its run
    assert sent(stack) == [ANNA]
    assert the_run(stack).status == "completed"
    assert stack.failed_batches() == []


def test_invoke_throttling_past_the_mappings_retries_leaves_the_record_in_the_failure_queue(
    stack: MotoStack,
) -> None:
    invoking_the_runner(stack)
    with faults.inject("lambda", "Invoke", "TooManyRequestsException", times=None):
        negotiate(stack, email())

    assert sent(stack) == [] and stack.runs(TENANT, "d-1") == []
    [failure] = stack.failed_batches()  # where `dealflow redrive` finds it
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"


# ---- what a person decides ------------------------------------------------------------------------


def test_a_held_effect_stays_held_until_a_person_settles_it(stack: MotoStack) -> None:
    ledger = EffectLedger(runtime.tables().automation)
    sends: list[str] = []

    def send(key: str) -> Any:
        return lambda: sends.append(key) or {"message_id": f"m-{len(sends)}"}

    def ambiguous() -> dict[str, Any]:
        raise AmbiguousOutcome("SES answered 500 (InternalFailure) after the request may have been taken")

    assert ledger.once(TENANT, "k-1", ambiguous)["status"] == "unconfirmed"
    assert ledger.once(TENANT, "k-1", send("k-1"), "retry")["status"] == "unconfirmed"  # held, whatever asks
    assert sends == []

    assert ledger.settle(TENANT, "k-1", sent=False)  # it did not arrive: the next attempt sends it
    assert ledger.once(TENANT, "k-1", send("k-1")) == {"message_id": "m-1"}
    assert not ledger.settle(TENANT, "k-1", sent=True)  # nothing held any more

    ledger.once(TENANT, "k-2", ambiguous)
    assert ledger.settle(TENANT, "k-2", sent=True)  # it arrived: never sent again
    assert ledger.once(TENANT, "k-2", send("k-2"))["duplicate"] is True
    assert sends == ["k-1"]


def test_a_claim_a_crash_left_mid_send_is_held_or_sent_again_by_policy(stack: MotoStack) -> None:
    ledger = EffectLedger(runtime.tables().automation)
    for key in ("held", "retried"):  # what an invocation killed between claim and confirmation leaves
        runtime.tables().automation.put_item(Item={"tenant_id": TENANT, "sk": f"EFFECT#{key}", "status": "claimed"})
    sends: list[str] = []

    held = ledger.once(TENANT, "held", lambda: sends.append("held") or {}, "hold")
    retried = ledger.once(TENANT, "retried", lambda: sends.append("retried") or {"message_id": "m"}, "retry")

    assert held["status"] == "unconfirmed" and "did not confirm it" in held["reason"]
    assert retried == {"message_id": "m"} and sends == ["retried"]
