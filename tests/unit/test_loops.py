"""The design-time loop check: enabled rules, tunnels and triggers that can start each other in a
circle are reported with their members, in the order they would run, and why each starts the next."""

from __future__ import annotations

from typing import Any

from dealflow.authoring.loops import find_loops, loop_through
from tests.fakes import a_rule, automation_of


def _mover(rule_id: str, stage_id: str, to: str, **body: Any) -> Any:
    """A rule on sales/``stage_id`` moving the deal to ``to``."""
    return a_rule(rule_id, {"kind": "move_to_stage", "stage_id": to}, stage_id=stage_id, **body)


def _tunnel(tunnel_id: str, source: tuple[str, str], target: tuple[str, str], **body: Any) -> Any:
    return automation_of(
        kind="tunnel",
        id=tunnel_id,
        name=tunnel_id,
        pipeline_id=source[0],
        stage_id=source[1],
        target_pipeline_id=target[0],
        target_stage_id=target[1],
        mode="copy",
        **body,
    )


def _field_trigger(trigger_id: str, field: str, stage_id: str = "proposal", pipeline_id: str = "sales") -> Any:
    return automation_of(
        kind="trigger",
        id=trigger_id,
        name=trigger_id,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        event="field_changed",
        field=field,
        allow_backwards=True,
    )


def _setter(rule_id: str, field: str, stage_id: str = "proposal", pipeline_id: str = "sales") -> Any:
    values = {field: {"value": 1}}
    return a_rule(rule_id, {"kind": "update_fields", "values": values}, pipeline_id=pipeline_id, stage_id=stage_id)


TUNNEL_A = _tunnel("tunnel-a", ("sales", "negotiation"), ("delivery", "in_delivery"))
TUNNEL_B = _tunnel("tunnel-b", ("delivery", "in_delivery"), ("renewals", "due"))
RULE_C = a_rule(
    "rule-c",
    {"kind": "move_to_pipeline", "pipeline_id": "sales", "stage_id": "negotiation"},
    pipeline_id="renewals",
    stage_id="due",
)


def test_two_rules_moving_deals_to_each_others_stage_are_a_loop() -> None:
    there, back = _mover("there", "won", "lost"), _mover("back", "lost", "won")

    [loop] = find_loops([there, back])

    assert loop.members == ["back", "there"]  # a group starts at its smallest id
    assert loop.reason == (
        "back moves deals into sales/won, which starts there; there moves deals into sales/lost, which starts back"
    )
    assert loop_through([there, back], "there").members == ["there", "back"]


def test_a_rule_moving_deals_into_their_own_stage_starts_nothing() -> None:
    # Both rules run on won and "move" deals to won, where they are already: neither starts the other.
    stays, stays_too = _mover("stays", "won", "won"), _mover("stays-too", "won", "won")
    assert find_loops([stays, stays_too]) == []
    assert loop_through([stays, stays_too], "stays") is None


def test_a_chain_that_does_not_close_is_no_loop() -> None:
    chain = [_mover("a", "new", "proposal"), _mover("b", "proposal", "negotiation"), _mover("c", "negotiation", "won")]
    assert find_loops(chain) == []
    assert [loop_through(chain, a.id) for a in chain] == [None, None, None]


def test_tunnels_and_a_pipeline_move_close_a_circle_across_pipelines() -> None:
    automations = [TUNNEL_A, TUNNEL_B, RULE_C]

    loop = loop_through(automations, "tunnel-a")

    assert loop is not None and loop.members == ["tunnel-a", "tunnel-b", "rule-c"]
    assert loop.reason == (
        "tunnel-a moves deals into delivery/in_delivery, which starts tunnel-b; "
        "tunnel-b moves deals into renewals/due, which starts rule-c; "
        "rule-c moves deals into sales/negotiation, which starts tunnel-a"
    )
    [found] = find_loops(automations)
    assert found.members == ["rule-c", "tunnel-a", "tunnel-b"]
    assert found.reason.startswith("rule-c moves deals into sales/negotiation, which starts tunnel-a; ")


def test_a_stage_move_stays_in_its_own_pipeline() -> None:
    # Renewals has a "due" stage, sales none: moving a sales deal to "due" starts no renewals rule.
    to_due = _mover("to-due", "won", "due")
    due_back = a_rule(
        "due-back",
        {"kind": "move_to_pipeline", "pipeline_id": "sales", "stage_id": "won"},
        pipeline_id="renewals",
        stage_id="due",
    )
    assert find_loops([to_due, due_back]) == []


def test_a_field_update_that_starts_a_field_trigger_is_a_link() -> None:
    setter, trigger = _setter("score-on-proposal", "score"), _field_trigger("score-to-proposal", "score")

    loop = loop_through([setter, trigger], "score-to-proposal")

    assert loop is not None and loop.members == ["score-to-proposal", "score-on-proposal"]
    assert loop.reason == (
        "score-to-proposal moves deals into sales/proposal, which starts score-on-proposal; "
        "score-on-proposal sets field 'score' in sales, which starts score-to-proposal"
    )


def test_a_field_trigger_watches_only_its_field_in_its_pipeline() -> None:
    assert find_loops([_setter("sets-region", "region"), _field_trigger("on-score", "score")]) == []
    elsewhere = _field_trigger("renewal-score", "score", stage_id="due", pipeline_id="renewals")
    assert find_loops([_setter("sets-score", "score"), elsewhere]) == []


def test_a_switched_off_member_breaks_the_circle() -> None:
    off = TUNNEL_B.model_copy(update={"enabled": False})
    assert find_loops([TUNNEL_A, off, RULE_C]) == []
    assert loop_through([TUNNEL_A, off, RULE_C], "tunnel-a") is None
    assert loop_through([TUNNEL_A, off, RULE_C], "tunnel-b") is None


def test_business_processes_are_left_out() -> None:
    # A process starts on any change of an item, not on what it writes; counting it would make every
    # process writing anything a loop.
    process = automation_of(
        kind="business_process",
        id="bp",
        name="BP",
        start_on=["change"],
        pipeline_id="sales",
        nodes=[
            {"kind": "action", "action": {"kind": "move_to_stage", "stage_id": "won"}},
            {"kind": "action", "action": {"kind": "update_fields", "values": {"score": {"value": 2}}}},
        ],
    )
    automations = [process, _mover("won-to-lost", "won", "lost"), _field_trigger("on-score", "score", stage_id="won")]
    assert find_loops(automations) == []
    assert loop_through(automations, "bp") is None


def test_each_circle_is_reported_once_and_separate_circles_apart() -> None:
    three = [
        _mover("r1", "new", "proposal"),
        _mover("r2", "proposal", "negotiation"),
        _mover("r3", "negotiation", "new"),
    ]
    # Two ways around the same group: r1 → r2 → r3 → r1 and r2 ↔ r4.
    r4 = _mover("r4", "negotiation", "proposal")
    pair = [_mover("x-won", "won", "lost"), _mover("x-lost", "lost", "won")]

    loops = find_loops([*pair, r4, *three])

    assert [loop.members for loop in loops] == [["r1", "r2", "r3"], ["x-lost", "x-won"]]
    assert loop_through([*pair, r4, *three], "r4").members == ["r4", "r2"]  # the shortest way round


def test_an_assignment_that_starts_a_trigger_on_the_responsible_user_back_into_its_stage_is_a_loop() -> None:
    assigner = a_rule("assigner", {"kind": "assign", "users": ["u-anna", "u-piotr"]}, stage_id="proposal")
    reassigned = _field_trigger("reassigned", "responsible_id", stage_id="new")
    mover = _mover("mover", "new", "proposal")

    [loop] = find_loops([assigner, reassigned, mover])

    assert loop.members == ["assigner", "reassigned", "mover"]
    assert "assigner sets field 'responsible_id' in sales, which starts reassigned" in loop.reason
