"""The IAM contract bites: every AWS call a handler makes locally is judged against that function's
role in the SAM-translated template.yaml, and a call the role does not allow gets AWS's refusal and
fails the stack, naming function, action and resource. (Every other integration test runs under the
same contract; these tests show it refusing, and what it leaves alone.)"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from dealflow.local import MotoStack
from dealflow.local.cfn_yaml import load_template
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.local.iam import IamContractBroken
from dealflow.local.provision import TEMPLATE
from dealflow.model import BusinessProcess

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ACCOUNT_REGION = "eu-west-1:123456789012"
SENDER = f"arn:aws:ses:{ACCOUNT_REGION}:identity/automation@dealflow.example"
AUTOMATION_TABLE = f"arn:aws:dynamodb:{ACCOUNT_REGION}:table/AutomationTable"
DEALS_TABLE = f"arn:aws:dynamodb:{ACCOUNT_REGION}:table/DealsTable"
RUNNER_ALIAS = f"arn:aws:lambda:{ACCOUNT_REGION}:function:RunnerFunction:live"
_BY_HAND = BusinessProcess.model_validate(
    {
        "id": "by-hand",
        "name": "By hand",
        "start_on": ["manual"],
        "nodes": [{"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "hi"}}],
    }
)


def _without(function: str, keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """template.yaml with the policies of ``function`` for which ``keep`` is false taken out."""
    template = copy.deepcopy(load_template(TEMPLATE))
    properties = template["Resources"][function]["Properties"]
    properties["Policies"] = [p for p in properties["Policies"] if keep(p)]
    return template


def _without_sid(function: str, sid: str) -> dict[str, Any]:
    return _without(function, lambda p: not any(s.get("Sid") == sid for s in p.get("Statement", [])))


def test_a_lost_deal_whose_runner_may_not_send_as_the_sender_sends_nothing_and_fails_the_stack() -> None:
    with pytest.raises(IamContractBroken) as broken, MotoStack() as stack:
        set_up(stack)
        stack.iam.judge_by(_without_sid("RunnerFunction", "SendAsSender"))
        stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        stack.drain()
        stack.move_deal(TENANT, "d-1", "lost")
        stack.drain()

        assert stack.emails() == []
        [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "lost-email"]
        assert run.status == "failed"
        assert "AccessDeniedException" in (run.reason or "") and "ses:SendEmail" in (run.reason or "")

    [refusal] = {(r.function, r.action, r.resource) for r in broken.value.refusals}
    assert refusal == ("RunnerFunction", "ses:SendEmail", SENDER)
    assert f"RunnerFunction may not ses:SendEmail on {SENDER}" in str(broken.value)


@pytest.mark.parametrize(
    ("function", "sid", "act", "refused"),
    [
        # The run log of one deal is read through the by_deal index: the table's grant is not enough.
        (
            "ApiFunction",
            "ReadRunLogIndexes",
            lambda stack: stack.api("GET", "/runs", claims=ADMIN, query={"deal_id": "d-1"}),
            ("ApiFunction", "dynamodb:Query", f"{AUTOMATION_TABLE}/index/by_deal"),
        ),
        # Runs start through the runner's alias (a durable function is invoked qualified).
        (
            "DispatcherFunction",
            "StartRuns",
            lambda stack: (stack.move_deal(TENANT, "d-1", "lost"), stack.drain()),
            ("DispatcherFunction", "lambda:InvokeFunction", RUNNER_ALIAS),
        ),
        # A business process started by hand through the API.
        (
            "ApiFunction",
            "StartRuns",
            lambda stack: (
                stack.put_automation(TENANT, _BY_HAND),
                stack.api("POST", "/deals/d-1/runs", {"process_id": "by-hand"}, claims=ADMIN),
            ),
            ("ApiFunction", "lambda:InvokeFunction", RUNNER_ALIAS),
        ),
    ],
    ids=["api-reads-run-log-index", "dispatcher-invokes-runner-alias", "api-invokes-runner-alias"],
)
def test_a_grant_taken_out_of_the_template_refuses_the_call_that_needed_it(
    function: str, sid: str, act: Callable[[MotoStack], object], refused: tuple[str, str, str]
) -> None:
    with pytest.raises(IamContractBroken) as broken, MotoStack() as stack:
        set_up(stack)
        stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        stack.drain()
        stack.iam.judge_by(_without_sid(function, sid))
        act(stack)

    assert refused in {(r.function, r.action, r.resource) for r in broken.value.refusals}
    assert "{} may not {} on {}".format(*refused) in str(broken.value)


def test_only_calls_made_inside_a_handler_are_judged() -> None:
    # The API may not touch the deals table at all here; the test itself still seeds a deal.
    no_deals = _without_sid("ApiFunction", "ReadWriteDeals")
    with pytest.raises(IamContractBroken) as broken, MotoStack() as stack:
        set_up(stack)
        stack.iam.judge_by(no_deals)
        stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        assert stack.get_deal(TENANT, "d-1") is not None
        assert stack.iam.refusals == []

        status, _ = stack.api("GET", "/deals/d-1", claims=ADMIN)

        assert status == 500  # what the API answers on AWS when its role cannot read the deal

    assert {(r.function, r.action, r.resource) for r in broken.value.refusals} == {
        ("ApiFunction", "dynamodb:GetItem", DEALS_TABLE)
    }


def test_a_webhook_secret_under_a_customer_managed_key_needs_kms_decrypt_the_role_lacks() -> None:
    secret = "whsec_acme_0123456789abcdef0123456789abcdef"
    with pytest.raises(IamContractBroken) as broken, MotoStack() as stack:
        set_up(stack)
        stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        # The test's own calls, outside every handler: not judged.
        key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        boto3.client("ssm").put_parameter(
            Name=f"/dealflow/tenants/{TENANT}/webhook-secret", Value=secret, Type="SecureString", KeyId=key
        )
        stack.webhook_secrets[TENANT] = secret

        status, body = stack.post_webhook(TENANT, {"id": "evt-1", "kind": "invoice_paid", "deal_id": "d-1"})

        assert status == 503, body  # AWS trouble: the sender retries later

    [refusal] = broken.value.refusals
    assert (refusal.function, refusal.action) == ("WebhooksFunction", "kms:Decrypt")
    assert refusal.resource == f"arn:aws:kms:{ACCOUNT_REGION}:key/{key}"


def test_every_function_is_judged_along_a_deal_s_way(stack: MotoStack) -> None:
    new_deal = {"pipeline_id": "sales", "stage_id": "new", "title": "Cloud migration", "amount": "24000.00"}
    status, deal = stack.api("POST", "/deals", new_deal, claims=ADMIN)
    assert status == 201
    stack.drain()
    stack.move_deal(TENANT, deal["id"], "lost")
    stack.drain()
    stack.set_webhook_secret(TENANT, "whsec_acme_0123456789abcdef0123456789abcdef")
    stack.post_webhook(TENANT, {"id": "evt-1", "kind": "invoice_paid", "deal_id": deal["id"]})

    emails = stack.emails()  # one message per recipient of the lost-deal e-mail
    assert emails and all(e.subject.startswith("Lost: Cloud migration") for e in emails)
    # RunReconcilerFunction and SchedulerFunction: the cancellation and timer queues' mappings
    # poll with their roles, as on AWS.
    assert set(stack.iam.calls) == {
        "ApiFunction",
        "DispatcherFunction",
        "RunnerFunction",
        "WebhooksFunction",
        "RunReconcilerFunction",
        "SchedulerFunction",
    }
    assert stack.iam.refusals == []


def test_an_email_ses_refuses_fails_its_run_and_frees_its_ledger_claim_as_the_runner_may(stack: MotoStack) -> None:
    # The test's own call, outside every handler: the sender is no longer a verified identity.
    boto3.client("sesv2").delete_email_identity(EmailIdentity=stack.sender)
    stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "lost")
    stack.drain()

    assert stack.emails() == []
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "lost-email"]
    assert run.status == "failed" and "not verified" in (run.reason or "")
    # The refused send freed its effect-ledger claim (a DeleteItem), so a retry may send it.
    items = boto3.resource("dynamodb").Table("AutomationTable").scan()["Items"]
    assert not [i for i in items if i["sk"].startswith("EFFECT#")]
    assert stack.iam.refusals == []
