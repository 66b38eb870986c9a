"""The automation map of the demo tenant: every stage and tunnel drawn, copy and move told apart,
broken and looping automation marked — as SVG, as Mermaid, and as the page GET /console/map serves."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from dealflow.authoring.automation_map import automation_map
from dealflow.authoring.map_mermaid import map_mermaid
from dealflow.authoring.map_svg import map_svg
from dealflow.local import MotoStack
from dealflow.local.server import LocalApi
from dealflow.local.tokens import caller_token

SVG = "{http://www.w3.org/2000/svg}"


def _groups(svg: str, css_class: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if css_class in (g.get("class") or "").split()]


def test_every_stage_of_every_pipeline_is_drawn_in_its_row(stack: MotoStack) -> None:
    known = stack.automation.load("acme")
    svg = map_svg(automation_map(known))
    drawn = {(g.get("data-pipeline"), g.get("data-stage")) for g in _groups(svg, "stage")}
    assert drawn == {(p.id, s.id) for p in known.pipelines.values() for s in p.stages}
    sales = [g.get("data-stage") for g in _groups(svg, "stage") if g.get("data-pipeline") == "sales"]
    assert sales == ["new", "proposal", "negotiation", "won", "lost"]  # in the pipeline's order


def test_tunnels_are_arrows_copy_dashed_and_move_solid(troubled_stack: MotoStack) -> None:
    svg = map_svg(automation_map(troubled_stack.automation.load("acme")))
    arrows = {g.get("data-automation"): g for g in _groups(svg, "arrow")}
    assert set(arrows) == {"won-to-delivery", "lost-to-renewals"}
    copy, move = arrows["won-to-delivery"], arrows["lost-to-renewals"]
    assert (copy.get("data-from"), copy.get("data-to")) == ("sales/won", "delivery/kickoff")
    assert (move.get("data-from"), move.get("data-to")) == ("sales/lost", "renewals/due")
    copy_path, move_path = copy.find(f".//{SVG}path"), move.find(f".//{SVG}path")
    assert copy_path is not None and move_path is not None
    assert copy_path.get("stroke-dasharray") and not move_path.get("stroke-dasharray")
    assert copy_path.get("marker-end") != move_path.get("marker-end")
    assert "Won services deals go to delivery" in (copy.findtext(f"{SVG}title") or "")


def test_rules_and_triggers_are_badges_on_the_stage_they_watch(stack: MotoStack) -> None:
    svg = map_svg(automation_map(stack.automation.load("acme")))
    won = next(g for g in _groups(svg, "stage") if (g.get("data-pipeline"), g.get("data-stage")) == ("sales", "won"))
    badges = {b.get("data-automation"): b.get("data-kind") for b in won.iter(f"{SVG}g") if b is not won}
    assert badges == {"invoice-paid": "trigger", "won-notify-head": "rule", "won-services-workgroup": "rule"}


def test_broken_and_looping_automation_is_marked_with_why(troubled_stack: MotoStack) -> None:
    svg = map_svg(automation_map(troubled_stack.automation.load("acme")))
    badges = {g.get("data-automation"): g for g in _groups(svg, "badge")}
    broken = badges["negotiation-mail"]
    assert "broken" in (broken.get("class") or "")
    assert "user 'u-gone' no longer exists" in (broken.findtext(f"{SVG}title") or "")
    for member in ("bounce-renewed", "bounce-churned"):
        assert "loop" in (badges[member].get("class") or "").split()
    marked = [k for k, g in badges.items() if re.search(r"\b(broken|loop)\b", g.get("class") or "")]
    assert sorted(marked) == ["bounce-churned", "bounce-renewed", "negotiation-mail"]


def test_the_same_automation_gives_the_same_picture(troubled_stack: MotoStack) -> None:
    known = troubled_stack.automation.load("acme")
    assert map_svg(automation_map(known)) == map_svg(automation_map(known))


def test_mermaid_has_a_subgraph_per_pipeline_and_tells_copy_from_move(troubled_stack: MotoStack) -> None:
    text = map_mermaid(automation_map(troubled_stack.automation.load("acme")))
    assert text.startswith("flowchart")
    assert len(re.findall(r"^\s*subgraph ", text, re.M)) == 4
    assert re.search(r'-\.->\|"copy: Won services deals go to delivery"\|', text)
    assert re.search(r'==>\|"move: Lost deals move to renewals"\|', text)
    marked = re.search(r"^\s*class (\S+) marked$", text, re.M)
    assert marked is not None and len(marked.group(1).split(",")) == 3  # negotiation, renewed, churned


def _get(api: LocalApi, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(api.url + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.mark.parametrize(
    ("query", "content_type", "starts"),
    [
        ("", "text/html", "<!DOCTYPE html>"),
        ("?format=svg", "image/svg+xml", "<svg"),
        ("?format=mermaid", "text/plain", "flowchart"),
    ],
)
def test_console_map_serves_the_tenants_map_to_any_role(
    troubled_stack: MotoStack, query: str, content_type: str, starts: str
) -> None:
    with LocalApi(troubled_stack, port=0, run_automation=False) as api:
        status, headers, body = _get(api, f"/console/map{query}", caller_token("acme", "u-anna", "sales_rep"))
    assert status == 200, body
    assert headers["Content-Type"].startswith(content_type)
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert body.startswith(starts)
    assert "Lost deals move to renewals" in body


def test_console_map_page_is_self_contained_and_links_each_automation(troubled_stack: MotoStack) -> None:
    with LocalApi(troubled_stack, port=0, run_automation=False) as api:
        _, _, page = _get(api, "/console/map", caller_token("acme", "u-admin", "admin"))
    assert not re.search(r"<script|<link|src=\"http|href=\"https?:", page)
    for automation_id in troubled_stack.automation.load("acme").by_id:
        assert f'id="automation-{automation_id}"' in page  # the entry the map's badge jumps to
        assert f'href="../automation/{automation_id}"' in page  # its JSON from the API


def test_console_map_needs_a_token_and_shows_only_the_callers_tenant(troubled_stack: MotoStack) -> None:
    from dealflow.local.demo import set_up_process_tenant

    set_up_process_tenant(troubled_stack)
    with LocalApi(troubled_stack, port=0, run_automation=False) as api:
        assert _get(api, "/console/map", None)[0] == 401
        status, _, page = _get(api, "/console/map?format=mermaid", caller_token("globex", "u-admin", "admin"))
    assert status == 200
    assert "Deal outcome" in page and "Lost deals move to renewals" not in page
