"""A business process started by hand: what is checked, the run request it makes, and how a start
is named so that repeating it starts nothing new."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.manual_runs import ManualStartRefused, start_by_hand
from dealflow.model import Causation, Deal, RunRequest
from tests.fakes import a_rule, a_tenant, automation_of, compiled_tenant

NOTIFY = {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ var.reason }}"}}


def _process(process_id: str = "follow-up", **body: Any) -> Any:
    return automation_of(
        **{
            "kind": "business_process",
            "id": process_id,
            "name": "Follow up",
            "start_on": ["manual"],
            "parameters": {"days": {"type": "number"}, "reason": {"type": "text", "value": "Call back"}},
            "nodes": [NOTIFY],
            **body,
        }
    )


def _known(*automation: Any, tenant_id: str = "acme") -> TenantAutomation:
    return compiled_tenant(a_tenant(tenant_id), automation=[*automation, a_rule("won-notify-head")])


def _deal(**changes: Any) -> Deal:
    base = {"tenant_id": "acme", "id": "d-1", "pipeline_id": "sales", "stage_id": "new", "title": "Deal", "version": 3}
    return Deal.model_validate({**base, **changes})


class Starter:
    """The run starter port: a name that already ran starts nothing."""

    def __init__(self) -> None:
        self.started: dict[str, RunRequest] = {}

    def start(self, request: RunRequest) -> bool:
        if request.run_id in self.started:
            return False
        self.started[request.run_id] = request
        return True

    def stop(self, execution_id: str) -> bool:
        raise AssertionError("a start never stops anything")


def _refused(known: TenantAutomation, process_id: str, parameters: Any = None, deal: Deal | None = None) -> Any:
    with pytest.raises(ManualStartRefused) as exc:
        start_by_hand(Starter(), known, deal or _deal(), process_id, parameters)
    return {p["field"]: p["problem"] for p in exc.value.problems}


def test_the_run_starts_with_the_process_the_deal_and_typed_parameters() -> None:
    starter = Starter()
    caused = _deal(caused_by=Causation(run_id="run-0", automation_id="other", depth=3, chain=["other"]))
    started = start_by_hand(starter, _known(_process()), caused, "follow-up", {"days": "5"})

    assert started.started is True
    request = starter.started[started.run_id]
    assert request.automation.id == "follow-up" and request.tenant_id == "acme"
    assert request.parameters == {"days": Decimal("5"), "reason": "Call back"}
    assert request.started_by.event == "manual" and request.started_by.stage_id == "new"
    # A start by hand begins a new chain: the deal's last writer does not count towards the loop guard.
    assert request.deal_id == "d-1" and request.depth == 1 and request.chain == []


def test_the_same_start_is_one_run_until_the_deal_or_the_process_changes() -> None:
    starter, known = Starter(), _known(_process())
    first = start_by_hand(starter, known, _deal(), "follow-up", {"days": 5})
    again = start_by_hand(starter, known, _deal(), "follow-up", {"days": "5.0"})
    assert (again.run_id, again.started) == (first.run_id, False)

    others = [
        start_by_hand(starter, known, _deal(), "follow-up", {"days": 6}),
        start_by_hand(starter, known, _deal(version=4), "follow-up", {"days": 5}),
        start_by_hand(starter, _known(_process(version=2)), _deal(), "follow-up", {"days": 5}),
    ]
    assert all(o.started for o in others) and len({first.run_id, *(o.run_id for o in others)}) == 4


def test_a_request_id_names_the_start_within_its_tenant_and_deal() -> None:
    starter = Starter()
    first = start_by_hand(starter, _known(_process()), _deal(), "follow-up", {"days": 1}, "click-1")
    assert start_by_hand(starter, _known(_process()), _deal(version=9), "follow-up", {"days": 2}, "click-1") == (
        type(first)(first.run_id, False)
    )
    elsewhere = start_by_hand(
        starter, _known(_process(), tenant_id="globex"), _deal(tenant_id="globex"), "follow-up", {"days": 1}, "click-1"
    )
    other_deal = start_by_hand(starter, _known(_process()), _deal(id="d-2"), "follow-up", {"days": 1}, "click-1")
    assert elsewhere.started and other_deal.started
    assert len({first.run_id, elsewhere.run_id, other_deal.run_id}) == 3


def test_every_problem_of_a_start_is_named_at_once() -> None:
    process = _process(start_on=["add"], enabled=False, entity="lead", pipeline_id="leads")
    with pytest.raises(ManualStartRefused) as exc:
        start_by_hand(Starter(), _known(process), _deal(), "follow-up", {"days": "lots", "colour": "red"})
    assert [(p["field"], p["problem"]) for p in exc.value.problems] == [
        ("process_id", "business process 'follow-up' is not started by hand (it starts on add)"),
        ("process_id", "business process 'follow-up' is switched off"),
        ("process_id", "business process 'follow-up' runs on leads, not deals"),
        ("process_id", "business process 'follow-up' runs in pipeline 'leads', not 'sales' where deal 'd-1' is"),
        ("parameters.colour", "business process 'follow-up' has no parameter colour (it has days, reason)"),
        ("parameters.days", "'lots' is not a number"),
    ]


def test_a_missing_required_parameter_and_a_user_outside_the_tenant_are_refused() -> None:
    process = _process(parameters={"days": {"type": "number"}, "owner": {"type": "user", "value": "u-ghost"}})
    assert _refused(_known(process), "follow-up") == {
        "parameters.days": "required: a number value",
        "parameters.owner": "no user 'u-ghost' in this tenant",
    }
    assert _refused(_known(_process(parameters={})), "follow-up", {"days": 1}) == {
        "parameters.days": "business process 'follow-up' has no parameter days (it takes none)"
    }


def test_a_process_with_broken_references_is_not_started() -> None:
    broken = _process(
        nodes=[{"kind": "action", "action": {"kind": "update_fields", "values": {"gone": {"value": "x"}}}}]
    )
    problems = _refused(_known(broken), "follow-up", {"days": 1})
    assert list(problems) == ["process_id"]
    assert problems["process_id"].startswith("business process 'follow-up' has broken references: field 'gone'")


def test_only_a_business_process_of_the_tenant_is_started() -> None:
    for missing in ("nope", "won-notify-head"):
        with pytest.raises(LookupError, match=f"no business process '{missing}'"):
            start_by_hand(Starter(), _known(_process()), _deal(), missing, {"days": 1})
