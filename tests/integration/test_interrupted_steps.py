"""A Lambda invocation killed in the middle of an action step — a timeout, a memory kill, a crash —
after the step's effect happened but before its checkpoint reached the durable service: the step is
retried through the effect's key, and the run finishes with exactly one effect."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Rule, SendEmail, UpdateFields
from dealflow.model.automation import FieldValue, Recipients


class KilledAfter:
    """Delegates to a port; after the first call of ``method`` succeeds, the invocation it ran in
    outlives the runner's Timeout, so Lambda kills it before the step's checkpoint is sent."""

    def __init__(self, port: Any, method: str, stack: MotoStack) -> None:
        self._port, self._method, self._clock = port, method, stack.clock
        self._past_timeout = timedelta(seconds=stack.runs_port.function.invocation_timeout + 1)
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._port, name)
        if name != self._method:
            return found

        def effect_then_killed(*args: Any, **kwargs: Any) -> Any:
            result = found(*args, **kwargs)
            self.calls += 1
            if self.calls == 1:
                self._clock.advance(self._past_timeout)
            return result

        return effect_then_killed


def discount_rule() -> Rule:
    return Rule(
        id="negotiation-discount",
        name="Negotiation: 10% discount",
        pipeline_id="sales",
        stage_id="negotiation",
        actions=[
            UpdateFields(values={"amount": FieldValue(expression="deal.amount * 0.9")}),
            SendEmail(to=Recipients(responsible=True), subject="New amount {{ deal.amount }}", body="-"),
        ],
    )


def test_an_email_step_killed_after_sending_finishes_the_run_with_one_email(stack: MotoStack) -> None:
    runner = stack._runner_app
    mailer = KilledAfter(runner.SERVICES.mailer, "send", stack)
    runner.SERVICES = replace(runner.SERVICES, mailer=mailer)
    stack.put_rule(TENANT, discount_rule())
    stack.create_deal(demo_deal("d-1", "Discounted", "1000.00", "services"))

    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    assert [e.subject for e in stack.emails()] == ["New amount 900.00"]  # moto's SES outbox
    assert mailer.calls == 1  # the retried step found the send in the effect ledger
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "negotiation-discount"]
    assert run.status == "completed"
    assert [(s.name, s.outcome) for s in run.steps if s.kind == "action"][-1][1] == "duplicate"


def test_a_deal_write_killed_before_its_checkpoint_is_applied_once(stack: MotoStack) -> None:
    runner = stack._runner_app
    deals = KilledAfter(runner.SERVICES.deals, "apply", stack)
    runner.SERVICES = replace(runner.SERVICES, deals=deals)
    stack.put_rule(TENANT, discount_rule())
    stack.create_deal(demo_deal("d-1", "Discounted", "1000.00", "services"))

    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    deal = stack.get_deal(TENANT, "d-1")
    assert deal is not None and str(deal.amount) == "900.00"  # not 810.00
    assert deals.calls == 2  # written, killed, retried: the second write found its key applied
    assert [e.subject for e in stack.emails()] == ["New amount 900.00"]
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "negotiation-discount"]
    assert run.status == "completed"
