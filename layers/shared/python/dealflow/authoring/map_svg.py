"""The automation map as SVG, built as text (no drawing library): a row of stage boxes per pipeline,
badges in the boxes, arrows between rows. Every element a person points at carries a ``<title>``
(browsers show it on hover) and ``data-`` attributes that name what it stands for, so a test — or a
script — can find each stage and tunnel in the page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from html import escape

from dealflow.authoring.automation_map import Arrow, AutomationMap, Badge, PipelineRow

LEFT, TOP, MARGIN = 190, 78, 20  # the pipeline names' column, the title and legend above the rows
STAGE_W, GAP_X = 170, 46
HEAD_H, BADGE_H, BADGE_GAP = 38, 20, 4
ROW_GAP = 64  # room for the arrows between two rows
KIND_LETTER = {"rule": "R", "trigger": "T", "tunnel": "⇢", "business_process": "P"}
SEMANTIC_FILL = {"won": "#e8f6ec", "lost": "#fbeaea", "in_progress": "#f4f6fa"}
MODE_STYLE = {
    "copy": 'stroke="#2563eb" stroke-width="2" stroke-dasharray="7 5" marker-end="url(#arrow-copy)"',
    "move": 'stroke="#b45309" stroke-width="3" marker-end="url(#arrow-move)"',
}
MARKED = "#dc2626"

Link = Callable[[str], str]  # an automation id → where its definition is


def _text(value: str) -> str:
    return escape(value, quote=True)


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def _rows_height(row: PipelineRow) -> int:
    badges = max([len(s.badges) for s in row.stages] + [len(row.badges)])
    return HEAD_H + badges * (BADGE_H + BADGE_GAP) + 8


def _badge(badge: Badge, x: int, y: int, width: int, link: Link | None) -> str:
    classes = " ".join(
        ["badge", badge.kind.replace("_", "-")]
        + (["broken"] if badge.warnings else [])
        + (["loop"] if badge.loops else [])
        + ([] if badge.enabled else ["off"])
    )
    stroke = MARKED if badge.marked else "#94a3b8"
    mark = "⚠ " if badge.warnings else "⟳ " if badge.loops else ""
    label = _short(f"{KIND_LETTER.get(badge.kind, '?')} {mark}{badge.name}", width // 6)
    dashed = "" if badge.enabled else ' stroke-dasharray="3 2"'
    fill = "#fff1f1" if badge.marked else "#ffffff"
    shape = (
        f'<rect x="{x}" y="{y}" width="{width}" height="{BADGE_H}" rx="4" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{2 if badge.marked else 1}"{dashed}/>'
        f'<text x="{x + 6}" y="{y + 14}" font-size="11" fill="{"#7f1d1d" if badge.marked else "#1e293b"}">'
        f"{_text(label)}</text>"
    )
    body = f'<a href="{_text(link(badge.automation_id))}">{shape}</a>' if link else shape
    return (
        f'<g class="{classes}" data-automation="{_text(badge.automation_id)}" data-kind="{badge.kind}">'
        f"<title>{_text(badge.details)}</title>{body}</g>"
    )


def _arrow(arrow: Arrow, start: tuple[int, int], end: tuple[int, int], link: Link | None) -> str:
    (x1, y1), (x2, y2) = start, end
    bend = max(40, abs(y2 - y1) // 2)
    down = 1 if y2 >= y1 else -1
    path = f"M {x1} {y1} C {x1} {y1 + down * bend}, {x2} {y2 - down * bend}, {x2} {y2}"
    style = MODE_STYLE[arrow.mode]
    if arrow.badge.marked:
        style = style.replace('stroke="#2563eb"', f'stroke="{MARKED}"').replace(
            'stroke="#b45309"', f'stroke="{MARKED}"'
        )
    label = _short(f"{arrow.mode}: {arrow.badge.name}", 30)
    classes = " ".join(
        ["arrow", arrow.mode, arrow.badge.kind]
        + (["broken"] if arrow.badge.warnings else [])
        + (["loop"] if arrow.badge.loops else [])
    )
    drawn = (
        f'<path d="{path}" fill="none" {style}/>'
        f'<text x="{(x1 + x2) // 2 + 4}" y="{(y1 + y2) // 2}" font-size="10" fill="#334155">{_text(label)}</text>'
    )
    body = f'<a href="{_text(link(arrow.badge.automation_id))}">{drawn}</a>' if link else drawn
    (sp, ss), (tp, ts) = arrow.source, arrow.target
    return (
        f'<g class="{classes}" data-automation="{_text(arrow.badge.automation_id)}" '
        f'data-from="{_text(sp)}/{_text(ss)}" data-to="{_text(tp)}/{_text(ts)}">'
        f"<title>{_text(arrow.details)}</title>{body}</g>"
    )


_DEFS = (
    "<defs>"
    + "".join(
        f'<marker id="arrow-{mode}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" '
        'markerWidth="12" markerHeight="12" '
        f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
        for mode, colour in (("copy", "#2563eb"), ("move", "#b45309"), ("order", "#cbd5e1"))
    )
    + "</defs>"
)


def _legend(y: int) -> str:
    return (
        f'<g class="legend" font-size="11" fill="#334155">'
        f'<path d="M {MARGIN} {y} h 40" {MODE_STYLE["copy"]}/><text x="{MARGIN + 50}" y="{y + 4}">copy (tunnel)</text>'
        f'<path d="M {MARGIN + 150} {y} h 40" {MODE_STYLE["move"]}/>'
        f'<text x="{MARGIN + 200}" y="{y + 4}">move (tunnel)</text>'
        f'<rect x="{MARGIN + 300}" y="{y - 8}" width="14" height="14" fill="#fff1f1" '
        f'stroke="{MARKED}" stroke-width="2"/>'
        f'<text x="{MARGIN + 320}" y="{y + 4}">⚠ broken reference · ⟳ in a loop</text>'
        f'<text x="{MARGIN + 540}" y="{y + 4}">R rule · T trigger · P business process</text></g>'
    )


def map_svg(view: AutomationMap, link: Link | None = None) -> str:
    """``view`` as one self-contained SVG document; ``link`` makes each automation a link."""
    columns = max([len(row.stages) for row in view.pipelines] + [1])
    width = LEFT + columns * (STAGE_W + GAP_X) + MARGIN
    parts: list[str] = []
    boxes: dict[tuple[str, str], tuple[int, int, int]] = {}  # (pipeline, stage) → x, top, bottom
    y = TOP
    for row in view.pipelines:
        height = _rows_height(row)
        about = f"{row.name} ({row.entity}s) — {row.id}"
        parts.append(
            f'<g class="pipeline" data-pipeline="{_text(row.id)}"><title>{_text(about)}</title>'
            f'<text x="{MARGIN}" y="{y + 16}" font-size="14" font-weight="bold" fill="#0f172a">'
            f"{_text(_short(row.name, 22))}</text>"
            f'<text x="{MARGIN}" y="{y + 32}" font-size="11" fill="#64748b">'
            f"{_text(_short(row.id, 20))} · {row.entity}s</text>"
        )
        for i, badge in enumerate(row.badges):
            parts.append(_badge(badge, MARGIN, y + 42 + i * (BADGE_H + BADGE_GAP), LEFT - MARGIN - 12, link))
        parts.append("</g>")
        for column, stage in enumerate(row.stages):
            x = LEFT + column * (STAGE_W + GAP_X)
            boxes[(row.id, stage.id)] = (x, y, y + height)
            parts.append(
                f'<g class="stage {stage.semantic}" id="stage-{_text(row.id)}-{_text(stage.id)}" '
                f'data-pipeline="{_text(row.id)}" data-stage="{_text(stage.id)}">'
                f"<title>{_text(f'{row.name} / {stage.name} ({stage.id}, {stage.semantic})')}</title>"
                f'<rect x="{x}" y="{y}" width="{STAGE_W}" height="{height}" rx="8" '
                f'fill="{SEMANTIC_FILL.get(stage.semantic, "#f4f6fa")}" stroke="#64748b"/>'
                f'<text x="{x + 10}" y="{y + 22}" font-size="13" font-weight="bold" fill="#0f172a">'
                f"{_text(_short(stage.name, 21))}</text>"
            )
            for i, badge in enumerate(stage.badges):
                parts.append(_badge(badge, x + 8, y + HEAD_H + i * (BADGE_H + BADGE_GAP), STAGE_W - 16, link))
            parts.append("</g>")
            if column:  # the order deals move in, left to right
                parts.append(
                    f'<path d="M {x - GAP_X + 6} {y + 19} h {GAP_X - 12}" stroke="#cbd5e1" stroke-width="2" '
                    'marker-end="url(#arrow-order)"/>'
                )
        y += height + ROW_GAP
    if view.elsewhere:
        parts.append(
            f'<g class="elsewhere"><text x="{MARGIN}" y="{y + 14}" font-size="13" font-weight="bold" fill="#0f172a">'
            "Not on any stage of this tenant (every pipeline, or one that is gone)</text>"
        )
        for i, badge in enumerate(view.elsewhere):
            parts.append(_badge(badge, MARGIN + (i % 4) * 250, y + 24 + (i // 4) * 26, 240, link))
        parts.append("</g>")
        y += 24 + ((len(view.elsewhere) + 3) // 4) * 26 + MARGIN
    # Several arrows leaving or entering one stage fan out instead of covering each other.
    leaving, entering = Counter[tuple[str, str]](), Counter[tuple[str, str]]()
    for arrow in view.arrows:
        sx, stop, sbottom = boxes[arrow.source]
        tx, ttop, tbottom = boxes[arrow.target]
        n, m = leaving[arrow.source], entering[arrow.target]
        leaving[arrow.source] += 1
        entering[arrow.target] += 1
        down = ttop > stop
        start = (sx + STAGE_W // 2 + 14 * n, sbottom if down else stop)
        end = (tx + STAGE_W // 2 - 14 * m, ttop if down else tbottom)
        parts.append(_arrow(arrow, start, end, link))
    height = max(y - ROW_GAP + MARGIN, TOP + 40)
    title = f"Automation map of {view.tenant_id}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="automation-map" data-tenant="{_text(view.tenant_id)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">'
        f"<title>{_text(title)}</title>{_DEFS}"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'<text x="{MARGIN}" y="28" font-size="18" font-weight="bold" fill="#0f172a">{_text(title)}</text>'
        f"{_legend(52)}{''.join(parts)}</svg>\n"
    )
