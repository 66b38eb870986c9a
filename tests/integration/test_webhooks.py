"""Signed webhooks through the deployed handler (API Gateway HTTP API events) on the local stack:
authenticity, shape, replay, and the trigger runs they start."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.model import Clause, Deal, Pipeline, RunRequest, Stage, Tenant, Trigger
from dealflow.webhooks import sign

EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRET = "whsec_acme_0123456789abcdef0123456789abcdef"
INVOICE_PAID_WINS = Trigger(
    id="invoice-paid", name="Invoice paid: deal won", pipeline_id="sales", stage_id="won", event="invoice_paid"
)


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    """The demo tenant, its webhook secret, an invoice_paid trigger to "won", and deal d-1 in "new"."""
    with MotoStack() as local:
        set_up(local)
        local.put_automation(TENANT, INVOICE_PAID_WINS)
        local.set_webhook_secret(TENANT, SECRET)
        local.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        local.drain()
        yield local


def _event(event_id: str = "evt-1", deal_id: str = "d-1", kind: str = "invoice_paid", **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "kind": kind, "deal_id": deal_id, **extra}


def _stage(stack: MotoStack, deal_id: str = "d-1") -> str:
    deal = stack.get_deal(TENANT, deal_id)
    assert deal is not None
    return deal.stage_id


def _stage_moves(stack: MotoStack, deal_id: str = "d-1") -> list[tuple[str, str]]:
    """Every stage change of a deal the stream carried, in order."""
    moves = []
    for record in stack.delivered:
        images = record["dynamodb"]
        if record["eventName"] != "MODIFY" or images["Keys"]["id"]["S"] != deal_id:
            continue
        old, new = images["OldImage"]["stage_id"]["S"], images["NewImage"]["stage_id"]["S"]
        if old != new:
            moves.append((old, new))
    return moves


def _trigger_runs(stack: MotoStack, deal_id: str = "d-1") -> list[Any]:
    return [r for r in stack.runs(TENANT, deal_id) if r.automation_kind == "trigger"]


# ---- the happy path -------------------------------------------------------------------------------


def test_a_signed_invoice_paid_event_wins_the_deal_and_the_won_rules_run(stack: MotoStack) -> None:
    status, body = stack.post_webhook(
        TENANT, _event(occurred_at="2026-11-23T10:22:04Z", data={"invoice_number": "INV-42"})
    )

    assert status == 202
    assert body["event_id"] == "evt-1" and body["accepted"] is True and len(body["runs"]) == 1
    stack.drain()

    assert _stage(stack) == "won"
    [note] = stack.notifications()  # demo rule won-notify-head, run because the deal entered "won"
    assert note.users == ["u-head"] and note.message == "Deal won: Website redesign for 12500.00 EUR"
    [run] = _trigger_runs(stack)
    assert run.run_id == body["runs"][0] and run.automation_id == "invoice-paid" and run.status == "completed"
    assert run.started_by["event"] == "invoice_paid"
    assert run.event_id == "wh:acme:evt-1"


def test_the_same_event_id_twice_is_a_replay_and_moves_nothing_more(stack: MotoStack) -> None:
    first_status, first = stack.post_webhook(TENANT, _event())
    second_status, second = stack.post_webhook(TENANT, _event())  # before the runs even ran
    stack.drain()
    third_status, third = stack.post_webhook(TENANT, _event())  # and after
    stack.drain()

    assert first_status == 202
    assert (second_status, second["error"], second["event_id"]) == (409, "replayed", "evt-1")
    assert third_status == 409 and third["runs"] == first["runs"] and third["status"] == "accepted"
    assert "already received" in third["reason"]
    assert _stage(stack) == "won"
    assert _stage_moves(stack) == [("new", "won")]
    assert len(stack.notifications()) == 1
    assert len(_trigger_runs(stack)) == 1


def test_a_replayed_event_with_a_different_body_is_still_a_replay(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-2", "Other", "1.00", "products"))
    stack.post_webhook(TENANT, _event())
    status, body = stack.post_webhook(TENANT, _event(deal_id="d-2"))
    stack.drain()

    assert (status, body["error"]) == (409, "replayed")
    assert _stage(stack, "d-2") == "new"


# ---- authenticity ---------------------------------------------------------------------------------


def _assert_refused(stack: MotoStack, status: int, body: dict[str, Any], reason: str) -> None:
    assert status == 401, body
    assert body["error"] == "unauthorized" and reason in body["reason"]
    stack.drain()
    assert _stage(stack) == "new"
    assert _trigger_runs(stack) == []


def test_an_unsigned_request_is_refused(stack: MotoStack) -> None:
    status, body = stack.post_webhook(TENANT, _event(), signed=False)
    _assert_refused(stack, status, body, "missing X-Dealflow-Timestamp header")


def test_a_request_without_a_signature_header_is_refused(stack: MotoStack) -> None:
    status, body = stack.post_webhook(TENANT, _event(), headers={"X-Dealflow-Signature": None})
    _assert_refused(stack, status, body, "missing X-Dealflow-Signature header")


def test_a_wrong_signature_is_refused(stack: MotoStack) -> None:
    status, body = stack.post_webhook(TENANT, _event(), secret="not-the-tenants-secret")
    _assert_refused(stack, status, body, "signature does not match")


def test_a_body_changed_after_signing_is_refused(stack: MotoStack) -> None:
    stamp = int(stack.clock.now().timestamp())
    signed = json.dumps(_event(deal_id="d-other")).encode()
    status, body = stack.post_webhook(
        TENANT,
        _event(),
        headers={"X-Dealflow-Timestamp": str(stamp), "X-Dealflow-Signature": sign(SECRET, stamp, signed)},
    )
    _assert_refused(stack, status, body, "signature does not match")


@pytest.mark.parametrize(("skew", "reason"), [(-301, "too old"), (-86_400, "too old"), (301, "far in the future")])
def test_a_stale_timestamp_is_refused(stack: MotoStack, skew: int, reason: str) -> None:
    status, body = stack.post_webhook(TENANT, _event(), timestamp=int(stack.clock.now().timestamp()) + skew)
    _assert_refused(stack, status, body, reason)


def test_a_malformed_signature_header_is_refused(stack: MotoStack) -> None:
    status, body = stack.post_webhook(TENANT, _event(), headers={"X-Dealflow-Signature": "sha256=abc"})
    _assert_refused(stack, status, body, "no v1 signature")


def test_an_unknown_tenant_gets_the_answer_a_wrong_signature_gets(stack: MotoStack) -> None:
    unknown = stack.post_webhook("globex", _event(), secret=SECRET)
    wrong = stack.post_webhook(TENANT, _event(), secret="wrong")
    odd_id = stack.post_webhook("..%2Fother", _event(), secret=SECRET)

    assert unknown == wrong == odd_id == (401, {"error": "unauthorized", "reason": "signature does not match"})
    _assert_refused(stack, *unknown, "signature does not match")


def test_a_tenants_secret_does_not_sign_for_another_tenant(stack: MotoStack) -> None:
    stack.put_tenant(Tenant(id="globex", name="Globex"))
    stack.set_webhook_secret("globex", "whsec_globex")

    status, body = stack.post_webhook("globex", _event(), secret=SECRET)

    assert (status, body["reason"]) == (401, "signature does not match")


def test_two_secrets_during_a_rotation_and_two_signatures_per_request(stack: MotoStack) -> None:
    stack.set_webhook_secret(TENANT, f"whsec_new\n{SECRET}")
    stamp = int(stack.clock.now().timestamp())
    raw = json.dumps(_event("evt-rot-1")).encode()

    old_only = stack.post_webhook(TENANT, raw, secret=SECRET)
    new_only = stack.post_webhook(TENANT, _event("evt-rot-2"), secret="whsec_new")
    both = stack.post_webhook(
        TENANT,
        _event("evt-rot-3"),
        headers={
            "X-Dealflow-Timestamp": str(stamp),
            "X-Dealflow-Signature": f"{sign('whsec_unknown', stamp, json.dumps(_event('evt-rot-3')).encode())},"
            f"{sign('whsec_new', stamp, json.dumps(_event('evt-rot-3')).encode())}",
        },
    )

    assert [old_only[0], new_only[0], both[0]] == [202, 202, 202]
    stack.set_webhook_secret(TENANT, "whsec_new")  # rotation done: the old secret stops working
    assert stack.post_webhook(TENANT, _event("evt-rot-4"), secret=SECRET)[0] == 401


# ---- shape of the request -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b'{"id": "evt-1",', b"\xff\xfe\x00", b""])
def test_a_body_that_is_not_json_is_400(stack: MotoStack, raw: bytes) -> None:
    status, body = stack.post_webhook(TENANT, raw)
    assert status == 400 and body["error"] == "bad_request" and "not valid JSON" in body["reason"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "invoice_paid", "deal_id": "d-1"}, "id"),
        ({"id": "evt-1", "kind": "invoice_sent", "deal_id": "d-1"}, "kind"),
        ({"id": "evt-1", "kind": "invoice_paid"}, "deal_id"),
        ({"id": "evt-1", "kind": "custom", "deal_id": "d-1"}, "custom_event"),
        ({"id": "evt-1", "kind": "invoice_paid", "deal_id": "d-1", "occurred_at": "yesterday"}, "occurred_at"),
    ],
)
def test_a_missing_or_invalid_field_is_422_naming_it(stack: MotoStack, payload: dict[str, Any], field: str) -> None:
    status, body = stack.post_webhook(TENANT, payload)

    assert status == 422 and body["error"] == "validation"
    assert field in [p["field"] for p in body["problems"]]
    assert all(p["problem"] for p in body["problems"])
    stack.drain()
    assert _stage(stack) == "new"


def test_an_invalid_event_is_not_remembered_as_seen(stack: MotoStack) -> None:
    assert stack.post_webhook(TENANT, {"id": "evt-1", "kind": "invoice_paid", "deal_id": "d-1", "data": 1})[0] == 422
    assert stack.post_webhook(TENANT, _event(deal_id="no-such-deal"))[0] == 404
    assert stack.post_webhook(TENANT, _event())[0] == 202


def test_an_unknown_deal_is_404_naming_it(stack: MotoStack) -> None:
    status, body = stack.post_webhook(TENANT, _event(deal_id="d-404"))
    assert status == 404 and body["error"] == "not_found" and "d-404" in body["reason"]
    assert body["deal_id"] == "d-404"


def test_a_body_over_64_kib_is_413_before_anything_else(stack: MotoStack) -> None:
    status, body = stack.post_webhook(TENANT, _event(data={"blob": "x" * 70_000}), signed=False)
    assert status == 413 and body["error"] == "payload_too_large"


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes(stack: MotoStack) -> None:
    raw = json.dumps(_event(data={"note": "Zahlung erhalten ✓"}), ensure_ascii=False).encode()
    stamp = int(stack.clock.now().timestamp())
    event = json.loads((EVENTS / "webhook-invoice-paid.json").read_text())
    event["headers"].update({"x-dealflow-timestamp": str(stamp), "x-dealflow-signature": sign(SECRET, stamp, raw)})
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/webhooks/acme"

    response = stack._webhooks_app.handler(event, _context())

    assert response["statusCode"] == 202, response


def test_other_routes_and_methods_are_404_json(stack: MotoStack) -> None:
    event = json.loads((EVENTS / "webhook-invoice-paid.json").read_text())
    event["requestContext"]["http"]["method"] = "GET"
    response = stack._webhooks_app.handler(event, _context())
    assert response["statusCode"] == 404 and json.loads(response["body"])["error"] == "not_found"


# ---- what triggers do with the event --------------------------------------------------------------


def test_a_trigger_never_moves_a_deal_backwards(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Trigger(
            id="call-negotiation",
            name="Call: negotiation",
            pipeline_id="sales",
            stage_id="negotiation",
            event="incoming_call",
        ),
    )
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()
    notes = len(stack.notifications())

    status, _ = stack.post_webhook(TENANT, _event(kind="incoming_call"))
    stack.drain()

    assert status == 202
    assert _stage(stack) == "won"
    [run] = _trigger_runs(stack)
    assert run.steps[-1].detail["moved"] is False
    assert len(stack.notifications()) == notes


def test_a_trigger_allowed_backwards_moves_the_deal_back(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Trigger(
            id="call-negotiation",
            name="Call: negotiation",
            pipeline_id="sales",
            stage_id="negotiation",
            event="incoming_call",
            allow_backwards=True,
        ),
    )
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()

    assert stack.post_webhook(TENANT, _event(kind="incoming_call"))[0] == 202
    stack.drain()

    assert _stage(stack) == "negotiation"


def test_a_deal_in_another_pipeline_is_not_moved(stack: MotoStack) -> None:
    stack.put_pipeline(
        TENANT,
        Pipeline(
            id="support",
            name="Support",
            stages=[Stage(id="open", name="Open"), Stage(id="solved", name="Solved", semantic="won")],
        ),
    )
    stack.create_deal(Deal(tenant_id=TENANT, id="s-1", pipeline_id="support", stage_id="open", title="Ticket"))
    stack.drain()

    status, body = stack.post_webhook(TENANT, _event(deal_id="s-1"))
    stack.drain()

    assert (status, body["runs"]) == (202, [])
    assert _stage(stack, "s-1") == "open"


def test_a_trigger_whose_condition_fails_starts_nothing_and_says_so(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT, INVOICE_PAID_WINS.model_copy(update={"condition": Clause(field="amount", op="gte", value=100_000)})
    )

    status, body = stack.post_webhook(TENANT, _event())
    stack.drain()

    assert (status, body["runs"]) == (202, [])
    assert body["not_started"] == [{"automation_id": "invoice-paid", "reason": "condition not met"}]
    assert _stage(stack) == "new"


def test_custom_events_match_triggers_by_name(stack: MotoStack) -> None:
    stack.put_automation(
        TENANT,
        Trigger(
            id="signed",
            name="Contract signed",
            pipeline_id="sales",
            stage_id="negotiation",
            event="custom",
            custom_event="contract_signed",
        ),
    )
    stack.put_automation(
        TENANT,
        Trigger(
            id="demo-booked",
            name="Demo booked",
            pipeline_id="sales",
            stage_id="proposal",
            event="custom",
            custom_event="demo_booked",
        ),
    )

    other = stack.post_webhook(TENANT, _event("evt-c1", kind="custom", custom_event="newsletter_opened"))
    stack.drain()
    assert other[0] == 202 and other[1]["runs"] == [] and _stage(stack) == "new"

    status, body = stack.post_webhook(TENANT, _event("evt-c2", kind="custom", custom_event="contract_signed"))
    stack.drain()

    assert status == 202 and len(body["runs"]) == 1
    assert _stage(stack) == "negotiation"
    assert [r.automation_id for r in _trigger_runs(stack)] == ["signed"]


def test_the_same_event_id_in_two_tenants_starts_two_runs(stack: MotoStack) -> None:
    stack.put_tenant(Tenant(id="globex", name="Globex"))
    for pipeline in [
        Pipeline(
            id="sales", name="Sales", stages=[Stage(id="new", name="New"), Stage(id="won", name="Won", semantic="won")]
        )
    ]:
        stack.put_pipeline("globex", pipeline)
    stack.put_automation("globex", INVOICE_PAID_WINS)
    stack.set_webhook_secret("globex", "whsec_globex")
    stack.create_deal(Deal(tenant_id="globex", id="d-1", pipeline_id="sales", stage_id="new", title="Same id"))
    stack.drain()

    acme = stack.post_webhook(TENANT, _event())
    globex = stack.post_webhook("globex", _event())
    stack.drain()

    assert acme[0] == globex[0] == 202 and acme[1]["runs"] != globex[1]["runs"]
    assert _stage(stack) == "won"
    assert stack.get_deal("globex", "d-1").stage_id == "won"  # type: ignore[union-attr]


# ---- failures on our side -------------------------------------------------------------------------


class _Throttled:
    def start(self, request: RunRequest) -> bool:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")


def test_runs_that_could_not_start_give_503_and_the_retry_is_not_a_replay(stack: MotoStack) -> None:
    receiver = stack._webhooks_app.RECEIVER
    real, receiver.starter = receiver.starter, _Throttled()
    try:
        status, body = stack.post_webhook(TENANT, _event())
    finally:
        receiver.starter = real
    assert (status, body["error"]) == (503, "unavailable")
    stack.drain()
    assert _stage(stack) == "new"

    status, body = stack.post_webhook(TENANT, _event())  # the sender retries
    stack.drain()

    assert status == 202 and _stage(stack) == "won"
    assert stack.post_webhook(TENANT, _event())[0] == 409


def test_even_a_lost_replay_record_cannot_move_a_deal_twice(stack: MotoStack) -> None:
    _, first = stack.post_webhook(TENANT, _event())
    stack.drain()
    stack.move_deal(TENANT, "d-1", "new")  # someone moves it back by hand
    stack.drain()
    # The replay record vanishes (say, the table was restored from a backup).
    stack.automation._table.delete_item(Key={"tenant_id": TENANT, "sk": "WEBHOOK#evt-1"})

    status, body = stack.post_webhook(TENANT, _event())
    stack.drain()

    assert status == 202 and body["runs"] == first["runs"]  # accepted again, but the run has the same name:
    # it does not run twice
    assert _stage(stack) == "new"
    assert len(_trigger_runs(stack)) == 1


def _context() -> Any:
    from dealflow.local.stack import LambdaContext

    return LambdaContext("WebhooksFunction")


def test_webhooks_over_a_moto_server() -> None:
    """SSM (SecureString, decryption) and the replay guard's conditional put over HTTP."""
    with MotoStack(server=True) as stack:
        assert stack.endpoint is not None and stack.endpoint.startswith("http://127.0.0.1:")
        set_up(stack)
        stack.put_automation(TENANT, INVOICE_PAID_WINS)
        stack.set_webhook_secret(TENANT, f"whsec_next\n{SECRET}")
        stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        stack.drain()

        assert stack.post_webhook("globex", _event(), secret=SECRET)[0] == 401
        assert stack.post_webhook(TENANT, _event(), secret="whsec_wrong")[0] == 401
        status, body = stack.post_webhook(TENANT, _event(), secret=SECRET)
        replay_status, replay = stack.post_webhook(TENANT, _event(), secret="whsec_next")
        stack.drain()

        assert status == 202 and len(body["runs"]) == 1
        assert (replay_status, replay["error"], replay["runs"]) == (409, "replayed", body["runs"])
        assert _stage(stack) == "won"
        [note] = stack.notifications()
        assert note.message == "Deal won: Website redesign for 12500.00 EUR"
