"""`dealflow versions` against the local API server, with a tenant's token: an administrator lists
who saved a rule's versions and why, reads what changed, looks at an old one and rolls back to it;
a sales rep may read but not roll back; an unknown rule is named in the refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dealflow.cli.main import main
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.local.server import LocalApi
from dealflow.local.tokens import caller_token
from tests.integration.test_api_automation import _rule
from tests.integration.test_api_versions import _save


@pytest.fixture
def api(stack: MotoStack) -> Iterator[LocalApi]:
    _save(stack, "/automation/negotiation-alert", _rule(), "first cut")
    _save(stack, "/automation/negotiation-alert", _rule(version=1, name="Too strict"), "stricter")
    with LocalApi(stack, port=0, run_automation=False) as served:
        yield served


def dealflow(api: LocalApi, *args: str, role: str = "admin", user: str = "u-admin") -> int:
    return main([*args, "--api", api.url, "--token", caller_token(TENANT, user, role)])


def test_an_administrator_reads_the_history_and_rolls_back(
    api: LocalApi, stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dealflow(api, "versions", "list", "automation", "negotiation-alert") == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "automation negotiation-alert: 2 versions, newest first"
    assert listed[1].split()[0] == "v2" and listed[1].endswith("u-admin  stricter")
    assert listed[2].split()[0] == "v1" and listed[2].endswith("u-admin  first cut")

    assert dealflow(api, "versions", "diff", "automation", "negotiation-alert") == 0
    assert capsys.readouterr().out.splitlines() == [
        "automation negotiation-alert: v1 → v2, 1 change(s)",
        "  ~ name: 'Big deal in negotiation' → 'Too strict'",
    ]

    assert dealflow(api, "versions", "show", "automation", "negotiation-alert", "1") == 0
    shown = capsys.readouterr().out
    assert shown.startswith("# v1") and "name: Big deal in negotiation\n" in shown

    assert dealflow(api, "versions", "rollback", "automation", "negotiation-alert", "1", "-m", "too strict") == 0
    assert capsys.readouterr().out.strip() == "automation negotiation-alert is now v3, the content of v1"
    live = stack.automation.load(TENANT).by_id["negotiation-alert"]
    assert (live.name, live.version) == ("Big deal in negotiation", 3)
    newest, _ = stack.automation.history.page(TENANT, "automation", "negotiation-alert", 1)
    assert (newest[0].saved_by, newest[0].message) == ("u-admin", "too strict")


def test_a_sales_rep_reads_versions_but_cannot_roll_back(
    api: LocalApi, stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dealflow(api, "versions", "list", "automation", "negotiation-alert", role="sales_rep", user="u-anna") == 0
    capsys.readouterr()

    refused = dealflow(
        api, "versions", "rollback", "automation", "negotiation-alert", "1", role="sales_rep", user="u-anna"
    )

    assert refused == 1
    assert "POST /automation/negotiation-alert/rollback answered 403" in capsys.readouterr().err
    assert stack.automation.load(TENANT).by_id["negotiation-alert"].name == "Too strict"


def test_an_unknown_rule_is_named_in_the_refusal(api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert dealflow(api, "versions", "list", "automation", "no-such-rule") == 1
    refusal = capsys.readouterr().err
    assert "GET /automation/no-such-rule/versions answered 404" in refusal and "no-such-rule" in refusal


def test_json_gives_the_apis_answer(api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert dealflow(api, "versions", "list", "automation", "negotiation-alert", "--limit", "1", "--json") == 0
    out = capsys.readouterr().out
    assert '"version": 2' in out and '"version": 1' not in out


def test_a_version_that_cannot_exist_is_refused_by_the_api_naming_it(
    api: LocalApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dealflow(api, "versions", "rollback", "automation", "negotiation-alert", "0") == 1
    refusal = capsys.readouterr().err
    assert "POST /automation/negotiation-alert/rollback answered 422: version: " in refusal
