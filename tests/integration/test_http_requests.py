"""The ``http_request`` action on the local stack, against a real HTTP server on 127.0.0.1 (a
thread of the test): signed and keyed requests, retries on 5xx, 429 (with its Retry-After) and a
timeout, a private address refused, the delivery log on the run, no second request after a
retried step succeeded (counted at the server), the answer saved into a field, and test mode
(issue 15, item 1)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.cfn_yaml import load_template
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.local.iam import IamContractBroken
from dealflow.local.provision import TEMPLATE
from dealflow.model import FieldDefinition, FieldKind
from dealflow.webhooks import verify

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
SIGNING = "outgoing-signing-secret"
TOKEN = "crm-token-123"


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    pause: float = 0.0  # seconds before answering (a timeout test)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: datetime  # on the stack's clock


class Receiver:
    """An HTTP server on 127.0.0.1 answering from a script (then 200), keeping every request."""

    def __init__(self, stack: MotoStack) -> None:
        self.script: list[Answer] = []
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.received.append(Received(self.command, self.path, dict(self.headers), body, stack.clock.now()))
                answer = receiver.script.pop(0) if receiver.script else Answer()
                if answer.pause:
                    time.sleep(answer.pause)
                data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting
                    pass

            do_POST = do_GET = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(stack: MotoStack) -> Iterator[Receiver]:
    stack.set_http_secret(TENANT, SIGNING)
    stack.set_http_secret(TENANT, TOKEN, "crm-token")
    stack.put_field(TENANT, FieldDefinition(code="external_id", name="External id", kind=FieldKind.TEXT))
    server = Receiver(stack)
    yield server
    server.close()


def _call(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "http_request",
        "url": receiver.url + "/hooks/deals/{{ deal.id }}",
        "headers": {"X-Deal-Title": "{{ deal.title }}"},
        "secret_headers": {"Authorization": "crm-token"},
        "json_body": {"deal": "{{ deal.id }}", "amount": "{{ deal.amount }}"},
        **extra,
    }


def _rule(*actions: dict[str, Any], automation_id: str = "won-call") -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": automation_id,
        "name": "Won: tell the ERP",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": list(actions),
    }


def _save(stack: MotoStack, *actions: dict[str, Any], automation_id: str = "won-call") -> None:
    rule = _rule(*actions, automation_id=automation_id)
    status, body = stack.api("PUT", f"/automation/{automation_id}", rule, claims=ADMIN)
    assert status == 201, body


def _won(stack: MotoStack, deal_id: str = "d-1") -> None:
    stack.create_deal(demo_deal(deal_id, "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, deal_id, "won")
    stack.drain()


def _run(stack: MotoStack, automation_id: str = "won-call") -> dict[str, Any]:
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == automation_id and r.status != "not_started"]
    status, body = stack.api("GET", f"/runs/{run.run_id}", claims=ADMIN)
    assert status == 200, body
    return body


def _step(run: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in reversed(run["steps"]) if s["kind"] == "action")


def _statuses(step: dict[str, Any]) -> list[int]:
    """The delivery log's statuses (the API gives the run log's numbers as JSON texts)."""
    return [int(d["status"]) for d in step["detail"]["deliveries"]]


def test_a_request_goes_out_once_rendered_signed_and_keyed_with_its_secret_header(
    stack: MotoStack, receiver: Receiver
) -> None:
    _save(stack, _call(receiver))

    _won(stack)

    [got] = receiver.received
    assert (got.method, got.path) == ("POST", "/hooks/deals/d-1")
    assert json.loads(got.body) == {"deal": "d-1", "amount": "7300.00"}
    assert got.headers["X-Deal-Title"] == "Data migration"
    assert got.headers["Authorization"] == TOKEN
    assert got.headers["Content-Type"] == "application/json"
    # A receiver checks it as Dealflow checks webhooks sent to it: the same scheme, the same code.
    now = got.at.timestamp()
    signed = got.headers["X-Dealflow-Timestamp"]
    assert verify(SIGNING, signed, got.headers["X-Dealflow-Signature"], got.body, now=now) == int(signed)
    assert len(got.headers["Idempotency-Key"]) == 32
    run = _run(stack)
    assert run["status"] == "completed", run.get("reason")
    step = _step(run)
    assert step["outcome"] == "done"
    assert int(step["detail"]["status"]) == 200
    # The secret is never in the run log: masked, named by its parameter.
    assert TOKEN not in json.dumps(run)
    assert step["detail"]["request"]["headers"]["Authorization"].startswith("********")


def test_a_5xx_then_success_is_retried_with_the_same_idempotency_key_and_every_try_is_in_the_delivery_log(
    stack: MotoStack, receiver: Receiver
) -> None:
    receiver.script = [Answer(503, {"error": "busy"}), Answer(500, b"oops")]
    _save(stack, _call(receiver, retry={"attempts": 4, "backoff": {"initial_seconds": 1, "max_seconds": 5}}))

    _won(stack)

    assert len(receiver.received) == 3
    assert len({r.headers["Idempotency-Key"] for r in receiver.received}) == 1
    run = _run(stack)
    assert run["status"] == "completed", run.get("reason")
    step = _step(run)
    assert int(step["detail"]["attempts"]) == 3
    log = step["detail"]["deliveries"]
    assert _statuses(step) == [503, 500, 200]
    assert [int(d["attempt"]) for d in log] == [1, 2, 3]
    assert log[0]["response_body"] == '{"error": "busy"}'
    assert all(int(d["request_bytes"]) == len(receiver.received[0].body) for d in log)
    assert all(int(d["duration_ms"]) >= 0 and int(d["response_bytes"]) > 0 for d in log)


def test_a_429_is_retried_after_the_pause_its_retry_after_asks_for(stack: MotoStack, receiver: Receiver) -> None:
    receiver.script = [Answer(429, {"error": "slow down"}, {"Retry-After": "120"})]
    _save(stack, _call(receiver, retry={"attempts": 3, "backoff": {"initial_seconds": 1, "max_seconds": 2}}))

    _won(stack)

    # The back-off alone would have waited 2 s at most; the receiver asked for two minutes.
    assert len(receiver.received) == 1
    stack.advance(minutes=1)
    assert len(receiver.received) == 1
    stack.advance(minutes=1)
    first, second = receiver.received
    assert (second.at - first.at).total_seconds() >= 120
    step = _step(_run(stack))
    assert _statuses(step) == [429, 200]


def test_a_timeout_after_the_request_left_is_retried_by_default_and_logged(
    stack: MotoStack, receiver: Receiver
) -> None:
    receiver.script = [Answer(pause=2.5)]
    _save(stack, _call(receiver, timeout_seconds=1, retry={"attempts": 2, "backoff": {"initial_seconds": 1}}))

    _won(stack)

    assert len(receiver.received) == 2
    step = _step(_run(stack))
    assert step["outcome"] == "done"
    first, second = step["detail"]["deliveries"]
    assert "no answer within the timeout" in first["error"] and "status" not in first
    assert int(second["status"]) == 200


def test_a_timeout_held_by_its_ambiguous_policy_is_not_sent_again_and_fails_the_run(
    stack: MotoStack, receiver: Receiver
) -> None:
    receiver.script = [Answer(pause=2.5)]
    _save(stack, _call(receiver, timeout_seconds=1, ambiguous="hold", retry={"attempts": 3}))

    _won(stack)

    assert len(receiver.received) == 1
    run = _run(stack)
    assert run["status"] == "failed"
    step = _step(run)
    assert step["outcome"] == "unconfirmed"
    [held] = step["detail"]["deliveries"]
    assert "no answer within the timeout" in held["error"]


def test_a_name_resolving_to_a_private_address_is_refused_and_nothing_is_sent(
    stack: MotoStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved: list[str] = []

    def private(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["10.1.2.3"]

    counted = stack._runner_app.SERVICES.http
    sender = getattr(counted, "_http", counted)  # inside the counting wrapper
    monkeypatch.setattr(sender, "_resolve", private)
    connected: list[Any] = []
    monkeypatch.setattr("socket.create_connection", lambda *a, **k: connected.append(a))
    _save(stack, _call(receiver, url="https://erp.example.com/hooks", retry={"attempts": 3}))

    _won(stack)

    assert resolved == ["erp.example.com"]
    assert connected == []
    run = _run(stack)
    assert run["status"] == "failed"
    assert "10.1.2.3 is a private address" in run["reason"]
    assert int(_step(run)["detail"].get("attempts", 1)) == 1  # refused for good: not tried again


def test_a_4xx_fails_the_action_at_once_with_the_status_and_its_delivery(stack: MotoStack, receiver: Receiver) -> None:
    receiver.script = [Answer(422, {"error": "amount missing"})]
    _save(stack, _call(receiver, retry={"attempts": 4}))

    _won(stack)

    assert len(receiver.received) == 1
    run = _run(stack)
    assert run["status"] == "failed"
    assert "answered 422" in run["reason"] and "amount missing" in run["reason"]
    assert _statuses(_step(run)) == [422]


def test_the_answer_is_saved_into_a_field_and_a_variable_the_next_action_reads(
    stack: MotoStack, receiver: Receiver
) -> None:
    receiver.script = [Answer(201, {"data": {"id": "ERP-77", "items": [{"sku": "A1"}]}})]
    save = {
        "status": {"var": "erp_status"},
        "values": {"data.id": {"field": "external_id"}, "data.items.0.sku": {"var": "sku"}, "data.nope": {"var": "x"}},
    }
    task = {"kind": "create_task", "title": "ERP {{ var.erp_status }} {{ var.sku }} {{ deal.external_id }}"}
    _save(stack, _call(receiver, save_response=save), task)

    _won(stack)

    assert stack.deals.get(TENANT, "d-1").fields["external_id"] == "ERP-77"  # type: ignore[union-attr]
    assert "ERP 201 A1 ERP-77" in [t["title"] for t in stack.tasks(TENANT)]
    step = next(s for s in _run(stack)["steps"] if s["name"].endswith("http_request"))
    assert step["detail"]["saved"] == {"status": "201", "data.id": "ERP-77", "data.items.0.sku": "A1"}
    assert step["detail"]["missing"] == ["data.nope"]


def test_a_step_retried_after_its_request_succeeded_sends_no_second_request(
    stack: MotoStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dealflow.ports import StaleDeal

    receiver.script = [Answer(200, {"data": {"id": "ERP-9"}})]
    _save(stack, _call(receiver, save_response={"values": {"data.id": {"field": "external_id"}}}))
    deals = stack._runner_app.SERVICES.deals
    apply = deals.apply
    refusals = ["once"]

    def flaky(tenant_id: str, deal_id: str, change: Any, causation: Any, effect_key: str) -> Any:
        if effect_key.endswith(":saved") and refusals:
            refusals.pop()
            raise StaleDeal("the deal moved under the write (injected)")
        return apply(tenant_id, deal_id, change, causation, effect_key)

    monkeypatch.setattr(deals, "apply", flaky)

    _won(stack)

    assert len(receiver.received) == 1  # counted at the server
    assert stack.deals.get(TENANT, "d-1").fields["external_id"] == "ERP-9"  # type: ignore[union-attr]
    step = _step(_run(stack))
    assert int(step["detail"]["attempts"]) == 2
    assert _statuses(step) == [200]


def test_test_mode_says_would_send_with_the_rendered_request_and_sends_nothing(
    stack: MotoStack, receiver: Receiver
) -> None:
    _save(stack, _call(receiver))
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))

    status, run = stack.api("POST", "/automation/won-call/test", {"deal_id": "d-1"}, claims=ADMIN)

    assert status == 200, run
    assert receiver.received == []
    step = _step(run)
    assert step["outcome"] == "would send"
    request = step["detail"]["request"]
    assert (request["method"], request["url"]) == ("POST", receiver.url + "/hooks/deals/d-1")
    assert request["headers"]["Authorization"] == "******** (secret 'crm-token')"
    assert json.loads(request["body"]) == {"deal": "d-1", "amount": "7300.00"}


def test_saving_refuses_an_unknown_field_to_save_into_and_a_reserved_header(
    stack: MotoStack, receiver: Receiver
) -> None:
    rule = _rule(_call(receiver, save_response={"values": {"data.id": {"field": "no_such_field"}}}))
    status, body = stack.api("PUT", "/automation/won-call", rule, claims=ADMIN)
    assert status == 422
    assert "actions.0.save_response.values.data.id.field" in json.dumps(body)

    rule["actions"] = [_call(receiver, headers={"Idempotency-Key": "mine"})]
    status, body = stack.api("PUT", "/automation/won-call", rule, claims=ADMIN)
    assert status == 422
    assert "Idempotency-Key" in json.dumps(body)


def test_in_a_process_the_saved_answer_picks_the_branch_and_a_refusal_takes_the_fault_branch(
    stack: MotoStack, receiver: Receiver
) -> None:
    receiver.script = [Answer(201, {"order": {"id": "O-1"}}), Answer(409, {"error": "exists"})]
    call = _call(receiver, save_response={"status": {"var": "erp"}, "values": {"order.id": {"var": "order"}}})
    process = {
        "kind": "business_process",
        "id": "erp-sync",
        "name": "Sync new deals to the ERP",
        "start_on": ["add"],
        "pipeline_id": "sales",
        "nodes": [
            {"kind": "action", "name": "create order", "action": call},
            {
                "kind": "condition",
                "branches": [
                    {
                        "name": "created",
                        "condition": {"field": "var.erp", "op": "equals", "value": 201},
                        "nodes": [
                            {"kind": "action", "action": {"kind": "create_task", "title": "Ship {{ var.order }}"}}
                        ],
                    }
                ],
            },
            {
                "kind": "action",
                "name": "confirm",
                "action": _call(receiver, retry={"attempts": 1}),
                "fault": [
                    {"kind": "action", "action": {"kind": "create_task", "title": "ERP said: {{ run.error.reason }}"}}
                ],
            },
        ],
    }
    status, body = stack.api("PUT", "/automation/erp-sync", process, claims=ADMIN)
    assert status == 201, body

    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()

    assert len(receiver.received) == 2
    titles = [t["title"] for t in stack.tasks(TENANT)]
    assert "Ship O-1" in titles
    assert any(t.startswith("ERP said:") and "answered 409" in t for t in titles)
    run = _run(stack, "erp-sync")
    assert run["status"] == "failed"  # handled by its fault branch, then ended: on_error is stop


def test_the_runner_reads_http_secrets_only_through_its_own_grant_on_the_tenant_s_http_path() -> None:
    template = copy.deepcopy(load_template(TEMPLATE))
    runner = template["Resources"]["RunnerFunction"]["Properties"]
    [grant] = [s for p in runner["Policies"] for s in p.get("Statement", []) if s.get("Sid") == "ReadHttpSecrets"]
    assert grant["Action"] == "ssm:GetParameter" and grant["Resource"]["Fn::Sub"].endswith("}/*/http/*")
    runner["Policies"] = [p for p in runner["Policies"] if grant not in p.get("Statement", [])]

    with pytest.raises(IamContractBroken) as broken, MotoStack() as stack:
        set_up(stack)
        stack.set_http_secret(TENANT, SIGNING)
        server = Receiver(stack)
        try:
            _save(stack, _call(server, secret_headers={}))
            stack.iam.judge_by(template)
            _won(stack)
        finally:
            server.close()

    parameter = f"arn:aws:ssm:eu-west-1:123456789012:parameter/dealflow/tenants/{TENANT}/http/signing-secret"
    assert ("RunnerFunction", "ssm:GetParameter", parameter) in {
        (r.function, r.action, r.resource) for r in broken.value.refusals
    }
