"""Copying and moving automation between stages, pipelines and entities, choosing it in bulk, and
the one all-or-nothing write every copy, move, bulk change and import goes through."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.authoring.checks import check_automation
from dealflow.authoring.moves import Changes, Selection, Target, copy_id, retarget, select, write_changes
from dealflow.http_errors import Invalid, PayloadTooLarge
from dealflow.model.tenant import PlanName, TypedValue
from dealflow.policy.plans import PlanExceeded
from dealflow.ports import MAX_WRITES
from tests.fakes import TENANT_ID, FakeAutomationStore, StaleWrite, a_rule, a_tenant, automation_of, compiled_tenant

MOVER = a_rule(
    "proposal-to-negotiation",
    {"kind": "move_to_stage", "stage_id": "negotiation"},
    {"kind": "copy_to_pipeline", "pipeline_id": "delivery", "stage_id": "kickoff"},
    stage_id="proposal",
)
PROCESS = automation_of(
    kind="business_process",
    id="welcome",
    name="Welcome",
    start_on=["add"],
    pipeline_id="sales",
    nodes=[{"kind": "action", "action": {"kind": "move_to_stage", "stage_id": "proposal"}}],
)


def _known(*extra: Any, **tenant: Any) -> Any:
    return compiled_tenant(a_tenant(**tenant), automation=[*compiled_tenant().by_id.values(), *extra])


def _many(count: int, **body: Any) -> list[Any]:
    return [a_rule(f"bulk-{n:03d}", stage_id="new", **body) for n in range(count)]


# --- copy ids ----------------------------------------------------------------------------------------------


def test_a_copy_gets_the_first_free_copy_id() -> None:
    assert copy_id("lost-email", ["lost-email"]) == "lost-email-copy"
    assert copy_id("lost-email", ["lost-email", "lost-email-copy"]) == "lost-email-copy-2"
    assert copy_id("lost-email", ["lost-email-copy", "lost-email-copy-2", "lost-email-copy-3"]) == "lost-email-copy-4"


def test_a_copy_id_of_a_long_id_still_fits() -> None:
    long_id = "x" * 64
    first = copy_id(long_id, [long_id])
    second = copy_id(long_id, [long_id, first])
    assert (len(first), len(second)) == (64, 64)
    assert first.endswith("-copy") and second.endswith("-copy-2")


# --- retarget ----------------------------------------------------------------------------------------------


def test_to_another_stage_of_the_same_pipeline_only_the_stage_changes() -> None:
    moved = retarget(MOVER, Target(stage_id="won"), _known(MOVER))
    assert (moved.pipeline_id, moved.stage_id) == ("sales", "won")
    assert moved.actions == MOVER.actions  # a stage move within the pipeline keeps its stage


def test_to_another_pipeline_stages_and_stage_moves_follow_the_map() -> None:
    # The map names "kickoff" too: a copy into a named pipeline leaves the rule's own, so it keeps its stage.
    target = Target(pipeline_id="renewals", stage_map={"proposal": "due", "negotiation": "renewed", "kickoff": "due"})

    moved = retarget(MOVER, target, _known(MOVER), version=MOVER.version + 1)

    assert (moved.pipeline_id, moved.stage_id, moved.version) == ("renewals", "due", 2)
    assert moved.actions[0].stage_id == "renewed"
    assert (moved.actions[1].pipeline_id, moved.actions[1].stage_id) == ("delivery", "kickoff")
    assert (MOVER.pipeline_id, MOVER.stage_id, MOVER.actions[0].stage_id) == ("sales", "proposal", "negotiation")


def test_a_stage_missing_from_the_map_keeps_its_id_and_the_check_names_what_breaks() -> None:
    known = _known(MOVER)
    moved = retarget(MOVER, Target(pipeline_id="leads", stage_id="new"), known)

    assert (moved.pipeline_id, moved.stage_id, moved.actions[0].stage_id) == ("leads", "new", "negotiation")
    with pytest.raises(Invalid) as exc:
        check_automation(moved, known)
    assert {p["field"]: p["problem"] for p in exc.value.problems} == {
        "actions.0.stage_id": "no stage 'negotiation' in pipeline 'leads'",
        # Its copy into delivery would now copy leads into a deal pipeline.
        "actions.1.pipeline_id": "pipeline 'delivery' holds deals, not leads",
    }


def test_a_copy_takes_its_new_id_name_switch_and_version() -> None:
    known = _known()
    original = known.by_id["won-notify-head"]

    copied = retarget(
        original, Target(stage_id="lost"), known, id="won-notify-head-copy", name="Lost too", enabled=False, version=1
    )

    assert (copied.id, copied.name, copied.enabled, copied.version) == ("won-notify-head-copy", "Lost too", False, 1)
    assert copied.stage_id == "lost" and copied.actions == original.actions


def test_a_tunnel_cannot_be_placed_into_its_own_target_pipeline() -> None:
    known = _known()
    with pytest.raises(ValidationError, match="a tunnel leads to another pipeline"):
        retarget(known.by_id["won-to-delivery"], Target(pipeline_id="delivery", stage_id="in_delivery"), known)


def test_a_business_process_takes_its_entity_from_the_pipeline_or_the_target() -> None:
    known = _known(PROCESS)

    to_leads = retarget(PROCESS, Target(pipeline_id="leads"), known)
    assert (to_leads.entity, to_leads.pipeline_id) == ("lead", "leads")
    assert to_leads.nodes == PROCESS.nodes

    unbound = retarget(PROCESS.model_copy(update={"pipeline_id": None}), Target(entity="lead"), known)
    assert (unbound.entity, unbound.pipeline_id) == ("lead", None)


# --- select ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "chosen"),
    [
        (
            Selection(),
            ["invoice-paid", "lead-satisfied", "lost-email", "welcome", "won-notify-head", "won-to-delivery"],
        ),
        (Selection(kind="rule"), ["lost-email", "won-notify-head"]),
        (Selection(pipeline_id="sales", stage_id="won"), ["invoice-paid", "won-notify-head", "won-to-delivery"]),
        (Selection(kind="rule", pipeline_id="sales", stage_id="won"), ["won-notify-head"]),
        (Selection(stage_id="new"), []),
        (Selection(entity="lead"), ["lead-satisfied"]),
        (Selection(entity="deal", kind="business_process"), ["welcome"]),
        (Selection(q="DELIVERY"), ["won-to-delivery"]),  # in the name or the id, any case
        (Selection(q="linked deal"), ["lead-satisfied"]),
    ],
)
def test_select_chooses_by_every_criterion_given(selection: Selection, chosen: list[str]) -> None:
    assert [a.id for a in select(_known(PROCESS), selection)] == chosen


# --- write_changes -----------------------------------------------------------------------------------------


def test_copies_moves_and_deletes_go_in_one_transaction_with_the_version_bump() -> None:
    store = FakeAutomationStore()
    known = store.load(TENANT_ID)
    notify, lost = known.by_id["won-notify-head"], known.by_id["lost-email"]
    copied = retarget(notify, Target(stage_id="negotiation"), known, id="won-notify-head-copy", version=1)
    moved = retarget(lost, Target(stage_id="negotiation"), known, version=lost.version + 1)

    write_changes(
        store,
        TENANT_ID,
        known,
        Changes(created=[copied], replaced=[(moved, 1)], deleted=[(known.by_id["invoice-paid"], 1)]),
    )

    [transaction] = store.transactions
    assert [m.id for m in transaction["puts"]] == ["won-notify-head-copy", "lost-email"]
    assert [m.id for m in transaction["deletes"]] == ["invoice-paid"]
    assert transaction["at_version"] == known.version
    after = store.load(TENANT_ID)
    assert after.version == known.version + 1
    assert after.by_id["won-notify-head-copy"].stage_id == "negotiation"
    assert (after.by_id["lost-email"].stage_id, after.by_id["lost-email"].version) == ("negotiation", 2)
    assert "invoice-paid" not in after.by_id and after.by_id["won-notify-head"].stage_id == "won"


def test_nothing_to_write_writes_nothing() -> None:
    store = FakeAutomationStore()
    write_changes(store, TENANT_ID, store.load(TENANT_ID), Changes())
    assert store.transactions == [] and store.load(TENANT_ID).version == 0


def test_constants_alone_are_one_transaction() -> None:
    store = FakeAutomationStore()
    constants = {"tax_rate": TypedValue(type="number", value="0.08")}
    write_changes(store, TENANT_ID, store.load(TENANT_ID), Changes(), constants=constants)
    assert len(store.transactions) == 1 and store.load(TENANT_ID).tenant.constants == constants


def test_a_write_since_the_automation_was_read_stops_everything() -> None:
    store = FakeAutomationStore()
    known = store.load(TENANT_ID)
    store.write_definitions(TENANT_ID, [(a_rule("meanwhile"), None)])  # someone else's write in between

    with pytest.raises(StaleWrite, match="changed since version 0"):
        write_changes(store, TENANT_ID, known, Changes(created=[a_rule("mine")]))

    assert "mine" not in store.load(TENANT_ID).by_id and len(store.transactions) == 1


def test_a_definition_changed_since_it_was_read_is_stale() -> None:
    store = FakeAutomationStore()
    known = store.load(TENANT_ID)
    lost = known.by_id["lost-email"]
    renamed = lost.model_copy(update={"name": "Renamed", "version": 2})

    with pytest.raises(StaleWrite, match="RULE#lost-email"):
        write_changes(store, TENANT_ID, known, Changes(replaced=[(renamed, 5)]))
    with pytest.raises(StaleWrite, match="RULE#lost-email"):
        write_changes(store, TENANT_ID, known, Changes(created=[renamed]))  # a new one must not exist yet

    assert store.transactions == [] and store.load(TENANT_ID).by_id["lost-email"].name == lost.name


def test_more_than_one_transaction_holds_is_refused_naming_the_limit_and_nothing_is_written() -> None:
    store = FakeAutomationStore(a_tenant(plan=PlanName.ENTERPRISE))
    known = store.load(TENANT_ID)
    constants = {"crm_url": TypedValue(type="text", value="https://crm.acme.test")}

    with pytest.raises(PayloadTooLarge, match=f"at most {MAX_WRITES} change at once") as refused:
        write_changes(store, TENANT_ID, known, Changes(created=_many(MAX_WRITES + 1)), constants=constants)

    assert refused.value.status == 413 and refused.value.details["limit"] == "transaction_items"
    assert store.transactions == [] and store.load(TENANT_ID).tenant.constants != constants


def test_as_many_as_one_transaction_holds_are_written_whole_in_one() -> None:
    store = FakeAutomationStore(a_tenant(plan=PlanName.ENTERPRISE))
    known = store.load(TENANT_ID)
    rules = _many(MAX_WRITES)

    write_changes(store, TENANT_ID, known, Changes(created=rules))

    [written] = store.transactions
    assert len(written["puts"]) == MAX_WRITES and written["at_version"] == known.version
    assert store.load(TENANT_ID).by_id.keys() >= {r.id for r in rules}


def test_the_plan_is_checked_before_anything_is_written() -> None:
    store = FakeAutomationStore()  # business: 100 active
    known = store.load(TENANT_ID)

    with pytest.raises(PlanExceeded) as exc:
        write_changes(store, TENANT_ID, known, Changes(created=_many(100)))
    assert exc.value.details == {"limit": 100, "active": 5}
    assert store.transactions == []

    write_changes(store, TENANT_ID, known, Changes(created=_many(MAX_WRITES, enabled=False)))  # off: stored
    assert len(store.transactions) == 1


def test_a_kind_the_plan_lacks_is_refused_before_any_write() -> None:
    store = FakeAutomationStore(a_tenant(plan=PlanName.TEAM))
    known = store.load(TENANT_ID)
    with pytest.raises(PlanExceeded, match="team plan does not include business_process"):
        write_changes(
            store, TENANT_ID, known, Changes(created=[*_many(3), PROCESS.model_copy(update={"enabled": False})])
        )
    assert store.transactions == []
