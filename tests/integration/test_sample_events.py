"""Every file in events/ runs as given: loaded from disk and handed, exactly as it is, to the handler
``sam local invoke`` would run it with, after ``python -m dealflow.local seed`` (the webhook sample
after ``python -m dealflow.local sign-event``); each test checks the outcome events/README.md
promises. The moto server, the seed and the handlers are the harness's, named as env.json names
them (checked below too)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

from dealflow.aws.secrets import DEFAULT_SECRET_PREFIX
from dealflow.cli.failed_batches import parse_failure
from dealflow.engine.run_requests import run_id_for
from dealflow.local import MotoStack
from dealflow.local.__main__ import cli
from dealflow.local.cfn_yaml import load_template
from dealflow.local.provision import TEMPLATE
from dealflow.local.seed import DEFAULT_ENDPOINT, SENDER, sample_deals
from dealflow.local.stack import LambdaContext
from dealflow.local.tokens import claims_from_authorization
from dealflow.model import RunRecord
from dealflow.webhooks import verify

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(scope="module")
def server() -> Iterator[MotoStack]:
    """The harness over a moto server on 127.0.0.1, as `seed --endpoint` reaches it."""
    with MotoStack(server=True) as stack:
        yield stack


@pytest.fixture
def stack(server: MotoStack, capsys: pytest.CaptureFixture[str]) -> MotoStack:
    """Freshly seeded, the documented way; the seed's own writes are not dispatched (on AWS the
    stream mapping starts at LATEST, and a sample is invoked by hand, not by the stream)."""
    assert server.endpoint is not None
    cli(["seed", "--endpoint", server.endpoint])
    assert "deal-1001, deal-1002, deal-1003" in capsys.readouterr().out
    server._pump.poll()
    return server


def _api(stack: MotoStack, name: str) -> tuple[int, Any]:
    response = stack.call_api(_event(name))
    return response["statusCode"], json.loads(response["body"])


def _runs(stack: MotoStack, deal_id: str) -> dict[str, RunRecord]:
    return {run.automation_id: run for run in stack.runs("acme", deal_id) if run.status != "not_started"}


def _effects(run: RunRecord) -> list[dict[str, Any]]:
    return [step.detail for step in run.steps if step.kind == "action"]


# ---- the management API --------------------------------------------------------------------------


def test_every_api_sample_carries_a_token_whose_claims_are_the_authorizers() -> None:
    """API Gateway's JWT authorizer hands the handler the token's claims: a sample whose bearer token
    says one user and whose claims say another cannot have come from API Gateway."""
    for path in sorted(EVENTS.glob("api-*.json")):
        event = json.loads(path.read_text())
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        assert claims_from_authorization(event["headers"]["authorization"]) == claims, path.name
        if "body" in event:
            assert event["headers"]["content-length"] == str(len(event["body"].encode())), path.name


def test_console_map_draws_acmes_pipelines_and_its_copy_tunnel(stack: MotoStack) -> None:
    response = stack.call_api(_event("api-console-map.json"))

    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Content-Type"].startswith("text/plain")
    mermaid = response["body"]
    assert mermaid.startswith("flowchart") and mermaid.count("subgraph ") == 4
    assert '-.->|"copy: Won services deals go to delivery"|' in mermaid


def test_create_deal_creates_deal_2001_for_anna(stack: MotoStack) -> None:
    status, deal = _api(stack, "api-create-deal.json")

    assert status == 201, deal
    assert (deal["id"], deal["responsible_id"], deal["version"]) == ("deal-2001", "u-anna", 1)
    assert deal["tenant_id"] == "acme"  # from the token's claims; the body names no tenant
    assert stack.get_deal("acme", "deal-2001") is not None


def test_get_usage_counts_the_seeded_automation(stack: MotoStack) -> None:
    status, usage = _api(stack, "api-get-usage.json")

    assert status == 200, usage
    assert usage["plan"] == "business"
    assert usage["by_kind"] == {"rule": 4, "tunnel": 1, "trigger": 3, "business_process": 0}
    assert usage["automation"]["active"] == 8


def test_import_dry_run_lists_one_new_rule_and_one_changed_rule_and_writes_nothing(stack: MotoStack) -> None:
    before = stack.automation.definitions("acme")

    status, result = _api(stack, "api-import-dry-run.json")

    assert status == 200, result
    assert result["dry_run"] is True
    changed = {(c["kind"], c["id"]): c["change"] for c in result["changes"] if c["change"] != "unchanged"}
    assert changed == {("rule", "lost-notify-head"): "create", ("rule", "proposal-follow-up"): "update"}
    listed = {(c["kind"], c["id"]) for c in result["changes"]}
    assert {("pipeline", "sales"), ("field", "what_we_sell"), ("tunnel", "won-to-delivery")} <= listed
    assert stack.automation.definitions("acme") == before


def test_list_automation_finds_the_lost_deal_rule(stack: MotoStack) -> None:
    status, listed = _api(stack, "api-list-automation.json")

    assert status == 200, listed
    assert [a["id"] for a in listed["items"]] == ["lost-email"]


def test_list_deals_lists_the_seeded_deals(stack: MotoStack) -> None:
    status, deals = _api(stack, "api-list-deals.json")

    assert status == 200, deals
    assert [d["id"] for d in deals["items"]] == ["deal-1001", "deal-1002", "deal-1003"]
    assert deals["next_token"] is None


def test_put_field_step_workflow_creates_it_switched_off(stack: MotoStack) -> None:
    status, workflow = _api(stack, "api-put-field-step-workflow.json")

    assert status == 201, workflow
    assert (workflow["id"], workflow["field_code"], workflow["step_id"], workflow["enabled"]) == (
        "offer-qualified",
        "what_we_sell",
        "qualify",
        False,
    )


def test_put_rule_creates_the_negotiation_alert(stack: MotoStack) -> None:
    status, rule = _api(stack, "api-put-rule.json")

    assert status == 201, rule
    assert (rule["id"], rule["stage_id"], rule["enabled"], rule["version"]) == (
        "negotiation-alert",
        "negotiation",
        True,
        1,
    )


# ---- the dispatcher and the runner ---------------------------------------------------------------


def test_the_stream_sample_is_the_seeded_deals_own_writes() -> None:
    """The records' images are the deals as the seed stores them (same fields, same versions), so
    the runs they start see what a real stream would have shown."""
    from boto3.dynamodb.types import TypeDeserializer

    from dealflow.model import parse_item

    seeded = {deal.id: deal for deal in sample_deals()}
    for record in _event("dispatcher-stream.json")["Records"]:
        image = {k: TypeDeserializer().deserialize(v) for k, v in record["dynamodb"]["NewImage"].items()}
        assert parse_item(image) == seeded[image["id"]]


def test_dispatcher_stream_starts_the_won_deal_runs_and_fails_no_record(stack: MotoStack) -> None:
    notes = len(stack.notifications())

    response = stack._dispatcher_app.handler(_event("dispatcher-stream.json"), LambdaContext("DispatcherFunction"))
    stack.drain()

    assert response == {"batchItemFailures": []}
    runs = _runs(stack, "deal-1001")  # MODIFY: deal-1001 (services) entered "won"
    assert {a: r.status for a, r in runs.items()} == {
        "won-notify-head": "completed",
        "won-services-workgroup": "completed",
        "won-to-delivery": "completed",
    }
    [group] = _effects(runs["won-services-workgroup"])
    assert (group["name"], group["owner_id"]) == ("Website redesign for Northwind", "u-anna")
    [copied] = _effects(runs["won-to-delivery"])
    deal = stack.get_deal("acme", "deal-1001")
    assert deal is not None and deal.copy_ids == [copied["copy_id"]]
    [note] = stack.notifications()[notes:]
    assert (note.users, note.message) == (["u-head"], "Deal won: Website redesign for Northwind for 12500.00 EUR")
    assert _runs(stack, "deal-1002") == {}  # INSERT into "new": no automation watches it


def test_runner_start_completes_the_run_the_dispatcher_sample_starts(stack: MotoStack) -> None:
    text = (EVENTS / "runner-start.json").read_text()
    request = json.loads(text)
    [modify] = [r for r in _event("dispatcher-stream.json")["Records"] if r["eventName"] == "MODIFY"]
    assert request["run_id"] == run_id_for(modify["eventID"], request["automation"]["id"])
    notes = len(stack.notifications())

    # As `sam local invoke RunnerFunction --durable-execution-name <run_id>`: the durable runtime
    # hands the handler the file's JSON as the execution's input.
    with DurableFunctionTestRunner(handler=stack._runner_app.handler) as runner:
        result = runner.run(input=text, function_name="RunnerFunction", execution_name=request["run_id"])

    assert result.status is InvocationStatus.SUCCEEDED, result.error
    run = stack.run_log.get("acme", request["run_id"])
    assert run is not None and run.status == "completed"
    [note] = stack.notifications()[notes:]
    assert (note.users, note.message) == (["u-head"], "Deal won: Website redesign for Northwind for 12500.00 EUR")


def test_reconciler_sample_as_given_names_no_execution_here_and_changes_nothing(stack: MotoStack) -> None:
    event = _event("run-reconciler-timed-out.json")
    assert event["detail"]["durableExecutionName"] == json.loads((EVENTS / "runner-start.json").read_text())["run_id"]
    before = stack.run_log.all("acme")

    answer = stack.execution_status_changed(event)

    # The execution ARN is a deployed stack's; here no runner execution has it, so the run it names
    # cannot be found (tests/integration/test_run_failures.py points the event at a real one).
    assert answer == {"run_id": None, "status": None}
    assert stack.run_log.all("acme") == before


def test_the_failure_queue_sample_names_a_deployed_batch_that_redrive_reports_lost_here(stack: MotoStack) -> None:
    """Not a function's input: what the stream mapping's OnFailure destination receives, and
    `dealflow redrive` reads. Its shard is a deployed stream's, so locally the batch is lost."""
    assert stack.endpoint is not None
    body = (EVENTS / "dispatcher-on-failure.json").read_text()
    batch = parse_failure(body, "DealsTable")
    assert (batch.shard_id, batch.size, batch.condition) == (
        "shardId-00000001763888400000-7c1e9a2b",
        2,
        "RetryAttemptsExhausted",
    )
    stack._sqs.send_message(QueueUrl=stack.resources.queues["DispatcherFailureQueue"], MessageBody=body)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "layers" / "shared" / "python")}

    done = subprocess.run(
        [sys.executable, "-m", "dealflow.cli", "redrive", "--endpoint", stack.endpoint, "--json"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip

    assert done.returncode == 1, done.stderr  # something was lost
    [message] = json.loads(done.stdout)["messages"]
    assert message["lost"]["count"] == 2 and "no longer exists" in message["lost"]["reason"]
    assert message["records"] == [] and message["deleted"] is True


def test_cancellation_sample_as_given_names_no_job_here_and_changes_nothing(stack: MotoStack) -> None:
    event = _event("run-reconciler-cancellation.json")
    before = stack.run_log.all("acme")

    answer = stack._reconciler_app.handler(event, LambdaContext("RunReconcilerFunction"))

    assert answer == {"batchItemFailures": []}
    assert stack.run_log.all("acme") == before


def test_scheduler_tick_sample_finds_nothing_due_after_the_seed(stack: MotoStack) -> None:
    before = stack.run_log.all("acme")

    answer = stack._scheduler_app.handler(_event("scheduler-tick.json"), LambdaContext("SchedulerFunction"))

    # The seed stores no business process the clock starts: nothing is armed, due or started.
    assert answer == {"armed": 0, "fired": 0, "started": 0, "not_enrolled": 0, "stale": 0, "failed": 0, "left": False}
    assert stack.run_log.all("acme") == before


def test_timer_job_sample_as_given_names_no_process_here_and_starts_nothing(stack: MotoStack) -> None:
    before = stack.run_log.all("acme")

    answer = stack._scheduler_app.handler(_event("scheduler-timer-job.json"), LambdaContext("SchedulerFunction"))

    assert answer == {"batchItemFailures": []}
    assert stack.run_log.all("acme") == before


# ---- webhooks --------------------------------------------------------------------------------------


def _post(stack: MotoStack, event: dict[str, Any]) -> tuple[int, Any]:
    response = stack._webhooks_app.handler(event, LambdaContext("WebhooksFunction"))
    return response["statusCode"], json.loads(response["body"])


def test_the_committed_webhook_sample_is_refused_as_stale_and_was_good_when_signed(stack: MotoStack) -> None:
    event = _event("webhook-invoice-paid.json")

    status, refused = _post(stack, event)

    assert status == 401 and "too old" in refused["reason"]
    # Signed with the very secret the seed stores: valid at the moment it was made.
    secret = stack._ssm.get_parameter(Name=f"{DEFAULT_SECRET_PREFIX}/acme/webhook-secret", WithDecryption=True)
    headers, signed_at = event["headers"], int(event["headers"]["x-dealflow-timestamp"])
    assert verify(
        secret["Parameter"]["Value"], str(signed_at), headers["x-dealflow-signature"], event["body"], now=signed_at + 2
    )


def test_webhook_signed_afresh_wins_deal_1003_once(
    stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["sign-event", str(EVENTS / "webhook-invoice-paid.json")])
    signed = json.loads(capsys.readouterr().out)
    cli(["sign-event", str(EVENTS / "webhook-invoice-paid.json"), "--output", str(tmp_path / "signed.json")])
    assert (
        json.loads((tmp_path / "signed.json").read_text())["body"]
        == signed["body"]
        == _event("webhook-invoice-paid.json")["body"]
    )
    notes = len(stack.notifications())

    status, accepted = _post(stack, signed)
    stack.drain()

    assert status == 202, accepted
    assert accepted["event_id"] == "evt_inv_2026_0042_paid" and len(accepted["runs"]) == 1
    deal = stack.get_deal("acme", "deal-1003")
    assert deal is not None and deal.stage_id == "won"  # from negotiation, by the invoice-paid trigger
    runs = _runs(stack, "deal-1003")
    assert runs["invoice-paid"].status == runs["won-notify-head"].status == "completed"
    [note] = stack.notifications()[notes:]
    assert note.message == "Deal won: Data migration for Fabrikam for 7300.00 EUR"
    status, replayed = _post(stack, signed)
    assert (status, replayed["error"]) == (409, "replayed")


# ---- the files themselves ---------------------------------------------------------------------------


def test_every_sample_is_tested_here_and_documented() -> None:
    source = Path(__file__).read_text()
    readme = (EVENTS / "README.md").read_text()
    for path in sorted(EVENTS.glob("*.json")):
        assert f'"{path.name}"' in source, f"{path.name} has no test in {Path(__file__).name}"
        assert f"`{path.name}`" in readme, f"{path.name} is not described in events/README.md"


def _declared(template: dict[str, Any], function: str) -> dict[str, Any]:
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(template["Resources"][function]["Properties"]["Environment"]["Variables"])
    return variables


def test_env_json_names_what_the_harness_provisions_and_only_variables_sam_passes_on(server: MotoStack) -> None:
    env = json.loads((REPO / "env.json").read_text())
    template = load_template(TEMPLATE)
    functions = [name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    assert sorted(env) == sorted(functions)
    expected = {
        "DEALS_TABLE": server.resources.tables["DealsTable"],
        "AUTOMATION_TABLE": server.resources.tables["AutomationTable"],
        "NOTIFICATIONS_TOPIC_ARN": server.resources.topics["NotificationsTopic"],
        "SENDER_EMAIL": SENDER,
        "RUNNER_FUNCTION": "RunnerFunction",  # what `sam local start-lambda` serves
        "WEBHOOK_SECRET_PREFIX": DEFAULT_SECRET_PREFIX,
        "AWS_ENDPOINT_URL": DEFAULT_ENDPOINT,  # where `seed` puts the data
    }
    for function in functions:
        declared = _declared(template, function)
        # SAM passes on only what the template declares; anything else in env.json would vanish.
        assert set(env[function]) <= set(declared), function
        # What the template takes from other resources (!Ref, !GetAtt) has no local value but this.
        unresolved = {name for name, value in declared.items() if isinstance(value, dict) or value == ""}
        assert unresolved <= set(env[function]), (function, unresolved - set(env[function]))
        for name, value in env[function].items():
            assert value == expected.get(name, value), (function, name)
    # The runner's Lambda client is the durable runtime's own (checkpoints): never pointed elsewhere.
    assert "AWS_ENDPOINT_URL_LAMBDA" not in _declared(template, "RunnerFunction")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _invoke_like_sam(function: str, event: Path, endpoint: str) -> dict[str, Any]:
    """Run one handler in a process of its own, configured by nothing but env.json and what SAM
    itself sets, as `sam local invoke <function> --env-vars env.json` would (the endpoints aside:
    this test's moto server, and a port where no `sam local start-lambda` listens)."""
    variables = json.loads((REPO / "env.json").read_text())[function]
    variables["AWS_ENDPOINT_URL"] = endpoint
    if "AWS_ENDPOINT_URL_LAMBDA" in variables:
        variables["AWS_ENDPOINT_URL_LAMBDA"] = f"http://127.0.0.1:{_closed_port()}"
    sam_sets = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "defaultkey"}
    sam_sets |= {"AWS_SECRET_ACCESS_KEY": "defaultsecret", "AWS_SAM_LOCAL": "true"}
    app = REPO / "functions" / function.removesuffix("Function").lower() / "app.py"
    script = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('app', sys.argv[1])\n"
        "app = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(app)\n"
        "from dealflow.local.stack import LambdaContext\n"
        "event = json.loads(open(sys.argv[2]).read())\n"
        "print(json.dumps(app.handler(event, LambdaContext(sys.argv[3]))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(app), str(event), function],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path), **variables, **sam_sets},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_env_json_alone_lets_the_api_function_read_the_seeded_deals(stack: MotoStack) -> None:
    assert stack.endpoint is not None
    response = _invoke_like_sam("ApiFunction", EVENTS / "api-list-deals.json", stack.endpoint)

    assert response["statusCode"] == 200, response
    assert [d["id"] for d in json.loads(response["body"])["items"]] == ["deal-1001", "deal-1002", "deal-1003"]


def test_env_json_alone_gets_the_webhook_as_far_as_starting_its_run(
    stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Signature checked with the secret from SSM, deal and trigger found: only the runner is
    missing (no `sam local start-lambda`), which the sender is told to retry — as events/README.md
    says."""
    assert stack.endpoint is not None
    cli(["sign-event", str(EVENTS / "webhook-invoice-paid.json"), "--output", str(tmp_path / "signed.json")])

    response = _invoke_like_sam("WebhooksFunction", tmp_path / "signed.json", stack.endpoint)

    assert response["statusCode"] == 503, response
    assert json.loads(response["body"])["reason"] == "could not start the event's runs; retry later"
