"""Enrollment rules decided as the dispatcher decides them: re-enrollment off, after a cool-down and
always, frequency caps, a rival start slipping in between read and write, a redelivered record; and
nothing read for automation without a rule. Goals and exits refused where they cannot work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dealflow import clock
from dealflow.authoring.document_text import to_json
from dealflow.authoring.loops import find_loops
from dealflow.authoring.moves import Changes, write_changes
from dealflow.authoring.transfer import export_document, import_changes, validate_document
from dealflow.engine.dispatcher import Dispatcher
from dealflow.engine.enrollment import enroll, refusal
from dealflow.engine.references import references_of
from dealflow.http_errors import Invalid, problems_from
from dealflow.model import Rule
from dealflow.model.enrollment import Enrollment
from tests.fakes import TENANT_ID, FakeAutomationStore, FakeEnrollmentBook, a_rule, a_tenant, automation_of
from tests.unit.test_dispatch import FakeLoader, FakeStarter, deal, image

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> Any:
    moment = [NOON]
    clock.use(lambda: moment[0], lambda _: None)
    yield moment
    clock.use(None)


def _policy(**body: Any) -> Enrollment:
    return Enrollment.model_validate(body)


def _enroll(book: FakeEnrollmentBook, run_id: str, policy: Enrollment, deal_id: str = "d1") -> str | None:
    return enroll(book, "t1", "r1", deal_id, run_id, policy)


def test_reenrollment_off_lets_each_deal_start_once(now: Any) -> None:
    book, off = FakeEnrollmentBook(), _policy(reenroll="off")
    assert _enroll(book, "run-1", off) is None
    now[0] = NOON + timedelta(days=400)
    assert _enroll(book, "run-2", off) == "re-enrollment off: already ran on 2026-03-02"
    assert _enroll(book, "run-3", off, deal_id="d2") is None  # another deal


def test_reenrollment_after_a_cooldown_counts_from_the_last_run(now: Any) -> None:
    book, after = FakeEnrollmentBook(), _policy(reenroll="after", cooldown={"days": 7})
    assert _enroll(book, "run-1", after) is None
    now[0] = NOON + timedelta(days=6, hours=23)
    assert _enroll(book, "run-2", after) == (
        "re-enrollment after 7 days: last ran on 2026-03-02, may run again from 2026-03-09T12:00+00:00"
    )
    now[0] = NOON + timedelta(days=7)
    assert _enroll(book, "run-3", after) is None
    now[0] = NOON + timedelta(days=8)
    assert _enroll(book, "run-4", after) is not None  # the cool-down runs from run-3 now


def test_a_frequency_cap_counts_runs_in_a_sliding_window(now: Any) -> None:
    book, capped = FakeEnrollmentBook(), _policy(frequency_cap={"runs": 2, "per": {"days": 7}})
    assert _enroll(book, "run-1", capped) is None
    now[0] = NOON + timedelta(days=3)
    assert _enroll(book, "run-2", capped) is None
    assert _enroll(book, "run-3", capped) == "frequency cap 2 per 7 days reached"
    now[0] = NOON + timedelta(days=7, seconds=1)  # run-1 has left the window
    assert _enroll(book, "run-4", capped) is None
    assert _enroll(book, "run-5", capped) == "frequency cap 2 per 7 days reached"


def test_a_rival_start_between_read_and_write_is_seen_and_only_one_runs(now: Any) -> None:
    book, off = FakeEnrollmentBook(), _policy(reenroll="off")
    # Another dispatcher enrols the same deal after this one read the (empty) record.
    book.before_record = lambda: _enroll(book, "run-rival", off)

    assert _enroll(book, "run-mine", off) == "re-enrollment off: already ran on 2026-03-02"
    [record] = book.items.values()
    assert record["first"]["run"] == "run-rival" and record["version"] == 1


def test_a_run_enrolled_before_enrols_again_when_its_record_is_delivered_again(now: Any) -> None:
    book, off = FakeEnrollmentBook(), _policy(reenroll="off")
    assert _enroll(book, "run-1", off) is None
    assert _enroll(book, "run-1", off) is None  # same run name: the start is made once anyway
    assert book.items[("t1", "r1", "d1")]["version"] == 1  # and nothing was written again


def test_always_without_a_cap_limits_nothing() -> None:
    assert not _policy().limits and not _policy(reenroll="always").limits
    assert refusal(_policy(), {"first": {"run": "a", "at": NOON.isoformat()}, "recent": []}, NOON) is None


def _enrolled_rule(**enrollment: Any) -> Rule:
    return a_rule("r-won", enrollment=enrollment or None)


def test_the_dispatcher_reads_no_enrollment_record_for_automation_without_a_rule(now: Any) -> None:
    book, starter = FakeEnrollmentBook(), FakeStarter()
    d = Dispatcher(FakeLoader(_enrolled_rule()), starter, _Log(), enrollments=book)
    d.handle(image(deal("offer")), image(deal("won", version=2)), "evt-1")
    assert len(starter.requests) == 1 and book.reads == 0


def test_two_records_of_one_deal_in_a_batch_start_one_run_under_reenrollment_off(now: Any) -> None:
    book, starter, log = FakeEnrollmentBook(), FakeStarter(), _Log()
    d = Dispatcher(FakeLoader(_enrolled_rule(reenroll="off")), starter, log, enrollments=book)
    batch = d.batch()
    batch.add(image(deal("offer")), image(deal("won", version=2)), "evt-1")
    batch.add(image(deal("won", version=2)), image(deal("offer", version=3)), "evt-2")
    batch.add(image(deal("offer", version=3)), image(deal("won", version=4)), "evt-3")
    outcome = batch.finish()

    assert list(outcome.started) == ["evt-1"] and len(starter.requests) == 1
    [(ref, reason)] = log.refused_entries
    assert ref.id == "r-won" and reason == "re-enrollment off: already ran on 2026-03-02"


class _Log:
    def __init__(self) -> None:
        self.refused_entries: list[tuple[Any, str]] = []

    def loop_stopped(self, *_: Any) -> None: ...

    def not_started(self, *_: Any) -> None: ...

    def skipped(self, *_: Any) -> None: ...

    def refused(self, change: Any, event_id: str, entries: Any) -> None:
        self.refused_entries.extend(entries)

    def flush(self) -> set[str]:
        return set()


# --- saving: the problems named as the caller wrote them ---------------------------------------------


def _problems(**body: Any) -> list[dict[str, str]]:
    base = {"kind": "rule", "id": "r1", "name": "R", "pipeline_id": "sales", "stage_id": "won"}
    actions = [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "hi"}]
    with pytest.raises(ValidationError) as refused:
        automation_of(**{**base, "actions": actions, **body})
    return problems_from(refused.value)


def test_a_cooldown_is_required_with_after_and_refused_without_it() -> None:
    assert _problems(enrollment={"reenroll": "after"}) == [
        {"field": "enrollment.cooldown", "problem": "required when reenroll is 'after'"}
    ]
    assert _problems(enrollment={"reenroll": "off", "cooldown": {"days": 1}})[0]["field"] == "enrollment.cooldown"
    assert _problems(enrollment={"frequency_cap": {"runs": 0, "per": {"days": 1}}})[0]["field"] == (
        "enrollment.frequency_cap.runs"
    )
    assert _problems(enrollment={"frequency_cap": {"runs": 1, "per": {"days": 0}}}) == [
        {"field": "enrollment.frequency_cap.per", "problem": "must be at least one minute"}
    ]


def test_goals_and_exits_need_a_wait_and_judge_the_deal_as_it_is() -> None:
    won = {"field": "stage_id", "op": "equals", "value": "won"}
    assert _problems(goal={"condition": won}) == [
        {
            "field": "goal",
            "problem": "only for automation that waits (a delay): without one nothing runs long enough to reach it",
        }
    ]
    changed = {"field": "stage_id", "op": "changed_to", "value": "won"}
    [problem] = _problems(delay={"days": 1}, exits=[{"when": "condition", "condition": {"all": [won, changed]}}])
    assert problem["field"] == "exits.0.condition.all.1.op"
    assert _problems(delay={"days": 1}, exits=[{"when": "won", "condition": won}])[0]["field"] == "exits.0.condition"


def test_goal_and_exit_fields_are_references_a_deleted_field_breaks() -> None:
    rule = a_rule(
        "r1",
        delay={"days": 1},
        goal={"condition": {"field": "signed_on", "op": "is_not_empty"}},
        exits=[{"when": "condition", "condition": {"field": "budget", "op": "lt", "value": 10}}],
    )
    at = {r.at: r.name for r in references_of(rule) if r.kind == "field"}
    assert at["goal.condition.field"] == "signed_on" and at["exits.0.condition.field"] == "budget"


def test_a_loop_through_a_rule_that_runs_once_per_deal_says_it_is_bounded() -> None:
    there = a_rule("there", {"kind": "move_to_stage", "stage_id": "lost"}, stage_id="won")
    back = a_rule("back", {"kind": "move_to_stage", "stage_id": "won"}, stage_id="lost", enrollment={"reenroll": "off"})
    [loop] = find_loops([there, back])
    assert loop.bounded_by == "back runs once per deal (re-enrollment off)"
    [unbounded] = find_loops([there, a_rule("back", {"kind": "move_to_stage", "stage_id": "won"}, stage_id="lost")])
    assert unbounded.bounded_by is None


# --- export and import --------------------------------------------------------------------------------


def test_enrollment_goal_and_exits_travel_through_export_and_import_and_are_checked_there() -> None:
    store = FakeAutomationStore(a_tenant(), automation=[])
    nurture = automation_of(
        kind="rule",
        id="nurture",
        name="Nurture",
        pipeline_id="sales",
        stage_id="new",
        delay={"days": 2},
        actions=[{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }}"}],
        enrollment={"reenroll": "after", "cooldown": {"days": 30}, "frequency_cap": {"runs": 1, "per": {"days": 7}}},
        goal={"name": "won", "condition": {"field": "stage_id", "op": "equals", "value": "won"}},
        exits=[{"when": "lost"}, {"when": "left_stage"}],
    )
    write_changes(store, TENANT_ID, store.load(TENANT_ID), Changes(created=[nurture]))
    document = json.loads(to_json(export_document(store.load(TENANT_ID))))
    exported = next(a for a in document["automation"] if a["id"] == "nurture")
    assert exported["enrollment"]["frequency_cap"] == {"runs": 1, "per": {"days": 7, "hours": 0, "minutes": 0}}
    assert exported["exits"] == [{"when": "lost"}, {"when": "left_stage"}]

    other = FakeAutomationStore(a_tenant("globex"), automation=[])
    known = other.load("globex")
    changes, _, _ = import_changes(validate_document(document, known), known)
    write_changes(other, "globex", known, changes)
    assert json.loads(to_json(export_document(other.load("globex")))) == document

    exported["goal"]["condition"]["field"] = "signed_on"  # no such field in the tenant
    with pytest.raises(Invalid) as refused:
        validate_document(document, store.load(TENANT_ID))
    assert [p["field"] for p in refused.value.problems] == ["automation.nurture.goal.condition.field"]
