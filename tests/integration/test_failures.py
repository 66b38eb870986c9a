"""One deal's failure never drops another deal's automation, and always leaves a record."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Deal, Notify, Recipients, Rule


def test_a_failing_record_is_reported_alone_and_the_rest_of_the_batch_completes(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("ok-1", "Good deal", "100.00", "products"))
    stack.create_deal(Deal(tenant_id="ghost", id="bad-1", pipeline_id="sales", stage_id="won", title="No tenant"))
    stack.create_deal(demo_deal("ok-2", "Another good deal", "200.00", "products"))
    stack.drain()
    stack.move_deal(TENANT, "ok-1", "won")
    stack.move_deal(TENANT, "ok-2", "won")

    records = stack._pump.poll()
    ghost = next(r for r in stack.delivered if r["dynamodb"]["Keys"]["tenant_id"]["S"] == "ghost")
    response = stack.deliver([records[0], ghost, records[1]])
    stack.drain()

    assert response["batchItemFailures"] == [{"itemIdentifier": ghost["dynamodb"]["SequenceNumber"]}]
    assert sorted(n.deal_id for n in stack.notifications()) == ["ok-1", "ok-2"]


def test_a_record_that_keeps_failing_goes_to_the_failure_queue_after_bounded_retries() -> None:
    with MotoStack() as stack:
        stack.create_deal(Deal(tenant_id="ghost", id="bad-1", pipeline_id="sales", stage_id="won", title="x"))
        report = stack.drain()

        assert len(report.given_up) == 1
        assert len(report.failed_records) == 4  # first try + 3 retries, as MaximumRetryAttempts says
        [failure] = stack.failed_batches()
        assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert failure["DDBStreamBatchInfo"]["startSequenceNumber"] == report.given_up[0]


def test_a_failing_action_fails_its_run_with_a_reason_and_other_deals_still_run(stack: MotoStack) -> None:
    # The deals' responsible user left: only the run can find out (a rule naming a user who left is
    # flagged and skipped before it runs, see test_broken_references.py).
    stack.put_rule(
        TENANT,
        Rule(
            id="broken",
            name="Notify a user who left",
            pipeline_id="sales",
            stage_id="lost",
            actions=[Notify(to=Recipients(responsible=True), message="lost {{ deal.title }}")],
        ),
    )
    stack.create_deal(demo_deal("d-1", "First", "1.00", "services", responsible="u-gone"))
    stack.create_deal(demo_deal("d-2", "Second", "2.00", "services", responsible="u-gone"))
    stack.move_deal(TENANT, "d-1", "lost")
    stack.move_deal(TENANT, "d-2", "lost")
    stack.drain()

    broken = [r for r in stack.runs(TENANT) if r.automation_id == "broken"]
    assert {r.deal_id for r in broken} == {"d-1", "d-2"}
    assert all(r.status == "failed" and "unknown user(s): u-gone" in (r.reason or "") for r in broken)
    # the lost-deal e-mail rule ran for both deals regardless: to its two people, one message each
    assert len(stack.emails()) == 4
