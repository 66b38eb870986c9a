"""Error handling in the automation itself on the local stack (moto, the durable testing SDK, SES
failures injected at the client boundary): retry policies, ``on_error``, a process's fault branch,
``notify_on_failure``, the tries on the step, and saving refusing bad policies (issue 13, item 1)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
WELCOME = {"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Won: {{ deal.title }}", "body": "Well done"}
TASK = {"kind": "create_task", "title": "Invoice {{ deal.title }}"}


def _ses_fails(stack: MotoStack, *codes: tuple[str, int]) -> Counter[str]:
    """SES answers the runner's first SendEmail calls with ``codes`` (code, HTTP status), in order."""
    seen = Counter[str]()
    failures = list(codes)

    def hook(**_: Any) -> Any:
        seen["calls"] += 1
        if not failures:
            return None
        code, status = failures.pop(0)
        parsed = {
            "Error": {"Code": code, "Message": f"{code} (injected)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("", status, {}, None), parsed

    mailer = stack._runner_app.SERVICES.mailer
    client = getattr(mailer, "_mailer", mailer)._client  # inside the counting wrapper
    client.meta.events.register("before-call.sesv2.SendEmail", hook, unique_id="error-handling")
    return seen


def _save(stack: MotoStack, automation: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return stack.api("PUT", f"/automation/{automation['id']}", automation, claims=ADMIN)


def _rule(*actions: dict[str, Any]) -> dict[str, Any]:
    place = {"pipeline_id": "sales", "stage_id": "won"}
    return {"kind": "rule", "id": "won-mail", "name": "Won: mail the head", **place, "actions": list(actions)}


def _run_of(stack: MotoStack, automation_id: str) -> Any:
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == automation_id and r.status != "not_started"]
    return run


def _invoices(stack: MotoStack) -> list[str]:
    return [t["title"] for t in stack.tasks(TENANT) if t["title"].startswith("Invoice")]


def _won(stack: MotoStack, deal_id: str = "d-1") -> None:
    stack.create_deal(demo_deal(deal_id, "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, deal_id, "won")
    stack.drain()


def test_a_throttled_email_retried_by_its_policy_goes_out_once_with_three_tries_on_the_step(stack: MotoStack) -> None:
    retry = {
        "attempts": 4,
        "backoff": {"initial_seconds": 1, "max_seconds": 5},
        "retry_on": ["throttled", "server_error"],
    }
    # A 5xx may come after SES took the message: only with ``ambiguous: retry`` is it tried again.
    assert _save(stack, _rule({**WELCOME, "retry": retry, "ambiguous": "retry"}))[0] == 201
    calls = _ses_fails(stack, ("Throttling", 400), ("InternalFailure", 500))

    _won(stack)

    assert calls["calls"] == 3
    assert len([e for e in stack.emails() if e.subject == "Won: Data migration"]) == 1
    run = _run_of(stack, "won-mail")
    assert run.status == "completed", run.reason
    step = run.steps[-1]
    assert (step.outcome, step.detail["attempts"]) == ("done", 3)
    assert ["Throttling" in e["error"] for e in step.detail["errors"]] == [True, False]


def test_a_failure_not_worth_retrying_is_tried_once_and_fails_the_run_saying_why(stack: MotoStack) -> None:
    assert _save(stack, _rule({**WELCOME, "retry": {"attempts": 5}}))[0] == 201
    calls = _ses_fails(stack, ("MessageRejected", 400))

    _won(stack)

    assert calls["calls"] == 1
    run = _run_of(stack, "won-mail")
    assert run.status == "failed"
    assert "MessageRejected" in (run.reason or "")


def test_on_error_continue_goes_on_to_the_next_action_and_the_run_completes_with_errors(stack: MotoStack) -> None:
    failing = {**WELCOME, "retry": {"attempts": 2, "backoff": {"initial_seconds": 1}}, "on_error": "continue"}
    assert _save(stack, _rule(failing, TASK))[0] == 201
    _ses_fails(stack, ("Throttling", 400), ("Throttling", 400))

    _won(stack)

    assert [e for e in stack.emails() if e.subject == "Won: Data migration"] == []
    assert _invoices(stack) == ["Invoice Data migration"]
    run = _run_of(stack, "won-mail")
    assert run.status == "completed"
    assert [(e.step, e.handled, e.attempts) for e in run.errors] == [("action-1-send_email", "continued", 2)]
    status, body = stack.api("GET", f"/runs/{run.run_id}", claims=ADMIN)
    assert status == 200 and body["errors"][0]["handled"] == "continued"


def test_a_process_fault_branch_tells_the_owner_once_with_the_reason_and_a_link_and_ends_failed_handled(
    stack: MotoStack,
) -> None:
    process = {
        "kind": "business_process",
        "id": "welcome",
        "name": "Welcome the client",
        "start_on": ["change"],
        "pipeline_id": "sales",
        "nodes": [
            {
                "kind": "action",
                "name": "welcome mail",
                "action": {**WELCOME, "retry": {"attempts": 1}},
                "fault": [
                    {
                        "kind": "action",
                        "action": {"kind": "notify_on_failure", "message": "Why: {{ run.error.reason }}"},
                    }
                ],
            },
            {"kind": "action", "action": TASK},
        ],
    }
    status, body = _save(stack, process)
    assert status == 201, body
    assert body["owner_id"] == "u-admin"  # the one who saved it is told
    _ses_fails(stack, ("Throttling", 400))

    _won(stack)

    run = _run_of(stack, "welcome")
    assert run.status == "failed"
    assert run.reason is not None and run.reason.startswith("welcome mail: ")
    assert run.reason.endswith("(handled by its fault branch)")
    assert [(e.step, e.handled) for e in run.errors] == [("welcome mail", "fault_branch")]
    assert _invoices(stack) == []  # stopped after the fault branch
    notices = [e for e in stack.emails() if "failed" in e.subject]
    assert len(notices) == 1
    assert notices[0].to == ["ada@acme.example"]
    assert f"/runs/{run.run_id}" in notices[0].body
    assert "Why: " in notices[0].body and "Throttling" in notices[0].body


def test_saving_refuses_bad_policies_and_unknown_run_facts_naming_each_field(stack: MotoStack) -> None:
    bad = _rule(
        {**WELCOME, "retry": {"attempts": 11, "retry_on": ["sometimes"]}},
        {**WELCOME, "on_error": "ignore", "body": "{{ run.error.why }}"},
    )

    status, body = _save(stack, bad)

    assert status == 422
    problems = {p["field"]: p["problem"] for p in body["problems"]}
    assert {"actions.0.retry.attempts", "actions.0.retry.retry_on.0", "actions.1.on_error"} <= set(problems)
    fact = _save(stack, _rule({**WELCOME, "body": "{{ run.error.why }}"}))
    assert fact[0] == 422
    assert "run.error.why is not a fact" in fact[1]["problems"][0]["problem"]
