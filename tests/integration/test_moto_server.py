"""The same flow over HTTP against a moto server on 127.0.0.1: what an in-process mock could hide
(request serialisation, endpoint routing for DynamoDB Streams, SES and SNS wire formats)."""

from __future__ import annotations

import json
from pathlib import Path

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.local.seed import sample_deals
from dealflow.model import RunRequest

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_won_and_lost_deals_over_a_moto_server() -> None:
    with MotoStack(server=True) as stack:
        assert stack.endpoint is not None and stack.endpoint.startswith("http://127.0.0.1:")
        set_up(stack)
        stack.create_deal(demo_deal("d-1", "Website redesign", "12500.00", "services"))
        stack.create_deal(demo_deal("d-2", "Data migration", "7300.00", "products"))
        stack.move_deal(TENANT, "d-1", "won")
        stack.move_deal(TENANT, "d-2", "lost")
        stack.drain()

        email, _ = stack.emails()  # the head of sales and the responsible, one message each
        assert email.subject == "Lost: Data migration (7300.00 EUR)"
        assert "https://crm.acme.example/crm/deal/show/d-2/" in email.body
        [note] = stack.notifications()
        assert note.users == ["u-head"] and note.message == "Deal won: Website redesign for 12500.00 EUR"
        assert [g["name"] for g in stack.workgroups(TENANT)] == ["Website redesign"]


def test_the_sample_runner_event_runs_its_rule() -> None:
    request = RunRequest.model_validate(json.loads((EVENTS / "runner-start.json").read_text()))
    with MotoStack() as stack:
        set_up(stack)
        [deal] = [d for d in sample_deals() if d.id == request.deal_id]  # the request names it, as seeded
        stack.create_deal(deal)
        stack._pump.poll()  # only the sample's run, not the rules the INSERT would start

        assert stack.runs_port.start(request) is True
        assert stack.runs_port.start(request) is False  # same name: no second execution
        stack.drain()

        [note] = stack.notifications()
        assert note.deal_id == "deal-1001" and note.users == ["u-head"]
        [run] = stack.runs(TENANT, "deal-1001")
        assert run.run_id == request.run_id and run.status == "completed"
