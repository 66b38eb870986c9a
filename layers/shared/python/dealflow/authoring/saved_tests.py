"""Running saved tests: each test case through the real interpreter in test mode (nothing sent,
nothing written, nothing kept), its expectations checked against what the run did.

A test with ``before`` describes a change: whether the run starts is decided as the dispatcher
decides it (``plan_runs`` over that change, with the tested automation as the tenant's only one),
so a rule that needs the deal to *enter* its stage does not start when it was already there."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from dealflow.engine.actions import Services
from dealflow.engine.changes import diff, flat
from dealflow.engine.compiled import AutomationIndex
from dealflow.engine.dispatch import plan_runs
from dealflow.engine.testmode import DryRun, dry_run
from dealflow.model import Deal
from dealflow.model.catalog import Automation
from dealflow.model.saved_tests import EmailExpected, Mismatch, SavedTest, TestOutcome, TestReport

SAVED_TEST_DEAL = "saved-test-deal"


def _deal(test: SavedTest, tenant_id: str) -> Deal:
    return Deal.model_validate(
        {**test.deal.model_dump(exclude_none=True), "tenant_id": tenant_id, "id": SAVED_TEST_DEAL}
    )


def _starts_on_change(automation: Automation, test: SavedTest, deal: Deal, services: Services) -> bool:
    assert test.before is not None
    before = deal.model_copy(
        update={
            "pipeline_id": test.before.pipeline_id or deal.pipeline_id,
            "stage_id": test.before.stage_id or deal.stage_id,
            "fields": {**deal.fields, **test.before.fields},
        }
    )
    compiled = services.automation.load(deal.tenant_id)
    tested = automation.model_copy(update={"enabled": True})
    alone = replace(compiled, index=AutomationIndex([tested]), by_id={tested.id: tested}, warnings={})
    plan = plan_runs(diff(before, deal), alone, "saved-test")
    return any(planned["automation"]["id"] == automation.id for planned in plan.planned)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _equal(expected: Any, actual: Any) -> bool:
    """Equal as a person means it: 100, 100.0 and "100.00" are the same amount."""
    if expected == actual:
        return True
    a, b = _number(expected), _number(actual)
    return a is not None and b is not None and a.is_finite() and b.is_finite() and a == b


def _in_order(wanted: list[str], taken: list[str]) -> bool:
    remaining = iter(taken)
    return all(name in remaining for name in wanted)


def _email_matches(expected: EmailExpected, sent: dict[str, Any]) -> bool:
    return (
        (expected.to is None or expected.to.lower() in [t.lower() for t in sent["to"]])
        and (expected.subject_contains is None or expected.subject_contains in sent["subject"])
        and (expected.body_contains is None or expected.body_contains in sent["body"])
    )


def _checked(test: SavedTest, started: bool, run: DryRun | None) -> TestOutcome:
    expect, failures = test.expect, []
    steps = [s.name for s in run.record.steps] if run is not None else []
    if expect.starts is not None and expect.starts != started:
        failures.append(Mismatch(check="starts", expected=expect.starts, actual=started))
    if expect.steps is not None and not _in_order(expect.steps, steps):
        failures.append(Mismatch(check="steps", expected=expect.steps, actual=steps))
    emails = [m for m in run.sent if m["kind"] == "email"] if run is not None else []
    for i, wanted in enumerate(expect.emails):
        if not any(_email_matches(wanted, sent) for sent in emails):
            shown = [{"to": m["to"], "subject": m["subject"]} for m in emails]
            failures.append(Mismatch(check=f"emails[{i}]", expected=wanted.model_dump(exclude_none=True), actual=shown))
    after = flat(run.deal_after if run is not None else None) or {}
    for name, value in expect.fields.items():
        if not _equal(value, after.get(name)):
            failures.append(Mismatch(check=f"fields.{name}", expected=value, actual=after.get(name)))
    return TestOutcome(test_id=test.id, name=test.name, passed=not failures, failures=failures, steps=steps)


def run_saved_test(automation: Automation, test: SavedTest, tenant_id: str, services: Services) -> TestOutcome:
    """One saved test against ``automation`` (published, a draft or any version)."""
    deal = _deal(test, tenant_id)
    if test.before is not None and not _starts_on_change(automation, test, deal, services):
        return _checked(test, False, None)
    run = dry_run(automation, deal, services, test.constants)
    return _checked(test, run.record.status != "skipped", run)


def _guarded(automation: Automation, test: SavedTest, tenant_id: str, services: Services) -> TestOutcome:
    """A test that cannot run at all (what its deal names was deleted since it was saved) fails,
    saying why, rather than failing the whole report."""
    try:
        return run_saved_test(automation, test, tenant_id, services)
    except Exception as exc:  # any failure of one test is that test's result
        failure = Mismatch(check="run", expected="the test runs", actual=f"{type(exc).__name__}: {exc}")
        return TestOutcome(test_id=test.id, name=test.name, passed=False, failures=[failure])


def run_saved_tests(
    automation: Automation, tests: list[SavedTest], tenant_id: str, services: Services, tested: str
) -> TestReport:
    """Every test of ``tests`` against ``automation``; ``tested`` says which one it is (`draft`, …)."""
    results = [_guarded(automation, test, tenant_id, services) for test in tests]
    passed = sum(r.passed for r in results)
    return TestReport(
        automation_id=automation.id, tested=tested, passed=passed, failed=len(results) - passed, results=results
    )
