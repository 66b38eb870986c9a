"""Automation as code against the local stack: `dealflow export` a tenant into a directory, edit
the files as a person would, `plan` what would change, `apply` it (one transaction), and the
tenant's automation is the directory's — over the management API, with the tenant's token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dealflow.cli.main import main
from dealflow.local import MotoStack
from dealflow.local.server import LocalApi
from dealflow.local.tokens import caller_token

NEW_RULE = """\
# Nudge the responsible rep when a deal sits in negotiation.
kind: rule
id: negotiation-nudge
name: 'Negotiation: nudge the rep'
pipeline_id: sales
stage_id: negotiation
delay: {days: 3}
actions:
- kind: notify
  to: {responsible: true}
  message: 'Still negotiating {{ deal.title }}?'
"""


ADMIN_CLAIMS = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}


@pytest.fixture
def api(stack: MotoStack) -> Iterator[LocalApi]:
    with LocalApi(stack, port=0, run_automation=False) as served:
        yield served


def dealflow(api: LocalApi, *args: str, role: str = "admin") -> int:
    return main([*args, "--api", api.url, "--token", caller_token("acme", "u-admin", role)])


def test_export_writes_one_file_per_pipeline_and_automation(api: LocalApi, stack: MotoStack, tmp_path: Path) -> None:
    assert dealflow(api, "export", str(tmp_path)) == 0
    known = stack.automation.load("acme")
    assert sorted(p.name for p in (tmp_path / "pipelines").iterdir()) == sorted(f"{p}.yaml" for p in known.pipelines)
    assert sorted(p.name for p in (tmp_path / "automation").iterdir()) == sorted(f"{a}.yaml" for a in known.by_id)
    assert (tmp_path / "dealflow.yaml").read_text() == "format: dealflow/v1\n"


def test_plan_then_apply_makes_the_tenant_the_directory(
    api: LocalApi, stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dealflow(api, "export", str(tmp_path)) == 0
    sales = tmp_path / "pipelines" / "sales.yaml"
    sales.write_text(sales.read_text().replace("name: Proposal sent", "name: Proposal out"))
    (tmp_path / "automation" / "negotiation-nudge.yaml").write_text(NEW_RULE)
    (tmp_path / "automation" / "won-notify-head.yaml").unlink()
    capsys.readouterr()

    assert dealflow(api, "plan", str(tmp_path)) == 0
    plan = capsys.readouterr().out
    assert "+ rule negotiation-nudge  (automation/negotiation-nudge.yaml)" in plan
    assert "~ pipeline sales  (pipelines/sales.yaml)" in plan
    assert '~ stages.1.name: "Proposal sent" → "Proposal out"' in plan
    assert "- rule won-notify-head" in plan
    assert "Plan: 1 to create, 1 to change, 1 to delete" in plan
    before = stack.automation.load("acme")
    assert "won-notify-head" in before.by_id and "negotiation-nudge" not in before.by_id  # a plan writes nothing

    assert dealflow(api, "apply", str(tmp_path), "--yes", "-m", "Nudge negotiations") == 0
    assert "Apply complete: 1 created, 1 changed, 1 deleted" in capsys.readouterr().out
    after = stack.automation.load("acme")
    assert (
        "won-notify-head" not in after.by_id and after.by_id["negotiation-nudge"].name == "Negotiation: nudge the rep"
    )
    assert after.pipelines["sales"].stage("proposal").name == "Proposal out"
    versions, _ = stack.automation.history.page("acme", "automation", "negotiation-nudge", limit=5)
    assert [(v.message, v.saved_by) for v in versions] == [("Nudge negotiations", "u-admin")]

    assert dealflow(api, "plan", str(tmp_path)) == 0
    assert capsys.readouterr().out.startswith("No changes")


def test_export_again_keeps_unchanged_files_and_their_comments(api: LocalApi, stack: MotoStack, tmp_path: Path) -> None:
    assert dealflow(api, "export", str(tmp_path)) == 0
    rule = tmp_path / "automation" / "lost-email.yaml"
    commented = "# Why: the head of sales asked for it.\n" + rule.read_text().replace("\n", "  # lost deals\n", 1)
    rule.write_text(commented)
    sales = tmp_path / "pipelines" / "sales.yaml"
    sales.write_text("# Our pipeline.\n" + sales.read_text())
    stack.put_pipeline("acme", stack.automation.load("acme").pipelines["sales"].model_copy(update={"name": "Sales"}))

    assert dealflow(api, "export", str(tmp_path)) == 0
    assert rule.read_text() == commented  # same definition: not rewritten, comments and all
    assert sales.read_text().startswith("# Our pipeline.\n")  # rewritten: the comment at its top stays
    assert "name: Sales\n" in sales.read_text()


def test_diff_shows_each_changed_file(api: LocalApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dealflow(api, "export", str(tmp_path)) == 0
    (tmp_path / "automation" / "negotiation-nudge.yaml").write_text(NEW_RULE)
    capsys.readouterr()
    assert dealflow(api, "diff", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "--- /dev/null\n+++ b/automation/negotiation-nudge.yaml\n" in out
    assert "+name: 'Negotiation: nudge the rep'" in out


def test_validate_names_the_file_and_field_of_each_problem(
    api: LocalApi, stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dealflow(api, "export", str(tmp_path)) == 0
    assert dealflow(api, "validate", str(tmp_path)) == 0
    (tmp_path / "automation" / "negotiation-nudge.yaml").write_text(NEW_RULE.replace("negotiation\n", "haggling\n"))
    capsys.readouterr()
    assert dealflow(api, "validate", str(tmp_path)) == 1  # the API's dry run: no stage 'haggling'
    err = capsys.readouterr().err
    assert "automation/negotiation-nudge.yaml: stage_id:" in err and "haggling" in err

    (tmp_path / "automation" / "negotiation-nudge.yaml").write_text(NEW_RULE.replace("days: 3", "days: many"))
    (tmp_path / "automation" / "lost-email.yaml").write_text("id: lost-email\nname: Lost: e-mail: the team\n")
    assert dealflow(api, "validate", str(tmp_path), "--offline") == 1  # the files alone, no API
    err = capsys.readouterr().err
    assert "automation/lost-email.yaml: line 2: not valid YAML" in err

    (tmp_path / "automation" / "lost-email.yaml").write_text(NEW_RULE)  # the id names another file
    assert dealflow(api, "apply", str(tmp_path), "--yes") == 1
    err = capsys.readouterr().err
    assert "automation/lost-email.yaml: id: is 'negotiation-nudge'; the file is named for 'lost-email'" in err
    assert "automation/negotiation-nudge.yaml: delay.days:" in err
    assert "negotiation-nudge" not in stack.automation.load("acme").by_id  # nothing applied


def test_apply_is_refused_for_a_sales_rep_and_writes_nothing(
    api: LocalApi, stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dealflow(api, "export", str(tmp_path)) == 0
    (tmp_path / "automation" / "negotiation-nudge.yaml").write_text(NEW_RULE)
    assert dealflow(api, "apply", str(tmp_path), "--yes", role="sales_rep") == 1
    assert "403" in capsys.readouterr().err
    assert "negotiation-nudge" not in stack.automation.load("acme").by_id


def test_test_runs_the_saved_tests_and_fails_when_one_fails(
    api: LocalApi, stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deal = {"pipeline_id": "sales", "stage_id": "lost", "title": "Gone", "amount": "10", "currency": "EUR"}
    saved = {"id": "lost-mail", "name": "A lost deal mails the team", "deal": deal}
    passing = {**saved, "expect": {"emails": [{"subject_contains": "Lost: Gone"}]}}
    status, body = stack.api("PUT", "/automation/lost-email/tests/lost-mail", passing, claims=ADMIN_CLAIMS)
    assert status in (200, 201), body
    assert dealflow(api, "export", str(tmp_path)) == 0
    capsys.readouterr()

    assert dealflow(api, "test", str(tmp_path), "--automation", "lost-email") == 0
    assert "✓ lost-email (version 1): 1 passed, 0 failed" in capsys.readouterr().out

    failing = {**saved, "expect": {"emails": [{"subject_contains": "Won"}]}}
    status, body = stack.api("PUT", "/automation/lost-email/tests/lost-mail", failing, claims=ADMIN_CLAIMS)
    assert status in (200, 201), body
    assert dealflow(api, "test", str(tmp_path), "--automation", "lost-email") == 1
    out = capsys.readouterr().out
    assert "✗ lost-email (version 1): 0 passed, 1 failed" in out
    assert "✗ A lost deal mails the team: emails[0]: expected {'subject_contains': 'Won'}" in out


def test_map_writes_the_tenants_map_in_the_format_its_name_says(api: LocalApi, tmp_path: Path) -> None:
    assert dealflow(api, "map", "-o", str(tmp_path / "acme.svg")) == 0
    assert dealflow(api, "map", "-o", str(tmp_path / "acme.mmd")) == 0
    svg, mermaid = (tmp_path / "acme.svg").read_text(), (tmp_path / "acme.mmd").read_text()
    assert svg.startswith("<svg") and 'data-automation="won-to-delivery"' in svg
    assert mermaid.startswith("flowchart") and "copy: Won services deals go to delivery" in mermaid
