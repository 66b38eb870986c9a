"""Dispatcher matching: the (pipeline, stage) index against a scan of every rule.

``plan_runs`` finds the rules a deal change starts with one dictionary lookup in
``AutomationIndex`` and then evaluates only the conditions of the rules on the entered stage. This
benchmark measures what that buys for one tenant with many rules (default: 1,000 rules over 20
pipelines x 10 stages), against a naive dispatcher that scans *all* enabled rules for every change,
compares ``(rule.pipeline_id, rule.stage_id)`` with the entered stage and then does exactly what
``plan_runs`` does with the matches (same precompiled predicates, same flat views, same
``RunRequest`` objects and ``not_started`` entries). The only difference between the two is how
the candidate rules are found, and both must plan the same run ids, in the same order, for every
change (asserted).

Fairness:
- the deal changes (mostly stage moves, some field-only edits, some creations) are built and
  ``diff()``-ed BEFORE timing; neither timed loop includes ``diff``;
- the index and the naive rule list (with compiled predicates) are both built before timing;
- the two variants are timed alternately, CPU time (``time.process_time``), best of ``--repeat``;
  the plans of the first pass of each are compared (run ids per change) after it, outside the timing.

Run from the repository root:  python bench/dispatch.py [--records N] [--rules N]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "shared" / "python"))

from dealflow.engine.changes import DealChange, diff
from dealflow.engine.compiled import AutomationIndex, CompiledAutomation, TenantAutomation
from dealflow.engine.dispatch import RunPlan, plan_runs
from dealflow.language.conditions import compile_condition, reads_before
from dealflow.model import (
    AllOf,
    Clause,
    Condition,
    Contact,
    Deal,
    FieldDefinition,
    Pipeline,
    Recipients,
    Rule,
    SendEmail,
    Stage,
    Tenant,
    User,
)

TENANT = "bench"
PIPELINES = 20
STAGES = 10
SELLS = ("services", "products", "licenses", "other")
USERS = ("u-anna", "u-piotr", "u-head")


def build_pipelines() -> list[Pipeline]:
    return [
        Pipeline(
            id=f"p{p:02d}",
            name=f"Pipeline {p}",
            stages=[Stage(id=f"s{s:02d}", name=f"Stage {s}") for s in range(STAGES)],
        )
        for p in range(PIPELINES)
    ]


def random_condition(rng: random.Random) -> Condition | None:
    """About half unconditional; the rest amount thresholds, what_we_sell tests and all-of groups."""
    roll = rng.random()
    if roll < 0.50:
        return None
    if roll < 0.70:
        return Clause(field="amount", op="gt", value=rng.choice((1_000, 5_000, 20_000, 50_000)))
    if roll < 0.85:
        return Clause(field="what_we_sell", op="equals", value="services")
    return AllOf(
        all=[
            Clause(field="amount", op="gte", value=rng.choice((2_000, 10_000))),
            Clause(field="what_we_sell", op="in", value=["services", "licenses"]),
        ]
    )


def build_rules(count: int, pipelines: Sequence[Pipeline], rng: random.Random) -> list[Rule]:
    """``count`` rules spread round-robin over every (pipeline, stage) pair, ~2% disabled."""
    pairs = [(p.id, s.id) for p in pipelines for s in p.stages]
    rules = []
    for i in range(count):
        pipeline_id, stage_id = pairs[i % len(pairs)]
        rules.append(
            Rule(
                id=f"r{i:05d}",
                name=f"Rule {i}",
                pipeline_id=pipeline_id,
                stage_id=stage_id,
                enabled=rng.random() >= 0.02,
                condition=random_condition(rng),
                actions=[
                    SendEmail(
                        to=Recipients(responsible=True),
                        subject="{{ deal.title }} moved",
                        body="{{ deal.title }} ({{ deal.amount }}) entered a stage.",
                    )
                ],
            )
        )
    return rules


def random_deal(deal_id: str, pipelines: Sequence[Pipeline], rng: random.Random) -> Deal:
    pipeline = rng.choice(pipelines)
    return Deal(
        tenant_id=TENANT,
        id=deal_id,
        pipeline_id=pipeline.id,
        stage_id=rng.choice(pipeline.stages).id,
        title=f"Deal {deal_id}",
        amount=Decimal(rng.randrange(100, 100_000)),
        currency="EUR",
        responsible_id=rng.choice(USERS),
        company="Northwind",
        contact=Contact(name="Nora North", email="nora@northwind.example"),
        fields={"what_we_sell": rng.choice(SELLS)},
    )


def build_changes(count: int, pipelines: Sequence[Pipeline], rng: random.Random) -> list[DealChange]:
    """~80% stage moves (1 in 10 of them to another pipeline), ~12% field-only edits, ~8% creations."""
    deals = [random_deal(f"d{i:05d}", pipelines, rng) for i in range(500)]
    by_id = {p.id: p for p in pipelines}
    changes = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.08:
            new = random_deal(f"d{len(deals):05d}", pipelines, rng)
            deals.append(new)
            changes.append(diff(None, new))
            continue
        k = rng.randrange(len(deals))
        old = deals[k]
        update: dict[str, Any] = {"version": old.version + 1, "updated_at": f"2025-01-01T00:00:{n % 60:02d}Z"}
        if roll < 0.88:
            pipeline = rng.choice(pipelines) if rng.random() < 0.1 else by_id[old.pipeline_id]
            stage_id = rng.choice(
                [s.id for s in pipeline.stages if (pipeline.id, s.id) != (old.pipeline_id, old.stage_id)]
            )
            update.update(pipeline_id=pipeline.id, stage_id=stage_id)
        else:
            update.update(amount=Decimal(rng.randrange(100, 100_000)), fields={"what_we_sell": rng.choice(SELLS)})
        new = old.model_copy(update=update)
        deals[k] = new
        changes.append(diff(old, new))
    return changes


class ScanIndex:
    """The index's interface, answered by scanning every enabled automation each time: what the
    dispatcher would cost without the index. Everything else in ``plan_runs`` stays the same."""

    def __init__(self, compiled: Sequence[CompiledAutomation]) -> None:
        self._all = list(compiled)

    def on_stage(self, pipeline_id: str, stage_id: str) -> tuple[CompiledAutomation, ...]:
        return tuple(
            c
            for c in self._all
            if c.automation.kind in ("rule", "tunnel")
            and (c.automation.pipeline_id, c.automation.stage_id) == (pipeline_id, stage_id)
        )

    def on_event(self, event: str) -> tuple[CompiledAutomation, ...]:
        return tuple(c for c in self._all if c.automation.kind == "trigger" and c.automation.event == event)

    def processes(self, entity: str, start: str) -> tuple[CompiledAutomation, ...]:
        return tuple(
            c
            for c in self._all
            if c.automation.kind == "business_process"
            and c.automation.entity == entity
            and start in c.automation.start_on
        )


def time_cpu(body: Callable[[], list[RunPlan]]) -> tuple[float, list[RunPlan]]:
    """CPU seconds one pass over the stream takes, and the plans it made."""
    gc.collect()
    start = time.process_time()
    plans = body()
    return time.process_time() - start, plans


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="deal changes in the stream (default 20000)")
    parser.add_argument("--rules", type=int, default=1_000, help="rules of the tenant (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions, best counts (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if min(args.records, args.rules, args.repeat) < 1:
        parser.error("--records, --rules and --repeat must be at least 1")

    rng = random.Random(args.seed)
    pipelines = build_pipelines()
    rules = build_rules(args.rules, pipelines, rng)
    changes = build_changes(args.records, pipelines, rng)
    events = [f"evt-{n:07d}" for n in range(len(changes))]
    work = list(zip(changes, events, strict=True))

    automation = TenantAutomation(
        tenant=Tenant(
            id=TENANT, name="Bench Co", users=[User(id=u, name=u, email=f"{u}@bench.example") for u in USERS]
        ),
        pipelines={p.id: p for p in pipelines},
        fields={
            "what_we_sell": FieldDefinition(code="what_we_sell", name="What we sell", kind="list", options=list(SELLS))
        },
        index=AutomationIndex(rules),
        version=1,
    )
    every_rule = [
        CompiledAutomation(rule, compile_condition(rule.condition), reads_before(rule.condition))
        for rule in rules
        if rule.enabled
    ]

    def indexed() -> list[RunPlan]:
        return [plan_runs(change, automation, event_id) for change, event_id in work]

    scanned = replace(automation, index=ScanIndex(every_rule))  # type: ignore[arg-type]

    def naive() -> list[RunPlan]:
        return [plan_runs(change, scanned, event_id) for change, event_id in work]

    # The two variants alternate; the first pass of each also checks they planned the same runs.
    best_indexed, indexed_plans = time_cpu(indexed)
    best_naive, naive_plans = time_cpu(naive)
    planned = 0
    for a, b in zip(indexed_plans, naive_plans, strict=True):
        assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
        assert [n["automation_id"] for n in a.not_started] == [n["automation_id"] for n in b.not_started]
        assert a.loop_stopped == b.loop_stopped
        planned += len(a.runs)
    del indexed_plans, naive_plans
    for _ in range(args.repeat - 1):
        best_indexed = min(best_indexed, time_cpu(indexed)[0])
        best_naive = min(best_naive, time_cpu(naive)[0])

    moves = sum(1 for c in changes if c.old is not None and c.stage_entry is not None)
    created = sum(1 for c in changes if c.old is None)
    stages = len(pipelines) * STAGES
    print(
        f"tenant: {len(rules)} rules ({len(every_rule)} enabled) over {len(pipelines)} pipelines x {STAGES} stages"
        f" (~{len(every_rule) / stages:.1f} per stage)"
    )
    print(
        f"stream: {len(changes)} changes = {moves} stage moves + {created} creations"
        f" + {len(changes) - moves - created} field-only edits (diff() done before timing)"
    )
    print(f"runs planned in total: {planned} (identical run ids in both variants, checked per change)")
    print(f"CPU time, best of {args.repeat}:")
    for name, seconds in (("indexed (plan_runs)", best_indexed), ("naive (scan all rules)", best_naive)):
        per_record = seconds / len(changes) * 1e6
        print(f"  {name:<24} {len(changes) / seconds:>10,.0f} records/s  {per_record:>8.1f} us/record")
    print(f"speed-up indexed vs naive: {best_naive / best_indexed:.1f}x")


if __name__ == "__main__":
    main()
