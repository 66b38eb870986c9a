"""What a diff between two versions shows: one difference per changed leaf, added or removed
item, with JSON paths a client can follow and a line a person can read."""

from __future__ import annotations

from dealflow.authoring.versions import differences


def _paths(before: dict, after: dict) -> list[tuple[str, str]]:
    return [(d.path, d.change) for d in differences(before, after)]


def test_changed_leaves_are_named_by_path_with_before_and_after() -> None:
    before = {"id": "r", "name": "Old", "actions": [{"kind": "notify", "message": "Hi"}]}
    after = {"id": "r", "name": "New", "actions": [{"kind": "notify", "message": "Hello"}]}

    found = differences(before, after)

    assert [(d.path, d.before, d.after) for d in found] == [
        ("$.name", "Old", "New"),
        ("$.actions[0].message", "Hi", "Hello"),
    ]
    assert found[1].text == "actions[0].message: 'Hi' → 'Hello'"


def test_an_added_or_removed_item_is_one_difference() -> None:
    before = {"actions": [{"kind": "notify"}], "delay": {"days": 1}}
    after = {"actions": [{"kind": "notify"}, {"kind": "send_email", "to": {"users": ["u-1"]}}]}

    assert _paths(before, after) == [("$.actions[1]", "added"), ("$.delay", "removed")]


def test_items_with_ids_are_matched_by_id_not_position() -> None:
    before = {"stages": [{"id": "new", "name": "New"}, {"id": "won", "name": "Won"}]}
    after = {"stages": [{"id": "new", "name": "New"}, {"id": "demo", "name": "Demo"}, {"id": "won", "name": "Won!"}]}

    found = differences(before, after)

    assert [(d.path, d.change) for d in found] == [
        ('$.stages[?(@.id=="won")].name', "changed"),
        ('$.stages[?(@.id=="demo")]', "added"),
    ]
    assert found[0].text == "stages[won].name: 'Won' → 'Won!'"


def test_bookkeeping_and_equal_numbers_are_not_differences() -> None:
    before = {"version": 1, "owner_id": "u-1", "value": 1, "flag": True}
    after = {"version": 7, "owner_id": "u-2", "value": 1.0, "flag": True}

    assert differences(before, after) == []
    assert _paths({"flag": 1}, {"flag": True}) == [("$.flag", "changed")]


def test_keys_that_are_not_names_are_quoted() -> None:
    found = differences({"fields": {"a-b": 1}}, {"fields": {"a-b": 2}})

    assert found[0].path == '$.fields["a-b"]'
