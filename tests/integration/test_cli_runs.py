"""``dealflow runs`` against a moto server provisioned from template.yaml: the failed-run inbox
listed, a failed run retried and a waiting run resumed early — the command attaches its own local
harness to the server and runs them in-process, and nothing is sent twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dealflow.cli.main import main
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.model import Notify, Recipients, Rule, SendEmail


@pytest.fixture(scope="module")
def served() -> Iterator[MotoStack]:
    with MotoStack(server=True) as stack:
        set_up(stack)
        stack.put_rule(
            TENANT,
            Rule(
                id="flaky",
                name="Lost: e-mail the head, tell the owner",
                pipeline_id="sales",
                stage_id="lost",
                actions=[
                    SendEmail(to=Recipients(users=["u-head"]), subject="Flaky: {{ deal.title }}", body="Lost."),
                    Notify(to=Recipients(responsible=True), message="Lost {{ deal.title }}"),
                ],
            ),
        )
        yield stack


def dealflow(stack: MotoStack, *args: str) -> int:
    assert stack.endpoint is not None
    return main([*args, "--endpoint", stack.endpoint])


def test_failed_runs_listed_and_retried_from_the_command(served: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack = served
    stack.create_deal(demo_deal("c-1", "Command deal", "10.00", "services", responsible="u-gone"))
    stack.move_deal(TENANT, "c-1", "lost")
    stack.drain()
    [failed] = [r for r in stack.runs(TENANT, "c-1") if r.automation_id == "flaky"]

    assert dealflow(stack, "runs", "list", TENANT, "--status", "failed", "--reason", "unknown user") == 0
    listed = capsys.readouterr().out
    assert failed.run_id in listed and "at action-2-notify" in listed and "1 run(s)" in listed

    stack.update_deal(TENANT, "c-1", responsible_id="u-anna")
    stack.drain()
    assert dealflow(stack, "runs", "retry", TENANT, failed.run_id) == 0
    assert f"{failed.run_id} retried by run-" in capsys.readouterr().out

    retried = stack.run_log.get(TENANT, failed.run_id)
    assert retried is not None and retried.retried_by is not None
    again = stack.run_log.get(TENANT, retried.retried_by)
    assert again is not None and again.status == "completed"
    assert sum(m.subject == "Flaky: Command deal" for m in stack.emails()) == 1
    assert [n.message for n in stack.notifications() if n.deal_id == "c-1"] == ["Lost Command deal"]

    assert dealflow(stack, "runs", "retry", TENANT, again.run_id) == 1
    assert "is completed, not failed" in capsys.readouterr().err


def test_a_waiting_run_resumed_early_from_the_command(served: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack = served
    stack.create_deal(demo_deal("c-2", "Waiting deal", "10.00", "services"))
    stack.move_deal(TENANT, "c-2", "proposal")
    stack.drain()
    [waiting] = [r for r in stack.runs(TENANT, "c-2") if r.automation_id == "proposal-follow-up"]
    assert waiting.status == "waiting"

    assert dealflow(stack, "runs", "list", TENANT, "--status", "waiting", "--deal", "c-2") == 0
    assert waiting.run_id in capsys.readouterr().out
    assert dealflow(stack, "runs", "resume", TENANT, waiting.run_id) == 0
    assert "resumed early" in capsys.readouterr().out

    assert sum(m.subject == "Follow up: Waiting deal" for m in stack.emails()) == 1
    stack.advance(days=3)  # the old wait's timer, in this harness, fires: its e-mail is in the ledger
    assert sum(m.subject == "Follow up: Waiting deal" for m in stack.emails()) == 1
