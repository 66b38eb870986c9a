"""The design-time loop check: can the tenant's enabled rules, tunnels and triggers start each
other in a circle?

Each automation writes something (it moves or copies deals into a stage, it sets fields) and
waits for something (a deal entering its stage; a trigger's ``field_changed`` field). An edge
A → B means A's write can start B. A cycle is reported when automation is switched on, before it
can run; it is not refused — a condition may well break the circle — and the dispatcher's runtime
depth guard still stops a loop that really happens. A member whose enrollment rule limits how often
a deal may start it (``bounded_by``) breaks the circle for each deal; the loop is still reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field

from dealflow.engine.writes import writes_of
from dealflow.model import BusinessProcess, Rule, Trigger
from dealflow.model.base import Model
from dealflow.model.catalog import Automation
from dealflow.model.failures import unset

# ("stage", pipeline, stage) — a deal enters that stage; ("field", pipeline, code) — a deal of
# that pipeline has that field changed.
Signal = tuple[str, str, str]


class Loop(Model):
    """Automation that can start each other in a circle, in the order they would run."""

    members: list[str]
    reason: str
    bounded_by: str | None = Field(
        default=None,
        exclude_if=unset,
        description="A member's enrollment rule that stops the circle for each deal (re-enrollment off or "
        "after a cool-down, a frequency cap): the loop still warns, but cannot run for ever",
    )


def _limit(automation: Automation) -> str | None:
    """What an automation's enrollment rule allows a deal, when it limits anything."""
    policy = automation.enrollment
    if policy is None or not policy.limits:
        return None
    if policy.reenroll == "off":
        said = "runs once per deal (re-enrollment off)"
    elif policy.reenroll == "after" and policy.cooldown is not None:
        said = f"runs again for a deal only after {policy.cooldown.describe()}"
    else:
        said = ""
    cap = policy.frequency_cap
    if cap is not None:
        capped = f"at most {cap.runs} run(s) per deal per {cap.per.describe()}"
        said = f"{said}; {capped}" if said else f"runs {capped}"
    return f"{automation.id} {said}"


def _bounded(loop: Loop | None, automations: Iterable[Automation]) -> Loop | None:
    if loop is None:
        return None
    limits = [said for a in automations if a.id in loop.members and (said := _limit(a)) is not None]
    return loop.model_copy(update={"bounded_by": "; ".join(limits)}) if limits else loop


@dataclass(frozen=True, slots=True)
class _Edge:
    to: str
    label: str


def _writes(automation: Automation) -> list[Signal]:
    # A rule moving a deal to the stage it is in already starts nothing there.
    own = ("stage", automation.pipeline_id, automation.stage_id) if isinstance(automation, Rule) else None
    signals: list[Signal] = []
    for write in writes_of(automation):
        signal = (write.kind, write.pipeline_id or "", write.name)
        if signal != own or write.pipeline_at is not None:
            signals.append(signal)
    return signals


def _watches(automation: Automation) -> Signal | None:
    if isinstance(automation, Trigger):
        return ("field", automation.pipeline_id, automation.field) if automation.field else None
    if isinstance(automation, BusinessProcess):
        return None  # processes start on add/change of any item; they do not restart from their own writes
    return ("stage", automation.pipeline_id, automation.stage_id)


def _describe(signal: Signal) -> str:
    kind, pipeline_id, name = signal
    return f"moves deals into {pipeline_id}/{name}" if kind == "stage" else f"sets field '{name}' in {pipeline_id}"


def _graph(automations: Iterable[Automation]) -> dict[str, list[_Edge]]:
    enabled = [a for a in automations if a.enabled and not isinstance(a, BusinessProcess)]
    watchers: dict[Signal, list[str]] = {}
    for automation in enabled:
        watched = _watches(automation)
        if watched is not None:
            watchers.setdefault(watched, []).append(automation.id)
    graph: dict[str, list[_Edge]] = {a.id: [] for a in enabled}
    for automation in sorted(enabled, key=lambda a: a.id):
        for signal in _writes(automation):
            for target in sorted(watchers.get(signal, [])):
                if target != automation.id:
                    graph[automation.id].append(
                        _Edge(target, f"{automation.id} {_describe(signal)}, which starts {target}")
                    )
    return graph


def _cycle_through(graph: dict[str, list[_Edge]], start: str) -> Loop | None:
    """The shortest cycle through ``start`` (breadth first), or None."""
    came_from: dict[str, tuple[str, _Edge]] = {}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for edge in graph.get(here, []):
            if edge.to == start:
                path = [edge]
                node = here
                while node != start:
                    node, back = came_from[node]
                    path.append(back)
                path.reverse()
                members = [start, *(e.to for e in path[:-1])]
                return Loop(members=members, reason="; ".join(e.label for e in path))
            if edge.to not in came_from:
                came_from[edge.to] = (here, edge)
                queue.append(edge.to)
    return None


def loop_through(automations: Iterable[Automation], automation_id: str) -> Loop | None:
    """The loop the (enabled) automation ``automation_id`` is part of, if any."""
    automations = list(automations)
    return _bounded(_cycle_through(_graph(automations), automation_id), automations)


def find_loops(automations: Iterable[Automation]) -> list[Loop]:
    """One loop per group of automation that can start each other, each starting at its smallest id."""
    automations = list(automations)
    graph = _graph(automations)
    seen: set[str] = set()
    loops: list[Loop] = []
    for automation_id in sorted(graph):
        if automation_id in seen:
            continue
        loop = _bounded(_cycle_through(graph, automation_id), automations)
        if loop is not None:
            loops.append(loop)
            seen.update(_reachable_both_ways(graph, automation_id))
    return loops


def _reachable_both_ways(graph: dict[str, list[_Edge]], start: str) -> set[str]:
    """The strongly connected group of ``start``: what it reaches and what reaches it."""

    def reach(edges: dict[str, list[str]]) -> set[str]:
        found, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), []):
                if nxt not in found:
                    found.add(nxt)
                    todo.append(nxt)
        return found

    forward = {a: [e.to for e in edges] for a, edges in graph.items()}
    backward: dict[str, list[str]] = {}
    for a, targets in forward.items():
        for b in targets:
            backward.setdefault(b, []).append(a)
    return reach(forward) & reach(backward)
