"""The automation map as Mermaid flowchart text, for docs and pull requests: a subgraph per
pipeline with its stages in order, tunnels as dotted (copy) or thick (move) arrows, rules and
triggers listed in their stage's box, broken and looping automation in the ``marked`` class."""

from __future__ import annotations

from dealflow.authoring.automation_map import AutomationMap, Badge

KIND_WORD = {"rule": "rule", "trigger": "trigger", "tunnel": "tunnel", "business_process": "process"}


def _label(value: str) -> str:
    """Text safe inside a quoted Mermaid label (Mermaid's own entity codes)."""
    return (
        value.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", " ")
    )


def _badge_line(badge: Badge) -> str:
    mark = "⚠ " if badge.warnings else "⟳ " if badge.loops else ""
    off = " (off)" if not badge.enabled else ""
    return f"{mark}{KIND_WORD.get(badge.kind, badge.kind)}: {_label(badge.name)}{off}"


def map_mermaid(view: AutomationMap) -> str:
    """``view`` as a Mermaid ``flowchart``; node ids are positional (p0s1), labels carry the names."""
    lines = ["flowchart TB", f"  %% automation map of {view.tenant_id}"]
    node: dict[tuple[str, str], str] = {}
    marked: list[str] = []
    for p, row in enumerate(view.pipelines):
        lines.append(f'  subgraph p{p}["{_label(row.name)} ({row.entity}s)"]')
        lines.append("    direction LR")
        for s, stage in enumerate(row.stages):
            node[(row.id, stage.id)] = f"p{p}s{s}"
            text = "<br/>".join([f"<b>{_label(stage.name)}</b>", *(_badge_line(b) for b in stage.badges)])
            lines.append(f'    p{p}s{s}["{text}"]')
            if any(b.marked for b in stage.badges):
                marked.append(f"p{p}s{s}")
        for i, badge in enumerate(row.badges):
            lines.append(f'    p{p}b{i}(["{_badge_line(badge)}"])')
            if badge.marked:
                marked.append(f"p{p}b{i}")
        lines += [f"    p{p}s{s} --- p{p}s{s + 1}" for s in range(len(row.stages) - 1)]
        lines.append("  end")
    for arrow in view.arrows:
        line = "-.->" if arrow.mode == "copy" else "==>"
        text = _label(f"{arrow.mode}: {arrow.badge.name}")
        mark = "⚠ " if arrow.badge.warnings else "⟳ " if arrow.badge.loops else ""
        lines.append(f'  {node[arrow.source]} {line}|"{mark}{text}"| {node[arrow.target]}')
    for i, badge in enumerate(view.elsewhere):
        lines.append(f'  x{i}(["{_badge_line(badge)} — not on any stage"])')
        if badge.marked:
            marked.append(f"x{i}")
    lines.append("  classDef marked stroke:#dc2626,stroke-width:3px,fill:#fff1f1")
    if marked:
        lines.append(f"  class {','.join(marked)} marked")
    return "\n".join(lines) + "\n"
