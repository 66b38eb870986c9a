"""Automation as code, the files themselves: one file per definition named by its id, an export
that leaves unchanged files alone, problems named by file and field, a plan that says what changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from dealflow.cli.code_files import file_of, read_directory, write_directory
from dealflow.cli.code_plan import changed_paths, render_plan

DOCUMENT = {
    "format": "dealflow/v1",
    "pipelines": [{"id": "sales", "name": "Sales", "stages": [{"id": "new", "name": "New"}]}],
    "fields": [{"code": "budget", "name": "Budget", "type": "number"}],
    "automation": [
        {"id": "v1.2", "kind": "rule", "name": "Dotted", "pipeline_id": "sales", "stage_id": "new", "actions": []}
    ],
    "field_step_workflows": [],
    "constants": {"rate": {"type": "number", "value": Decimal("0.12345678901234567890")}},
}


def test_the_document_comes_back_from_its_files_exactly(tmp_path: Path) -> None:
    changes = write_directory(DOCUMENT, tmp_path)
    assert changes == {
        "automation/v1.2.yaml": "created",
        "constants.yaml": "created",
        "dealflow.yaml": "created",
        "fields.yaml": "created",
        "pipelines/sales.yaml": "created",
    }
    document, problems = read_directory(tmp_path)
    assert problems == [] and document == DOCUMENT  # the decimal digit for digit
    assert "value: 0.12345678901234567890" in (tmp_path / "constants.yaml").read_text()


def test_writing_again_touches_only_what_changed_and_keeps_top_comments(tmp_path: Path) -> None:
    write_directory(DOCUMENT, tmp_path)
    sales, rule = tmp_path / "pipelines" / "sales.yaml", tmp_path / "automation" / "v1.2.yaml"
    sales.write_text("# Owned by the sales team.\n\n# Ask Ada first.\n" + sales.read_text() + "# trailing\n")
    rule.write_text("# kept: nothing changes here\n" + rule.read_text())
    kept = rule.read_text()
    renamed = {**DOCUMENT, "pipelines": [{**DOCUMENT["pipelines"][0], "name": "Sales (EU)"}]}

    changes = write_directory(renamed, tmp_path)

    assert changes["pipelines/sales.yaml"] == "updated" and changes["automation/v1.2.yaml"] == "unchanged"
    assert rule.read_text() == kept
    text = sales.read_text()
    assert text.startswith("# Owned by the sales team.\n\n# Ask Ada first.\n\nid: sales\n")
    assert "Sales (EU)" in text and "# trailing" not in text


def test_a_definition_gone_from_the_tenant_is_gone_from_the_directory(tmp_path: Path) -> None:
    write_directory(DOCUMENT, tmp_path)
    changes = write_directory({**DOCUMENT, "automation": []}, tmp_path)
    assert changes["automation/v1.2.yaml"] == "deleted"
    assert not (tmp_path / "automation" / "v1.2.yaml").exists()


def test_files_that_cannot_be_read_as_definitions_are_named(tmp_path: Path) -> None:
    write_directory(DOCUMENT, tmp_path)
    (tmp_path / "automation" / "other.yaml").write_text("id: v1.2\nkind: rule\n")
    (tmp_path / "automation" / "list.yaml").write_text("- id: list\n")
    (tmp_path / "rules.yaml").write_text("id: stray\n")
    (tmp_path / "pipelines" / "sales.yaml").write_text("id: sales\n  name: [\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.yaml").write_text("not: read\n")

    _, problems = read_directory(tmp_path)

    assert sorted(str(p) for p in problems) == [
        "automation/list.yaml: expected one definition (a mapping)",
        "automation/other.yaml: id: is 'v1.2'; the file is named for 'other'",
        "pipelines/sales.yaml: line 2: not valid YAML: mapping values are not allowed here",
        "rules.yaml: not read: items go under pipelines/, automation/ or field-step-workflows/ as <id>.yaml",
    ]


def test_a_directory_without_the_marker_is_not_taken_for_one(tmp_path: Path) -> None:
    _, problems = read_directory(tmp_path)
    assert [p.file for p in problems] == ["dealflow.yaml"]


def test_an_api_problem_is_placed_in_its_file_even_when_the_id_has_dots() -> None:
    assert file_of("automation.v1.2.actions.0.to", DOCUMENT) == ("automation/v1.2.yaml", "actions.0.to")
    assert file_of("pipelines.sales.stages", DOCUMENT) == ("pipelines/sales.yaml", "stages")
    assert file_of("constants.rate.value", DOCUMENT) == ("constants.yaml", "rate.value")
    assert file_of("automation.3.id", DOCUMENT) == ("(document)", "automation.3.id")


def test_a_plan_shows_each_change_and_the_paths_that_change() -> None:
    local = {**DOCUMENT, "pipelines": [{**DOCUMENT["pipelines"][0], "name": "Sales (EU)"}]}
    listing = [
        {"kind": "pipeline", "id": "sales", "change": "update"},
        {"kind": "rule", "id": "v1.2", "change": "unchanged"},
        {"kind": "tunnel", "id": "gone", "change": "delete"},
    ]
    text, total = render_plan(listing, DOCUMENT, local)
    assert total == 2
    assert text.splitlines() == [
        "  ~ pipeline sales  (pipelines/sales.yaml)",
        '      ~ name: "Sales" → "Sales (EU)"',
        "  - tunnel gone",
        "",
        "Plan: 0 to create, 1 to change, 1 to delete (1 unchanged).",
    ]
    assert render_plan(listing[1:2], DOCUMENT, DOCUMENT)[1] == 0


def test_changed_paths_name_additions_and_removals() -> None:
    assert changed_paths({"a": [1, 2]}, {"a": [1], "b": {"c": True}}) == ["a.1: 2 → (none)", "b.c: (none) → true"]


def test_the_tenants_calendar_is_its_own_file_and_goes_when_the_tenant_has_none(tmp_path: Path) -> None:
    calendar = {"time_zone": "Europe/Warsaw", "hours": {"mon": ["09:00-17:00"]}, "holidays": ["2026-12-24"]}
    assert write_directory({**DOCUMENT, "calendar": calendar}, tmp_path)["calendar.yaml"] == "created"
    document, problems = read_directory(tmp_path)
    assert problems == [] and document["calendar"] == calendar
    assert file_of("calendar.hours.mon", document) == ("calendar.yaml", "hours.mon")

    assert write_directory(DOCUMENT, tmp_path)["calendar.yaml"] == "deleted"
    assert "calendar" not in read_directory(tmp_path)[0]
