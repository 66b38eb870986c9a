"""`python -m dealflow.local demo` tells the truth: every run of it tells the same story, each
workgroup and task under the run (and deal) that made it, each tenant's e-mails to its own people,
and over a moto server the same story with no access log in it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from dealflow.local.demo import demo_stack, main, run_demo
from dealflow.local.stack import MotoStack

RUN = re.compile(r"^  (rule|tunnel|trigger|business process) '(?P<name>[^']+)' on (?P<deal>[\w-]+)")
EFFECT = re.compile(r"^    (?P<what>workgroup|task for u-[a-z]+|e-mail to|notification to) ?'?(?P<detail>[^']*)")


def _effects_by_deal(story: str) -> set[tuple[str, str, str]]:
    """(deal, kind of effect, what it says) for each workgroup, task, e-mail and notification, read
    off the run line it is printed under."""
    found, deal = set(), None
    for line in story.splitlines():
        run, effect = RUN.match(line), EFFECT.match(line)
        if run:
            deal = run["deal"]
        elif effect and deal is not None:
            found.add((deal, effect["what"].split()[0], effect["detail"].strip(": ")))
        elif not line.startswith("    "):
            deal = None
    return found


def _emails_go_to_their_own_tenant(stack: MotoStack) -> None:
    """Every e-mail a run of a tenant sent goes to that tenant's people; and what moto's SES got is
    exactly what the runs say they sent."""
    narrated = []
    for tenant in ("acme", "globex"):
        people = {user.email for user in stack.automation.get_tenant(tenant).users}
        for run in stack.runs(tenant):
            for step in run.steps:
                if step.kind == "action" and "subject" in step.detail:
                    assert set(step.detail["to"]) <= people, (tenant, run.automation_id, step.detail["to"])
                    assert all(address.endswith(f"@{tenant}.example") for address in step.detail["to"])
                    # one message per recipient, each to that recipient alone
                    narrated.extend(((to,), step.detail["subject"]) for to in step.detail["to"])
    sent = [(tuple(email.to), email.subject) for email in stack.emails()]
    assert sorted(sent) == sorted(narrated) and len(sent) == 5


def test_ten_runs_tell_the_same_true_story(capsys: pytest.CaptureFixture[str]) -> None:
    stories = []
    for _ in range(10):
        with demo_stack() as stack:
            run_demo(stack)
            _emails_go_to_their_own_tenant(stack)
        stories.append(capsys.readouterr().out)

    assert all(story == stories[0] for story in stories), "the demo told a different story on a later run"
    story = stories[0]
    assert "failed" not in story and "(no automation ran)" in story
    effects = _effects_by_deal(story)
    assert {(deal, detail) for deal, what, detail in effects if what == "workgroup"} == {
        ("deal-1001", "Website redesign"),
        ("deal-1005", "Tailspin website"),
        ("g-1", "Globex deal g-1"),
    }
    assert {(deal, detail) for deal, what, detail in effects if what == "task"} == {
        ("deal-1004", "Call Nora North about Cloud audit (due 2026-11-26)")
    }
    assert {deal for deal, what, _ in effects if what == "e-mail"} == {"deal-1003", "deal-1004", "g-2"}
    assert "waiting until 2026-11-25T09:00" in story  # the two-day follow-up, from the demo's fixed Monday


def test_over_a_moto_server_the_story_is_the_same_and_moto_logs_nothing(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with demo_stack() as stack:
        run_demo(stack)
    in_process = capfd.readouterr().out
    heard: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = heard.append  # type: ignore[method-assign]
    logging.getLogger("werkzeug").addHandler(listener)
    try:
        main(server=True, map_dir=tmp_path)
    finally:
        logging.getLogger("werkzeug").removeHandler(listener)

    out, err = capfd.readouterr()
    maps = f"The automation map of each tenant (open it in a browser):\n  {tmp_path / 'map-acme.html'}\n"
    assert out == in_process + maps + f"  {tmp_path / 'map-globex.html'}\n"
    assert "HTTP/1.1" not in out + err and not heard


def test_the_demo_leaves_each_tenants_automation_map_where_it_says(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    main(map_dir=tmp_path)
    printed = capsys.readouterr().out.split("The automation map of each tenant (open it in a browser):\n")[1]
    acme, globex = (Path(line.strip()) for line in printed.splitlines())
    page = acme.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'data-from="sales/won" data-to="delivery/kickoff"' in page
    assert all(f'data-stage="{stage}"' in page for stage in ("new", "proposal", "negotiation", "won", "lost"))
    assert 'data-automation="deal-outcome"' in globex.read_text()
