"""GET /console/map in a real headless Chromium: the page the API serves renders, every stage and
tunnel of the demo tenant is in the DOM the browser built, and a broken automation is marked — in
the DOM and in the pixels the browser drew. Skips, saying why, where no Chromium is installed."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from dealflow.local import MotoStack
from dealflow.local.server import LocalApi
from dealflow.local.tokens import caller_token
from tests.browser import Elements, chromium, count_near, dump_dom, pixels, screenshot

COPY_BLUE, MOVE_BROWN, MARKED_RED = "#2563eb", "#b45309", "#dc2626"


@pytest.fixture
def page(troubled_stack: MotoStack, tmp_path: Path) -> Path:
    """The page as the API serves it to acme's sales rep, saved where the browser can open it (a
    browser's address bar cannot send the bearer token API Gateway wants)."""
    chromium()
    with LocalApi(troubled_stack, port=0, run_automation=False) as api:
        request = urllib.request.Request(api.url + "/console/map")
        request.add_header("Authorization", f"Bearer {caller_token('acme', 'u-anna', 'sales_rep')}")
        with urllib.request.urlopen(request, timeout=60) as response:
            html = response.read()
    saved = tmp_path / "map.html"
    saved.write_bytes(html)
    return saved


def test_every_stage_and_tunnel_of_the_demo_tenant_is_in_the_rendered_page(
    page: Path, troubled_stack: MotoStack
) -> None:
    dom = Elements(dump_dom(page))
    known = troubled_stack.automation.load("acme")
    stages = {(a["data-pipeline"], a["data-stage"]) for a in dom.with_class("stage")}
    assert stages == {(p.id, s.id) for p in known.pipelines.values() for s in p.stages}
    arrows = {a["data-automation"]: (a["data-from"], a["data-to"]) for a in dom.with_class("arrow")}
    assert arrows == {
        "won-to-delivery": ("sales/won", "delivery/kickoff"),
        "lost-to-renewals": ("sales/lost", "renewals/due"),
    }
    assert {a["data-automation"] for a in dom.with_class("copy")} == {"won-to-delivery"}
    assert {a["data-automation"] for a in dom.with_class("move")} == {"lost-to-renewals"}


def test_a_broken_automation_is_marked_and_links_to_its_definition(page: Path) -> None:
    dom = Elements(dump_dom(page))
    assert {a["data-automation"] for a in dom.with_class("broken")} == {"negotiation-mail"}
    assert {a["data-automation"] for a in dom.with_class("loop")} == {"bounce-renewed", "bounce-churned"}
    links = [a["href"] for tag, a in dom.found if tag == "a"]
    assert "#automation-negotiation-mail" in links and "../automation/negotiation-mail" in links
    entries = [a for a in dom.with_class("automation") if a.get("id") == "automation-negotiation-mail"]
    assert entries and "marked" in entries[0]["class"].split()


def test_the_browser_draws_the_arrows_and_the_red_outline(page: Path, tmp_path: Path) -> None:
    drawn = pixels(screenshot(page, tmp_path / "map.png", width=1300, height=900))
    assert count_near(drawn, COPY_BLUE) > 50  # the dashed copy tunnel (and the legend's sample)
    assert count_near(drawn, MOVE_BROWN) > 50  # the solid move tunnel
    assert count_near(drawn, MARKED_RED) > 100  # outlines of the broken rule and the loop's badges
