"""The ``dealflow`` operator command against a moto server provisioned from template.yaml: what an
operator does after ``sam deploy`` (tenant, admin, webhook secret, smoke test) and what the tenant's
users then see through the management API and the webhook receiver."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr

from dealflow import runtime
from dealflow.cli.main import main
from dealflow.cli.target import DEAD_LETTER_OUTPUT, REQUIRED_OUTPUTS, SENDER_OUTPUT
from dealflow.local import MotoStack
from dealflow.local.cfn_yaml import load_template
from dealflow.local.provision import TEMPLATE
from dealflow.local.server import LocalApi
from dealflow.local.tokens import caller_token
from dealflow.model import Deal, Pipeline, Rule, RunRecord, RunStep, Stage, Trigger
from dealflow.store.run_dead_letter import SqsRunDeadLetter

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[MotoStack, LocalApi]]:
    """A moto server on 127.0.0.1 provisioned from template.yaml, and the management API over HTTP."""
    with MotoStack(server=True) as stack, LocalApi(stack, port=0) as api:
        yield stack, api


@pytest.fixture
def stack(served: tuple[MotoStack, LocalApi]) -> MotoStack:
    return served[0]


def dealflow(stack: MotoStack, *args: str) -> int:
    """Run the command in this process against the test's moto server."""
    assert stack.endpoint is not None
    return main([*args, "--endpoint", stack.endpoint])


def call(api: LocalApi, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def onboard(stack: MotoStack, tenant_id: str, *users: tuple[str, str]) -> None:
    assert dealflow(stack, "tenant", "create", tenant_id, "--name", f"{tenant_id.title()} Ltd") == 0
    for user_id, role in users:
        added = dealflow(
            stack,
            "user",
            "add",
            tenant_id,
            user_id,
            "--name",
            user_id,
            "--email",
            f"{user_id}@example.com",
            "--role",
            role,
        )
        assert added == 0


def test_a_tenant_s_mail_comes_from_the_stack_sender_and_replies_go_to_its_own_address(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        dealflow(stack, "tenant", "create", "replyco", "--name", "ReplyCo", "--reply-to", "jürgen@replyco.example") == 1
    )
    assert "sender_email" in (refused := capsys.readouterr().err) and "part before the @ is ASCII" in refused
    assert (
        dealflow(stack, "tenant", "create", "replyco", "--name", "ReplyCo", "--reply-to", "sales@replyco.example") == 0
    )
    capsys.readouterr()
    assert dealflow(stack, "tenant", "show", "replyco") == 0
    shown = capsys.readouterr().out  # locally the stack's SenderEmail output is not known to the command
    assert "e-mail from: ReplyCo <the stack's SenderEmail>; replies to: sales@replyco.example" in shown


def test_a_new_tenant_answers_the_api_with_its_new_admins_token(
    served: tuple[MotoStack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, api = served
    token = caller_token("newco", "u-boss", "admin")
    status, body = call(api, "GET", "/pipelines", token)
    assert status == 403 and "unknown tenant 'newco'" in body["reason"]

    assert dealflow(stack, "tenant", "create", "newco", "--name", "NewCo", "--plan", "team") == 0
    assert dealflow(stack, "user", "add", "newco", "u-boss", "--name", "Bo Boss", "--email", "bo@newco.example",
                    "--role", "admin") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "created tenant newco (NewCo) on the team plan" in out
    assert "sub=u-boss, custom:tenant_id=newco, custom:role=admin" in out

    assert call(api, "GET", "/pipelines", token) == (200, {"items": []})
    pipeline = {"id": "sales", "name": "Sales", "stages": [{"id": "new", "name": "New"}]}
    status, created = call(api, "PUT", "/pipelines/sales", token, pipeline)
    assert status == 201 and created["id"] == "sales"
    status, usage = call(api, "GET", "/usage", token)
    assert status == 200 and usage["plan"] == "team" and usage["automation"]["limit"] == 25

    assert dealflow(stack, "tenant", "show", "newco", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(u["id"], u["role"], u["email"]) for u in shown["users"]] == [("u-boss", "admin", "bo@newco.example")]
    assert shown["webhook_secret"].startswith("not set")
    assert dealflow(stack, "tenant", "list") == 0
    assert any(line.split()[:3] == ["newco", "team", "1"] for line in capsys.readouterr().out.splitlines())


def test_refusals_exit_non_zero_and_say_why(
    stack: MotoStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    onboard(stack, "refusing", ("u-1", "admin"))
    capsys.readouterr()

    assert dealflow(stack, "tenant", "create", "refusing", "--name", "Again") == 1
    assert "tenant 'refusing' already exists" in capsys.readouterr().err
    assert dealflow(stack, "user", "add", "refusing", "u-1", "--name", "Twin", "--email", "twin@example.com") == 1
    assert "tenant 'refusing' already has a user 'u-1'" in capsys.readouterr().err
    assert dealflow(stack, "user", "add", "ghost", "u-2", "--name", "Nobody", "--email", "n@example.com") == 1
    assert "unknown tenant 'ghost'" in capsys.readouterr().err
    assert dealflow(stack, "user", "add", "refusing", "u-2", "--name", "Bad", "--email", "not-an-address") == 1
    assert "email: value is not a valid email address" in capsys.readouterr().err
    assert dealflow(stack, "user", "set-role", "refusing", "u-9", "admin") == 1
    assert "tenant 'refusing' has no user 'u-9' (its users: u-1)" in capsys.readouterr().err
    assert dealflow(stack, "webhook-secret", "rotate", "ghost") == 1
    assert "unknown tenant 'ghost'" in capsys.readouterr().err
    assert dealflow(stack, "tenant", "create", "bad id", "--name", "Spaces") == 1
    assert "id: String should match pattern" in capsys.readouterr().err

    with pytest.raises(SystemExit) as bad_role:
        dealflow(
            stack, "user", "add", "refusing", "u-2", "--name", "Two", "--email", "two@example.com", "--role", "boss"
        )
    assert bad_role.value.code == 2
    assert "argument --role: invalid choice: 'boss'" in capsys.readouterr().err
    monkeypatch.delenv("DEALFLOW_STACK", raising=False)
    assert main(["tenant", "list"]) == 1
    assert "say where: --stack NAME (a deployed stack) or --endpoint URL" in capsys.readouterr().err
    assert [u.id for u in stack.automation.get_tenant("refusing").users] == ["u-1"]  # nothing half-written


def test_roles_change_and_plans_downgrade_without_switching_anything_off(
    served: tuple[MotoStack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, api = served
    onboard(stack, "downgrading", ("u-admin", "admin"), ("u-rep", "sales_rep"))
    stack.put_pipeline("downgrading", Pipeline(id="p", name="P", stages=[Stage(id="s", name="S")]))
    for n in range(6):
        notify = {"kind": "notify", "to": {"users": ["u-admin"]}, "message": "{{ deal.title }}"}
        rule = {"id": f"r{n}", "name": f"R{n}", "pipeline_id": "p", "stage_id": "s", "actions": [notify]}
        stack.put_rule("downgrading", Rule.model_validate(rule))
    capsys.readouterr()

    assert dealflow(stack, "user", "set-role", "downgrading", "u-rep", "sales_manager") == 0
    assert "u-rep is now sales_manager (was sales_rep)" in capsys.readouterr().out
    assert stack.automation.get_tenant("downgrading").user("u-rep").role == "sales_manager"  # type: ignore[union-attr]

    assert dealflow(stack, "tenant", "set-plan", "downgrading", "free") == 0
    out = capsys.readouterr().out
    assert "plan business → free" in out and "automation switched on: 6 of 5" in out and "over the plan by 1" in out
    status, usage = call(api, "GET", "/usage", caller_token("downgrading", "u-admin", "admin"))
    assert (
        status == 200 and usage["plan"] == "free" and usage["automation"] == {"active": 6, "limit": 5, "available": 0}
    )


def test_removing_a_user_that_automation_names_is_refused_until_forced(
    served: tuple[MotoStack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, api = served
    onboard(stack, "leaving", ("u-admin", "admin"), ("u-anna", "sales_rep"), ("u-cfo", "admin"))
    stack.put_pipeline("leaving", Pipeline(id="p", name="P", stages=[Stage(id="s", name="S")]))
    rule = {"id": "tell-anna", "name": "Tell Anna", "pipeline_id": "p", "stage_id": "s",
            "actions": [{"kind": "notify", "to": {"users": ["u-anna"]}, "message": "{{ deal.title }}"}]}  # fmt: skip
    stack.put_rule("leaving", Rule.model_validate(rule))
    stack.create_deal(
        Deal(tenant_id="leaving", id="d-1", pipeline_id="p", stage_id="s", title="D", responsible_id="u-anna")
    )
    admin = caller_token("leaving", "u-admin", "admin")
    status, body = call(api, "PUT", "/constants/chief_accountant", admin, {"type": "user", "value": "u-cfo"})
    assert status in (200, 201), body
    capsys.readouterr()

    assert dealflow(stack, "user", "remove", "leaving", "u-anna") == 1
    err = capsys.readouterr().err
    assert "tell-anna (Tell Anna): user 'u-anna' no longer exists (actions.0.to.users.0)" in err
    assert "1 deal(s) name u-anna as responsible (d-1)" in err and "--force" in err
    assert stack.automation.get_tenant("leaving").user("u-anna") is not None
    assert call(api, "GET", "/warnings", admin)[1]["items"] == []

    assert dealflow(stack, "user", "remove", "leaving", "u-anna", "--force") == 0
    assert "removed u-anna from tenant leaving" in capsys.readouterr().out
    assert stack.automation.get_tenant("leaving").user("u-anna") is None
    status, warnings = call(api, "GET", "/warnings", admin)
    assert [(w["automation_id"], w["warnings"]) for w in warnings["items"]] == [
        ("tell-anna", ["user 'u-anna' no longer exists (actions.0.to.users.0)"])
    ]

    assert dealflow(stack, "user", "remove", "leaving", "u-cfo", "--force") == 1
    assert "user 'u-cfo' is the value of constants.chief_accountant" in capsys.readouterr().err
    assert stack.automation.get_tenant("leaving").user("u-cfo") is not None


def _printed_secret(out: str) -> str:
    [secret] = [line for line in out.splitlines() if line.startswith("whsec_")]
    return secret


def test_a_webhook_signed_with_the_printed_secret_is_accepted_through_a_rotation(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    onboard(stack, "hooked", ("u-admin", "admin"))
    stack.put_pipeline(
        "hooked", Pipeline(id="p", name="P", stages=[Stage(id="new", name="New"), Stage(id="paid", name="Paid")])
    )
    stack.put_automation(
        "hooked", Trigger(id="paid", name="Paid", pipeline_id="p", stage_id="paid", event="invoice_paid")
    )
    stack.create_deal(Deal(tenant_id="hooked", id="d-1", pipeline_id="p", stage_id="new", title="Invoice 42"))
    stack.drain()
    capsys.readouterr()

    def post(event_id: str, secret: str) -> int:
        runtime.webhook_secrets().clear()  # receivers cache secrets for 5 minutes; a test does not wait
        return stack.post_webhook("hooked", {"id": event_id, "kind": "invoice_paid", "deal_id": "d-1"}, secret=secret)[
            0
        ]

    assert dealflow(stack, "webhook-secret", "rotate", "hooked") == 0
    first = _printed_secret(capsys.readouterr().out)
    assert post("evt-1", first) == 202
    stack.drain()
    assert stack.get_deal("hooked", "d-1").stage_id == "paid"  # type: ignore[union-attr]
    assert post("evt-2", "whsec_made_up") == 401

    assert dealflow(stack, "webhook-secret", "rotate", "hooked") == 0
    out = capsys.readouterr().out
    second = _printed_secret(out)
    assert second != first and "--finish" in out
    assert post("evt-3", first) == 202 and post("evt-4", second) == 202  # both while senders switch
    assert dealflow(stack, "webhook-secret", "rotate", "hooked") == 1
    assert "a rotation is under way" in capsys.readouterr().err

    assert dealflow(stack, "webhook-secret", "rotate", "hooked", "--finish") == 0
    assert post("evt-5", first) == 401 and post("evt-6", second) == 202
    assert dealflow(stack, "webhook-secret", "rotate", "hooked", "--finish") == 1
    assert "no rotation to finish" in capsys.readouterr().err

    assert dealflow(stack, "webhook-secret", "rotate", "hooked", "--replace") == 0
    third = _printed_secret(capsys.readouterr().out)
    assert post("evt-7", second) == 401 and post("evt-8", third) == 202


def test_smoke_runs_the_whole_flow_on_a_moto_server_and_leaves_nothing_behind(stack: MotoStack) -> None:
    assert stack.endpoint is not None
    # Another process, as an operator runs it: only the endpoint tells it where (no AWS_* variables).
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "layers" / "shared" / "python")}
    done = subprocess.run(
        [sys.executable, "-m", "dealflow.cli", "smoke", "--endpoint", stack.endpoint],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for check in ("run completed", "e-mail sent to success@simulator.amazonses.com (SES)",
                  "notification published (SNS)", "e-mail in moto's SES outbox", "notification on the SNS topic",
                  "cleaned up"):  # fmt: skip
        assert f"ok    {check}: " in done.stdout, done.stdout
    assert "smoke test passed" in done.stdout
    [tenant_id] = set(re.findall(r"smoke-[0-9a-f]{8}", done.stdout))
    assert [e.to for e in stack.emails() if tenant_id in e.subject] == [["success@simulator.amazonses.com"]]

    dynamodb = boto3.resource("dynamodb")  # the test stack's environment points at the same server
    for table in stack.resources.tables.values():
        leftovers = dynamodb.Table(table).scan(FilterExpression=Attr("tenant_id").begins_with("smoke-"))["Items"]
        assert leftovers == [], table


def test_a_deployed_stack_is_found_from_its_outputs(stack: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    declared = load_template(TEMPLATE)["Outputs"]
    assert {*REQUIRED_OUTPUTS, SENDER_OUTPUT, DEAD_LETTER_OUTPUT} <= set(declared)

    # A stand-in stack on the same moto server whose outputs name what the harness provisioned.
    values = {
        "DealsTableName": stack.resources.tables["DealsTable"],
        "AutomationTableName": stack.resources.tables["AutomationTable"],
        "NotificationsTopicArn": stack.resources.topics["NotificationsTopic"],
        "WebhookSecretPrefix": "/dealflow/tenants",
    }
    cloudformation = boto3.client("cloudformation")
    for name, outputs in (("dealflow-test", values), ("dealflow-old", {"DealsTableName": "DealsTable"})):
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    onboard(stack, "via-stack")
    capsys.readouterr()

    assert main(["tenant", "list", "--stack", "dealflow-test", "--region", stack.region]) == 0
    assert "via-stack" in capsys.readouterr().out
    assert main(["tenant", "list", "--stack", "dealflow-old", "--region", stack.region]) == 1
    err = capsys.readouterr().err
    assert "lacks the outputs AutomationTableName, NotificationsTopicArn, WebhookSecretPrefix" in err
    assert main(["tenant", "list", "--stack", "no-such-stack", "--region", stack.region]) == 1
    assert "cannot read stack 'no-such-stack'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["tenant", "create"], ["tenant", "show"], ["tenant", "list"], ["tenant", "set-plan"], ["user", "add"],
        ["user", "set-role"], ["user", "remove"], ["webhook-secret", "rotate"], ["smoke"], ["runs", "list"],
        ["runs", "retry"], ["runs", "cancel"], ["runs", "resume"], ["run-log", "drain"], ["redrive"],
        ["http-secret", "signing"], ["http-secret", "header"],
    ],
)  # fmt: skip
def test_every_command_documents_itself_and_where_it_acts(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as shown:
        main([*command, "--help"])
    assert shown.value.code == 0
    text = capsys.readouterr().out
    assert "--stack" in text and "--endpoint" in text and "--region" in text
    assert len(text.split("\n\n")[1]) > 40  # a description, not just the usage line


def dead_lettered(run_id: str, status: str, steps: int) -> RunRecord:
    """A run's record as the runner sent it to the dead-letter when the run log refused it."""
    return RunRecord(
        tenant_id="drained",
        run_id=run_id,
        automation_id="won-email",
        automation_name="Won: e-mail",
        automation_kind="rule",
        deal_id="d-1",
        event_id="e-1",
        started_by={},
        status=status,  # type: ignore[arg-type]
        steps=[RunStep(name=f"step-{n}", kind="action", outcome="done") for n in range(steps)],
        started_at="2026-01-05T10:00:00.000+00:00",
        finished_at="2026-01-05T10:00:01.000+00:00" if status == "completed" else None,
    )


def test_run_records_the_run_log_refused_are_drained_back_into_it_never_over_newer_ones(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    letters = SqsRunDeadLetter(boto3.client("sqs"), stack.resources.queues["RunLogDeadLetterQueue"])
    stack.run_log.write(dead_lettered("run-newer", "running", steps=3))  # written after its dead letter
    for record in (dead_lettered("run-late", "completed", 2), dead_lettered("run-newer", "running", 1)):
        letters.put(record, "the run log could not be written: throttled")
    capsys.readouterr()

    assert dealflow(stack, "run-log", "drain") == 0
    out = capsys.readouterr().out
    assert "written: run run-late of tenant drained (completed): the run log could not be written: throttled" in out
    assert "1 run record(s) written to the run log; 1 already there in a newer state." in out
    late, newer = stack.run_log.get("drained", "run-late"), stack.run_log.get("drained", "run-newer")
    assert late is not None and late.status == "completed"
    assert newer is not None and len(newer.steps) == 3
    assert dealflow(stack, "run-log", "drain") == 0  # nothing left: every message was deleted
    assert "0 run record(s) written" in capsys.readouterr().out


def test_samconfig_holds_defaults_for_template_parameters_and_no_account_or_secret() -> None:
    text = (REPO / "samconfig.toml").read_text()
    config = tomllib.loads(text)
    deploy = config["default"]["deploy"]["parameters"]
    overridden = {pair.split("=", 1)[0] for pair in shlex.split(deploy["parameter_overrides"])}
    assert overridden <= set(load_template(TEMPLATE)["Parameters"])
    assert "SenderEmail" not in overridden and "JwtIssuer" not in overridden  # yours to give, not ours
    assert config["default"]["global"]["parameters"]["stack_name"] == "dealflow"
    assert not re.search(r"\b\d{12}\b", text)  # no account id
    assert not re.search(r"(?i)(secret|password|aws_access_key)\s*=", text)
