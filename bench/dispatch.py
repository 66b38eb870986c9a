"""Dispatcher matching: the (pipeline, stage) index against a scan of every rule.

``plan_runs`` finds the rules a deal change starts with one dictionary lookup in
``AutomationIndex`` and then evaluates only the conditions of the rules on the entered stage. This
benchmark measures what that buys for one tenant with many rules (``bench/workload.py``; default
1,000 rules over 20 pipelines x 10 stages), against a naive dispatcher that scans *all* enabled
rules for every change, compares ``(rule.pipeline_id, rule.stage_id)`` with the entered stage and
then does exactly what ``plan_runs`` does with the matches (same precompiled predicates, same flat
views, same ``RunRequest`` objects and ``not_started`` entries). The only difference between the
two is how the candidate rules are found, and both must plan the same run ids, in the same order,
for every change (asserted). ``bench/peers.py`` compares the whole per-record path with other
rule engines.

Fairness:
- the deal changes (mostly stage moves, some field-only edits, some creations) are built and
  ``diff()``-ed BEFORE timing; neither timed loop includes parsing the images or ``diff``;
- the index and the naive rule list (with compiled predicates) are both built before timing;
- the two variants are timed alternately, CPU time (``time.process_time``), best of ``--repeat``;
  the plans of the first pass of each are compared (run ids per change) after it, outside the timing.

Run from the repository root:  python bench/dispatch.py [--records N] [--rules N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import alternate
from bench.workload import build
from dealflow.engine.changes import diff
from dealflow.engine.compiled import CompiledAutomation
from dealflow.engine.dispatch import RunPlan, plan_runs
from dealflow.language.conditions import compile_condition, reads_before


class ScanIndex:
    """The index's interface, answered by scanning every enabled automation each time: what the
    dispatcher would cost without the index. Everything else in ``plan_runs`` stays the same."""

    def __init__(self, compiled: Sequence[CompiledAutomation], reads: frozenset[str]) -> None:
        self._all = list(compiled)
        self.reads = reads  # the fields conditions read, as the index knows them
        self.waits_for_leads = bool(self.on_event("linked_deal_won") or self.on_event("linked_deal_lost"))

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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="deal changes in the stream (default 20000)")
    parser.add_argument("--rules", type=int, default=1_000, help="rules of the tenant (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions, best counts (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if min(args.records, args.rules, args.repeat) < 1:
        parser.error("--records, --rules and --repeat must be at least 1")

    workload = build(args.records, args.rules, seed=args.seed)
    changes = [diff(old, new) for old, new in workload.edits]
    work = list(zip(changes, (r["eventID"] for r in workload.records), strict=True))
    automation = workload.automation()
    every_rule = [
        CompiledAutomation(rule, compile_condition(rule.condition), reads_before(rule.condition))
        for rule in workload.rules
        if rule.enabled
    ]
    scanned = replace(automation, index=ScanIndex(every_rule, automation.index.reads))  # type: ignore[arg-type]

    def indexed() -> list[RunPlan]:
        return [plan_runs(change, automation, event_id) for change, event_id in work]

    def naive() -> list[RunPlan]:
        return [plan_runs(change, scanned, event_id) for change, event_id in work]

    timed = alternate({"indexed (plan_runs)": indexed, "naive (scan all rules)": naive}, args.repeat)
    (best_indexed, indexed_plans), (best_naive, naive_plans) = timed.values()
    planned = 0
    for a, b in zip(indexed_plans, naive_plans, strict=True):
        assert [r["run_id"] for r in a.planned] == [r["run_id"] for r in b.planned]
        assert [n.automation.id for n in a.not_started] == [n.automation.id for n in b.not_started]
        assert a.loop_stopped == b.loop_stopped
        planned += len(a.planned)

    stages = len(workload.pipelines) * len(workload.pipelines[0].stages)
    print(
        f"tenant: {len(workload.rules)} rules ({len(every_rule)} enabled) over {len(workload.pipelines)} pipelines"
        f" x {len(workload.pipelines[0].stages)} stages (~{len(every_rule) / stages:.1f} per stage)"
    )
    print(
        f"stream: {len(changes)} changes = "
        + " + ".join(f"{n} {kind}" for kind, n in workload.mix().items())
        + " (diff() done before timing)"
    )
    print(f"runs planned in total: {planned} (identical run ids in both variants, checked per change)")
    print(f"CPU time, best of {args.repeat}:")
    for name, (seconds, _) in timed.items():
        per_record = seconds / len(changes) * 1e6
        print(f"  {name:<24} {len(changes) / seconds:>10,.0f} records/s  {per_record:>8.1f} us/record")
    print(f"speed-up indexed vs naive: {best_naive / best_indexed:.1f}x")


if __name__ == "__main__":
    main()
