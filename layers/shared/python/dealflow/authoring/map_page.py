"""The automation map as one self-contained HTML page: the SVG inline, its style inline, no script
and nothing fetched from anywhere (``GET /console/map`` serves it with a policy that forbids it).
Hovering shows each stage's, badge's and arrow's details; clicking an automation jumps to its
entry below the map — its warnings, its definition as JSON, and the API's link to it."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape

from dealflow.authoring.automation_map import automation_map
from dealflow.authoring.map_svg import map_svg
from dealflow.engine.compiled import TenantAutomation

# What the page may load: nothing but its own inline style (and data: images a browser may use).
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body { font-family: sans-serif; margin: 1.5rem; color: #0f172a; }
.map { overflow-x: auto; border: 1px solid #e2e8f0; border-radius: 8px; }
.automation-map .badge:hover rect, .automation-map .stage:hover > rect { stroke-width: 3; }
.automation-map .arrow:hover path { stroke-width: 5; }
.automation-map a { cursor: pointer; }
section.automation { border-top: 1px solid #e2e8f0; padding: .5rem 0; }
section.automation.marked h3 { color: #b91c1c; }
section.automation:target { background: #fefce8; }
pre { background: #f8fafc; padding: .75rem; overflow-x: auto; font-size: 12px; }
ul.warnings { color: #b91c1c; }
"""


def _text(value: str) -> str:
    return escape(value, quote=True)


def map_page(known: TenantAutomation, api_link: Callable[[str], str]) -> str:
    """The page for ``known``; ``api_link`` gives the API's URL of one automation's JSON."""
    view = automation_map(known)
    marked = {b.automation_id: b for b in view.marked}
    svg = map_svg(view, link=lambda automation_id: f"#automation-{automation_id}")
    entries = []
    for automation in sorted(known.by_id.values(), key=lambda a: a.id):
        badge = marked.get(automation.id)
        problems = [
            *(badge.warnings if badge else ()),
            *(f"in a loop: {loop}" for loop in (badge.loops if badge else ())),
        ]
        definition = json.dumps(automation.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2)
        entries.append(
            f'<section class="automation{" marked" if badge else ""}" id="automation-{_text(automation.id)}" '
            f'data-automation="{_text(automation.id)}">'
            f"<h3>{_text(automation.kind)} <code>{_text(automation.id)}</code>: {_text(automation.name)}"
            f"{'' if automation.enabled else ' (switched off)'}</h3>"
            + (f'<ul class="warnings">{"".join(f"<li>{_text(p)}</li>" for p in problems)}</ul>' if problems else "")
            + f'<p><a class="json" href="{_text(api_link(automation.id))}">its JSON from the API</a></p>'
            f"<details><summary>definition</summary><pre>{_text(definition)}</pre></details></section>"
        )
    summary = (
        f"{len(view.pipelines)} pipelines, {sum(len(r.stages) for r in view.pipelines)} stages, "
        f"{len(known.by_id)} automation, {len(view.arrows)} tunnel arrows; "
        f"{len(marked)} marked (broken or in a loop)"
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f"<title>Automation map — {_text(view.tenant_id)}</title><style>{_STYLE}</style></head>"
        f'<body><h1>Automation map — {_text(view.tenant_id)}</h1><p class="summary">{_text(summary)}</p>'
        f'<div class="map">{svg}</div><h2>Automation</h2>{"".join(entries)}</body></html>\n'
    )
