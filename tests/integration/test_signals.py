"""What an operator sees of a deal's runs without opening the run log: the EMF metrics the
functions print (CloudWatch turns them into metrics) and the ids on their log lines."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dealflow.engine.compiled import MAX_DEPTH
from dealflow.local import MotoStack
from dealflow.local.cfn_yaml import load_template
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.local.provision import TEMPLATE
from dealflow.model import BusinessProcess, Notify, Recipients, Rule, Trigger, Tunnel
from dealflow.model.catalog import AUTOMATION_KINDS
from tests.integration.test_broken_references import ADMIN, _budget_automation
from tests.integration.test_run_failures import follow_up_waiting, reconciler_event


@pytest.fixture
def loud_stack() -> Iterator[MotoStack]:
    """The demo tenant, its functions printing their logs and metrics as on AWS."""
    with MotoStack(quiet=False) as local:
        set_up(local)
        yield local


@pytest.fixture
def listen(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], None]]:
    """``listen()``: from here on, capture what the functions print (their logger holds the stdout
    of whoever made it first, and the level of the first stack that made it, perhaps a quiet one;
    both are given back afterwards)."""
    logger = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "dealflow-local"))
    saved: list[tuple[logging.StreamHandler[Any], Any]] = []
    level = logger.level

    def start() -> None:
        capsys.readouterr()
        logger.setLevel(logging.INFO)
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                saved.append((handler, handler.stream))
                handler.stream = sys.stdout  # not setStream: the stream it holds may be a closed capture

    yield start
    logger.setLevel(level)
    for handler, stream in saved:
        handler.stream = stream  # not setStream: it would flush capsys's stream, closed by now


def _printed(out: str) -> list[dict[str, Any]]:
    lines = []
    for line in out.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def _metric(printed: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    """The total CloudWatch would show for ``name`` with these dimensions (EMF documents only)."""
    total = 0.0
    for document in printed:
        if "_aws" not in document or name not in document:
            continue
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Dealflow"
        assert [] in directive["Dimensions"]  # every metric has its total too, for the alarms
        assert not {"tenant_id", "deal_id", "run_id"} & set(directive["Dimensions"][0])
        if all(document.get(k) == v for k, v in dimensions.items()):
            total += sum(document[name])
    return total


def test_a_deal_won_and_one_lost_show_as_runs_and_effects(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    stack.create_deal(demo_deal("d-2", "Deal d-2", "12500.00", "products"))
    stack.drain()
    listen()
    stack.move_deal(TENANT, "d-2", "won")  # notifies the head of sales; the workgroup rule does not start
    stack.create_deal(demo_deal("d-3", "Data migration", "7300.00", "services", company="Fabrikam"))
    stack.move_deal(TENANT, "d-3", "lost")  # e-mails the team
    stack.drain()
    printed = _printed(capsys.readouterr().out)

    ran = [r for r in stack.runs(TENANT) if r.status not in ("not_started", "skipped")]
    assert ran and all(r.status == "completed" for r in ran)
    assert _metric(printed, "RunsStarted", function="dispatcher", kind="rule") == len(ran)
    assert _metric(printed, "RunsCompleted", function="runner", kind="rule") == len(ran)
    assert _metric(printed, "RunsFailed") == 0
    assert _metric(printed, "RunsNotStarted", function="dispatcher", kind="rule") >= 1
    assert (
        _metric(printed, "Effects", function="runner", effect="email") == len(stack.emails()) == 2
    )  # one message per recipient
    assert _metric(printed, "Effects", function="runner", effect="notification") == len(stack.notifications())
    lags = [v for d in printed if "DispatcherLag" in d for v in d["DispatcherLag"]]
    assert lags and all(lag >= 0 for lag in lags)

    # The log lines name what they are about, so one deal's story can be filtered out of them.
    started = [line for line in printed if line.get("message") == "runs started" and line.get("deal_id") == "d-3"]
    assert started and started[0]["tenant_id"] == TENANT and started[0]["event_id"]
    [lost_run] = [r for r in ran if r.deal_id == "d-3"]
    [ended] = [line for line in printed if line.get("message") == "run ended" and line.get("deal_id") == "d-3"]
    assert ended["run_id"] == lost_run.run_id
    assert ended["automation_id"] == lost_run.automation_id
    assert ended["tenant_id"] == TENANT and ended["event_id"] == lost_run.event_id
    assert ended["status"] == "completed"


def test_a_redelivered_batch_counts_no_second_start_and_no_second_email(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    stack.create_deal(demo_deal("d-3", "Data migration", "7300.00", "services", company="Fabrikam"))
    stack.move_deal(TENANT, "d-3", "lost")
    stack.drain()
    listen()
    stack.deliver(stack.delivered[-1:])  # the stream hands the same record over again
    stack.drain()
    printed = _printed(capsys.readouterr().out)

    assert len(stack.emails()) == 2  # one message per recipient, once each
    assert _metric(printed, "RunsStarted") == 0
    assert _metric(printed, "Effects") == 0


def test_a_failed_run_and_a_stopped_loop_show_as_metrics_and_say_why_in_the_log(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    stack.put_rule(  # the deal's responsible user left: only the run finds out
        TENANT,
        Rule(
            id="broken",
            name="Notify a user who left",
            pipeline_id="sales",
            stage_id="lost",
            actions=[Notify(to=Recipients(responsible=True), message="lost {{ deal.title }}")],
        ),
    )
    for tunnel_id, (source, target) in {
        "there": (("sales", "negotiation"), ("renewals", "due")),
        "back": (("renewals", "due"), ("sales", "negotiation")),
    }.items():
        stack.put_automation(
            TENANT,
            Tunnel(
                id=tunnel_id,
                name=tunnel_id,
                pipeline_id=source[0],
                stage_id=source[1],
                target_pipeline_id=target[0],
                target_stage_id=target[1],
                mode="move",
            ),
        )
    stack.create_deal(demo_deal("d-1", "Gone", "1.00", "services", responsible="u-gone"))
    stack.create_deal(demo_deal("d-9", "Ping-pong", "1.00", "products"))
    stack.drain()
    listen()
    stack.move_deal(TENANT, "d-1", "lost")
    stack.move_deal(TENANT, "d-9", "negotiation")
    stack.drain()
    printed = _printed(capsys.readouterr().out)

    [failed] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "broken"]
    assert failed.status == "failed"
    assert _metric(printed, "RunsFailed", function="runner", kind="rule") == 1
    assert _metric(printed, "RunsFailed") == 1  # what RunsFailedAlarm watches
    [line] = [line for line in printed if line.get("message") == "run failed"]
    assert (line["tenant_id"], line["deal_id"], line["run_id"]) == (TENANT, "d-1", failed.run_id)
    assert "unknown user(s): u-gone" in line["reason"]
    assert line["level"] == "WARNING"

    assert _metric(printed, "RunsStarted", kind="tunnel") == MAX_DEPTH
    assert _metric(printed, "RunsLoopStopped", function="dispatcher", kind="tunnel") == 1
    assert _metric(printed, "Effects", effect="deal_write") >= MAX_DEPTH


def test_a_webhook_event_logs_its_tenant_and_event_id_and_counts_the_runs_it_started(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    stack.put_automation(
        TENANT,
        Trigger(id="paid", name="Invoice paid", pipeline_id="sales", stage_id="won", event="invoice_paid"),
    )  # the demo's own triggers of the event start theirs too
    stack.set_webhook_secret(TENANT, "whsec_acme_0123456789abcdef0123456789abcdef")
    stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
    stack.drain()
    listen()
    status, body = stack.post_webhook(TENANT, {"id": "evt-7", "kind": "invoice_paid", "deal_id": "d-1"})
    stack.drain()
    printed = _printed(capsys.readouterr().out)

    assert status == 202 and len(body["runs"]) >= 1
    [accepted] = [line for line in printed if line.get("message") == "webhook accepted"]
    assert (accepted["tenant_id"], accepted["event_id"], accepted["runs"]) == (TENANT, "evt-7", body["runs"])
    assert _metric(printed, "RunsStarted", function="webhooks", kind="trigger") == len(body["runs"])


def test_a_run_whose_execution_timed_out_counts_as_failed_once(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    run_id = follow_up_waiting(stack)
    stack.runs_port.time_out(run_id)  # on AWS the runner never gets control again
    listen()
    stack.execution_status_changed(reconciler_event(stack, run_id, "TIMED_OUT"))
    stack.execution_status_changed(reconciler_event(stack, run_id, "TIMED_OUT"))  # EventBridge redelivers
    printed = _printed(capsys.readouterr().out)

    assert _metric(printed, "RunsFailed", function="run-reconciler", kind="rule") == 1
    [filed] = [line for line in printed if line.get("message") == "run filed as failed"]
    assert (filed["run_id"], filed["deal_id"], filed["automation_id"]) == (run_id, "d-1", "proposal-follow-up")


# Every dimension and the values it may take: a handful each, whatever the number of tenants,
# deals and runs (a tenant, deal or run id as a dimension would be a metric of its own per value).
FEW_VALUES = {
    "function": {"dispatcher", "runner", "webhooks", "api", "run-reconciler", "scheduler"},
    "kind": set(AUTOMATION_KINDS),
    "effect": {"email", "notification", "deal_write", "task", "workgroup", "http_request"},
    "outcome": {"skipped", "stopped", "cancelled"},
}


def test_every_effect_kind_and_a_stopped_run_are_counted_under_dimensions_of_few_values(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    for deal_id, what in (("d-1", "services"), ("d-2", "services"), ("d-3", "products")):
        stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "9000.00", what, company="Fabrikam"))
    stack.drain()
    listen()
    stack.move_deal(TENANT, "d-1", "proposal")  # waits 2 days, then e-mails and creates a task
    stack.move_deal(TENANT, "d-2", "proposal")
    stack.drain()
    stack.move_deal(TENANT, "d-2", "won")  # its follow-up finds it gone: stopped; a workgroup, a copy, a note
    stack.move_deal(TENANT, "d-3", "lost")
    stack.advance(days=2)
    printed = _printed(capsys.readouterr().out)

    assert _metric(printed, "Effects", function="runner", effect="task") == len(stack.tasks(TENANT)) == 1
    assert _metric(printed, "Effects", function="runner", effect="workgroup") == len(stack.workgroups(TENANT)) == 1
    assert _metric(printed, "Effects", function="runner", effect="deal_write") >= 1  # the copy to delivery
    [stopped] = [r for r in stack.runs(TENANT, "d-2") if r.automation_id == "proposal-follow-up"]
    assert _metric(printed, "RunsStopped", function="runner", kind="rule", outcome=stopped.status) == 1
    documents = [d for d in printed if "_aws" in d]
    assert documents
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]:
            assert set(dimensions) <= set(FEW_VALUES), dimensions
            for name in dimensions:
                assert document[name] in FEW_VALUES[name], (name, document[name])

    # The dashboard's and the alarms' own metrics are the ones printed: same dimension names and
    # values (CloudWatch shows an empty graph, and an alarm never fires, for a set nobody publishes).
    emitted = {
        (name, frozenset((k, document[k]) for k in dimensions))
        for document in documents
        for dimensions in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        for name in (m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"])
        if name in document
    }
    names = {name for name, _ in emitted}
    watched = [w for w in _watched_in_template() if w[0] in names]
    assert {"RunsStarted", "RunsCompleted", "RunsStopped", "Effects", "DispatcherLag"} <= {w[0] for w in watched}
    for name, dimensions in watched:
        assert (name, dimensions) in emitted, (name, dict(dimensions))


def test_a_date_trigger_prints_its_lateness_as_its_alarm_watches_it(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    process = {
        "kind": "business_process",
        "id": "proposal-chaser",
        "name": "A day after the proposal",
        "start_on": ["date"],
        "on_date": {"field": "proposal_sent_on", "days": 1},
        "nodes": [{"kind": "action", "action": {"kind": "create_task", "title": "Chase {{ deal.title }}"}}],
    }
    stack.put_automation(TENANT, BusinessProcess.model_validate(process))
    stack.tick()
    today = stack.clock.now().date().isoformat()
    deal = demo_deal("d-1", "Deal d-1", "9000.00", "services")
    stack.create_deal(deal.model_copy(update={"fields": {**deal.fields, "proposal_sent_on": today}}))
    stack.drain()
    listen()
    stack.advance(days=1)
    stack.tick()
    printed = _printed(capsys.readouterr().out)

    assert len(stack.tasks(TENANT)) == 1
    [late] = [d for d in printed if "TimerLateness" in d]
    assert (late["function"], late["kind"]) == ("scheduler", "date")
    [seconds] = late["TimerLateness"]  # due at midnight UTC of the date; the tick came later that day
    assert 0 <= seconds < 86_400
    assert _metric(printed, "RunsStarted", function="scheduler", kind="business_process") == 1
    assert ("TimerLateness", frozenset({("function", "scheduler"), ("kind", "date")})) in _watched_in_template()


def _watched_in_template() -> list[tuple[str, frozenset[tuple[str, str]]]]:
    """Each Dealflow metric the dashboard graphs or an alarm watches, with its dimensions."""
    resources = load_template(TEMPLATE)["Resources"]
    watched = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and props.get("Namespace") == "Dealflow":
            dims = frozenset((d["Name"], d["Value"]) for d in props.get("Dimensions", []))
            watched.append((props["MetricName"], dims))
        elif resource["Type"] == "AWS::CloudWatch::Dashboard":
            for widget in json.loads(props["DashboardBody"]["Fn::Sub"])["widgets"]:
                for metric in widget["properties"]["metrics"]:
                    if metric[0] == "Dealflow":
                        pairs = [m for m in metric[2:] if isinstance(m, str)]
                        watched.append((metric[1], frozenset(zip(pairs[::2], pairs[1::2], strict=True))))
    return watched


def test_a_process_started_by_hand_through_the_api_counts_as_an_api_start(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    admin = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
    anna = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
    process = {
        "kind": "business_process",
        "id": "follow-up",
        "name": "Follow up",
        "entity": "deal",
        "start_on": ["manual"],
        "nodes": [{"kind": "action", "action": {"kind": "create_task", "title": "Call back"}}],
    }
    assert stack.api("PUT", "/automation/follow-up", process, claims=admin)[0] == 201
    stack.create_deal(demo_deal("d-5", "Cloud migration", "900.00", "services"))
    stack.drain()
    listen()
    status, started = stack.api("POST", "/deals/d-5/runs", {"process_id": "follow-up"}, claims=anna)
    stack.drain()
    printed = _printed(capsys.readouterr().out)

    assert status == 202 and started["started"] is True
    assert _metric(printed, "RunsStarted", function="api", kind="business_process") == 1
    assert _metric(printed, "Effects", function="runner", effect="task") == 1


def test_automation_skipped_for_broken_references_counts_as_runs_skipped(
    loud_stack: MotoStack, listen: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = loud_stack
    _budget_automation(stack)
    assert stack.api("DELETE", "/fields/budget", claims=ADMIN)[0] == 200  # rule big-budget now names nothing
    stack.create_deal(demo_deal("d-1", "Tender", "50000.00", "services"))
    stack.drain()
    listen()
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()
    printed = _printed(capsys.readouterr().out)

    [skipped] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "big-budget"]
    assert skipped.status == "skipped"
    assert _metric(printed, "RunsSkipped", function="dispatcher", kind="rule") == 1
