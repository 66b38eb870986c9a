"""Which stage rules a stream record fires: Dealflow against its peers, on the same workload.

Five ways to turn the same Lambda DynamoDB-stream records (``bench/workload.py``: 1,000 stage
rules over 20 pipelines x 10 stages by default) into the (record, rule) pairs that fire:

- naive scan: every enabled rule checked against the entered stage, then its condition as a
  Python closure;
- floor: indexed Python closures over plain dicts, the practical floor: a dict lookup by
  (pipeline, stage), then one closure per rule of that stage;
- ZEN: GoRules' ``zen-engine``, each condition a compiled ZEN expression, indexed by stage;
- rule-engine: ``rule-engine``, each condition a compiled rule, indexed by stage;
- Dealflow: the dispatcher's own per-record path, records in, run requests out
  (``dealflow.engine.dispatch.plan_record``, which ``Dispatcher.handle`` calls).

The four peers share what any dispatcher must do first: read where the record's deal is and was
(four string attributes of the images), and only when it entered a stage that has rules, decode
from the new image the fields the tenant's conditions read into a flat dict of plain values
(standard and custom fields side by side, as Dealflow's conditions see a deal). A rule without a
condition fires without a call to any engine.
Dealflow does what it does in production: ``plan_record`` decodes both images in full, diffs
them, and plans every kind of automation the change concerns (a run request per run, as plain
data, with its sha256 run id). The peers stop at the fired pair; that difference is part of what
is measured.

Fairness: every tenant index, compiled condition and record is built before timing; each pass runs
over all records; the five alternate within each of ``--repeat`` rounds; CPU time
(``time.process_time``), best pass counts. The fired sets of the first round must be identical
across all five, or the bench stops before printing any figure.

Run from the repository root:  python bench/peers.py [--records N] [--rules N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial, reduce
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import alternate
from bench.workload import Workload, build
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.dispatch import plan_record
from dealflow.language.conditions import referenced_fields
from dealflow.model import AllOf, AnyOf, Condition, Rule

Facts = dict[str, Any]
Test = Callable[[Facts], Any]
Pair = tuple[str, str]  # (stream record's eventID, rule id)


# ---- what the four peers share -------------------------------------------------------------


def entered_stage(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (pipeline, stage) a record's deal entered: on creation, or on a move."""
    images = record["dynamodb"]
    new = images.get("NewImage")
    if new is None:
        return None
    place = new["pipeline_id"]["S"], new["stage_id"]["S"]
    old = images.get("OldImage")
    if old is not None and (old["pipeline_id"]["S"], old["stage_id"]["S"]) == place:
        return None
    return place


def plain_value(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB-JSON attribute as a plain value (numbers as int, or float when fractional)."""
    if "S" in attribute:
        return attribute["S"]
    if "N" in attribute:
        number = attribute["N"]
        return int(number) if number.isdigit() or (number[0] == "-" and number[1:].isdigit()) else float(number)
    if "M" in attribute:
        return {k: plain_value(v) for k, v in attribute["M"].items()}
    if "L" in attribute:
        return [plain_value(v) for v in attribute["L"]]
    if "BOOL" in attribute:
        return attribute["BOOL"]
    if "NULL" in attribute:
        return None
    raise ValueError(f"attribute {attribute} is not of a type the workload has")


def read_fields(rules: Sequence[Rule]) -> frozenset[str]:
    """Every field the rules' conditions read: all a peer needs to decode of a deal."""
    return frozenset().union(*(referenced_fields(r.condition) for r in rules))


def plain_facts(image: Mapping[str, Any], wanted: Iterable[str]) -> Facts:
    """The fields conditions read, from a deal's image, as plain values; standard and custom
    fields side by side (a custom field's code never names a standard field)."""
    custom = image["fields"]["M"] if "fields" in image else {}
    facts = {}
    for name in wanted:
        attribute = image.get(name) or custom.get(name)
        if attribute is not None:
            facts[name] = plain_value(attribute)
    return facts


class ScanPeer:
    """Every enabled rule looked at for every record that entered a stage."""

    def __init__(self, rules: Sequence[Rule], compile_test: Callable[[Condition], Test]) -> None:
        self._wanted = read_fields(rules)
        self._rules = [
            (r.pipeline_id, r.stage_id, r.id, None if r.condition is None else compile_test(r.condition))
            for r in rules
            if r.enabled
        ]

    def run(self, records: Sequence[Mapping[str, Any]]) -> list[Pair]:
        fired: list[Pair] = []
        for record in records:
            place = entered_stage(record)
            if place is None:
                continue
            pipeline_id, stage_id = place
            facts: Facts | None = None
            for rule_pipeline, rule_stage, rule_id, test in self._rules:
                if rule_pipeline != pipeline_id or rule_stage != stage_id:
                    continue
                if test is not None:
                    if facts is None:
                        facts = plain_facts(record["dynamodb"]["NewImage"], self._wanted)
                    if not test(facts):
                        continue
                fired.append((record["eventID"], rule_id))
        return fired


class IndexedPeer:
    """Enabled rules by (pipeline, stage); only the entered stage's rules are looked at."""

    def __init__(self, rules: Sequence[Rule], compile_test: Callable[[Condition], Test]) -> None:
        self._wanted = read_fields(rules)
        index: dict[tuple[str, str], list[tuple[str, Test | None]]] = {}
        for r in rules:
            if r.enabled:
                test = None if r.condition is None else compile_test(r.condition)
                index.setdefault((r.pipeline_id, r.stage_id), []).append((r.id, test))
        self._index = {place: tuple(found) for place, found in index.items()}

    def run(self, records: Sequence[Mapping[str, Any]]) -> list[Pair]:
        fired: list[Pair] = []
        for record in records:
            place = entered_stage(record)
            if place is None:
                continue
            candidates = self._index.get(place)
            if not candidates:
                continue
            facts = plain_facts(record["dynamodb"]["NewImage"], self._wanted)
            event_id = record["eventID"]
            fired.extend((event_id, rule_id) for rule_id, test in candidates if test is None or test(facts))
        return fired


# ---- conditions in each peer's language ------------------------------------------------------
# Dealflow's semantics (dealflow.language.conditions) for the operators and value kinds the
# workload uses: numbers compared only when present, lists of scalars, case-blind text search.


def _literal(value: Any) -> str:
    return json.dumps(value)


def to_closure(condition: Condition) -> Test:
    """A condition as nested Python closures over a plain dict."""
    if isinstance(condition, AllOf | AnyOf):
        parts = [to_closure(c) for c in (condition.all if isinstance(condition, AllOf) else condition.any)]
        if isinstance(condition, AllOf):
            return reduce(lambda p, q: lambda d: p(d) and q(d), parts)
        return reduce(lambda p, q: lambda d: p(d) or q(d), parts)
    field, op, value = condition.field, condition.op, condition.value
    if op == "equals":
        return lambda d: d.get(field) == value
    if op == "not_equals":
        return lambda d: d.get(field) != value
    if op in ("in", "not_in"):
        options = frozenset(value)
        if op == "in":
            return lambda d: d.get(field) in options
        return lambda d: d.get(field) not in options
    if op == "contains":
        needle = str(value).casefold()
        return lambda d: isinstance(a := d.get(field), str) and needle in a.casefold()
    if op == "gt":
        return lambda d: (a := d.get(field)) is not None and a > value
    if op == "gte":
        return lambda d: (a := d.get(field)) is not None and a >= value
    if op == "lt":
        return lambda d: (a := d.get(field)) is not None and a < value
    if op == "lte":
        return lambda d: (a := d.get(field)) is not None and a <= value
    if op == "is_empty":
        return lambda d: (a := d.get(field)) is None or a == ""
    if op == "is_not_empty":
        return lambda d: (a := d.get(field)) is not None and a != ""
    raise ValueError(f"operator {op} is not in the workload")


_ORDERED = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def to_expression(condition: Condition, contains: Callable[[str, str], str]) -> str:
    """A condition as a ZEN or rule-engine expression (the two share this much syntax);
    ``contains(field, needle)`` spells a case-blind text search in the engine's own words."""
    if isinstance(condition, AllOf | AnyOf):
        parts = condition.all if isinstance(condition, AllOf) else condition.any
        joiner = " and " if isinstance(condition, AllOf) else " or "
        return joiner.join(f"({to_expression(c, contains)})" for c in parts)
    field, op, value = condition.field, condition.op, condition.value
    if op == "equals":
        return f"{field} == {_literal(value)}"
    if op == "not_equals":
        return f"{field} != {_literal(value)}"
    if op == "in":
        return f"{field} in {_literal(value)}"
    if op == "not_in":
        return f"not ({field} in {_literal(value)})"
    if op == "contains":
        return f"{field} != null and {contains(field, str(value).casefold())}"
    if op in _ORDERED:
        return f"{field} != null and {field} {_ORDERED[op]} {_literal(value)}"
    if op == "is_empty":
        return f'({field} == null or {field} == "")'
    if op == "is_not_empty":
        return f'{field} != null and {field} != ""'
    raise ValueError(f"operator {op} is not in the workload")


def to_zen(condition: Condition) -> str:
    return to_expression(condition, lambda field, needle: f"contains(lower({field}), {_literal(needle)})")


def to_rule_engine(condition: Condition) -> str:
    return to_expression(condition, lambda field, needle: f"{_literal(needle)} in {field}.as_lower")


def zen_test(condition: Condition) -> Test:
    import zen

    return zen.compile_expression(to_zen(condition)).evaluate


def rule_engine_test(condition: Condition) -> Test:
    import rule_engine

    # A field the deal lacks reads as null, as a missing field does in Dealflow.
    return rule_engine.Rule(to_rule_engine(condition), context=rule_engine.Context(default_value=None)).matches


# ---- Dealflow ------------------------------------------------------------------------------


class DealflowPeer:
    """``dealflow.engine.dispatch.plan_record``, as the dispatcher calls it for each record."""

    def __init__(self, automation: TenantAutomation) -> None:
        self._automation = automation

    def run(self, records: Sequence[dict[str, Any]]) -> list[Pair]:
        automation = self._automation

        def automation_for(tenant_id: str) -> TenantAutomation:
            return automation

        fired: list[Pair] = []
        for record in records:
            images = record["dynamodb"]
            found = plan_record(images.get("OldImage"), images.get("NewImage"), record["eventID"], automation_for)
            fired.extend((run["event_id"], run["automation"]["id"]) for run in found.plan.planned)
        return fired


# ---- the comparison ----------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    fired: set[Pair]


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def peers(workload: Workload) -> tuple[dict[str, Any], list[str]]:
    """Every peer that can run here, by printed name, and the ones skipped (with why)."""
    rules = workload.rules
    found: dict[str, Any] = {
        "floor: indexed closures over plain dicts": IndexedPeer(rules, to_closure),
    }
    skipped = []
    for distribution, label, compile_test in (
        ("zen-engine", "ZEN (zen-engine {}), indexed", zen_test),
        ("rule-engine", "rule-engine {}, indexed", rule_engine_test),
    ):
        version = _installed(distribution)
        if version is None:
            skipped.append(f"{distribution} is not installed (pip install -r bench/requirements.txt)")
        else:
            found[label.format(version)] = IndexedPeer(rules, compile_test)
    found[f"naive scan of all {sum(r.enabled for r in rules)} rules"] = ScanPeer(rules, to_closure)
    found["Dealflow (plan_record)"] = DealflowPeer(workload.automation())
    return found, skipped


def compare(workload: Workload, repeat: int) -> tuple[list[Result], list[str]]:
    """Time every peer ``repeat`` times over all records; raises when their fired sets differ."""
    runners, skipped = peers(workload)
    records = workload.records
    timed = alternate({name: partial(peer.run, records) for name, peer in runners.items()}, repeat)
    results = [Result(name, seconds, set(fired)) for name, (seconds, fired) in timed.items()]
    reference = results[0]
    for result in results[1:]:
        if result.fired != reference.fired:
            missing, extra = sorted(reference.fired - result.fired), sorted(result.fired - reference.fired)
            raise AssertionError(
                f"{result.name} fires differently from the floor: "
                f"{len(missing)} missing (e.g. {missing[:3]}), {len(extra)} extra (e.g. {extra[:3]})"
            )
    return results, skipped


def main(argv: Sequence[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="stream records (default 10000)")
    parser.add_argument("--rules", type=int, default=1_000, help="stage rules of the tenant (default 1000)")
    parser.add_argument("--pipelines", type=int, default=20)
    parser.add_argument("--stages", type=int, default=10, help="stages per pipeline (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per peer, best counts (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    workload = build(args.records, args.rules, args.pipelines, args.stages, seed=args.seed)
    results, skipped = compare(workload, args.repeat)

    enabled = sum(r.enabled for r in workload.rules)
    stages = args.pipelines * args.stages
    print(
        f"tenant: {len(workload.rules)} stage rules ({enabled} enabled) over {args.pipelines} pipelines"
        f" x {args.stages} stages (~{enabled / stages:.1f} per stage), "
        f"{sum(r.condition is not None for r in workload.rules)} with a condition"
    )
    print(
        f"stream: {len(workload.records)} records (DynamoDB JSON, NEW_AND_OLD_IMAGES) = "
        + " + ".join(f"{n} {kind}" for kind, n in workload.mix().items())
    )
    print(f"fired: {len(results[0].fired)} (record, rule) pairs, the same in all {len(results)} (checked)")
    for reason in skipped:
        print(f"skipped: {reason}")
    floor = results[0].seconds
    print(f"CPU per record, best of {args.repeat} (ratio to the floor):")
    for result in results:
        per_record = result.seconds / len(workload.records) * 1e6
        print(f"  {result.name:<44} {per_record:>8.1f} us  {result.seconds / floor:>6.1f}x")
    return results


if __name__ == "__main__":
    main()
