"""The benches keep measuring what they claim: the workload is the stream Lambda delivers, every peer
fires what Dealflow fires, and each bench runs end to end at a tiny size. No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

from bench import cold_start, dispatch, dispatcher_rss, handler, partitions, peers
from bench.workload import NEVER, build
from dealflow.language.conditions import compile_condition
from dealflow.model import AllOf, Clause, Condition, parse_item

ENGINES = [
    pytest.param(peers.to_closure, id="closures"),
    pytest.param(
        peers.zen_test,
        id="zen",
        marks=pytest.mark.skipif(importlib.util.find_spec("zen") is None, reason="bench-only: zen-engine"),
    ),
    pytest.param(
        peers.rule_engine_test,
        id="rule-engine",
        marks=pytest.mark.skipif(importlib.util.find_spec("rule_engine") is None, reason="bench-only: rule-engine"),
    ),
]
# Deals as the peers see them: present, fractional, missing and cleared values, odd letter case.
FACTS = [
    {"amount": 6000, "what_we_sell": "services", "title": "Contoso: RENEWAL 2025", "source": "referral"},
    {"amount": 12500.5, "what_we_sell": "licenses", "industry": "public", "probability": 75, "title": "pilot"},
    {"amount": 999, "what_we_sell": "other", "industry": "energy", "probability": 45, "source": ""},
    {"amount": 50000, "industry": "retail", "title": "upsell", "source": "web form", "probability": 50},
    {},
]


def test_the_workload_is_seeded_and_mixes_moves_edits_and_creations() -> None:
    first, again, other = build(300, 40, seed=3), build(300, 40, seed=3), build(300, 40, seed=4)

    assert first.records == again.records
    assert first.records != other.records
    mix = first.mix()
    assert mix["stage moves"] > mix["field-only edits"] > 0 and mix["creations"] > 0
    assert sum(mix.values()) == 300
    assert first.automation().warnings == {}  # every rule's fields and stages exist: none is skipped


def test_the_records_are_lambda_stream_records_of_the_deals_as_stored() -> None:
    workload = build(120, 20)

    for batch in workload.batches(50):
        DynamoDBStreamModel.model_validate(batch)  # powertools' model of the stream event
    assert [len(b["Records"]) for b in workload.batches(50)] == [50, 50, 20]
    for record, (old, new) in zip(workload.records, workload.edits, strict=True):
        images = DynamoDBRecord(record).dynamodb
        assert images is not None
        assert parse_item(images.new_image) == new
        assert (parse_item(images.old_image) if images.old_image else None) == old
        assert record["eventName"] == ("INSERT" if old is None else "MODIFY")
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_never_conditions_start_nothing_while_mixed_ones_start_runs() -> None:
    quiet, busy = build(200, 60, conditions="never"), build(200, 60, conditions="mixed")

    assert all(r.condition is not None for r in quiet.rules)
    assert peers.DealflowPeer(quiet.automation()).run(quiet.records) == []
    assert peers.DealflowPeer(busy.automation()).run(busy.records)


def _conditions() -> list[Condition]:
    """Every distinct condition the workload generates, and the operators it could."""
    found = {
        json.dumps(r.condition.model_dump(), sort_keys=True): r.condition for r in build(10, 400).rules if r.condition
    }
    found[""] = NEVER
    for op, value in (("not_equals", "services"), ("lte", 999), ("is_empty", None), ("gte", 12500.5)):
        field = "source" if op == "is_empty" else "amount" if op in ("lte", "gte") else "what_we_sell"
        found[op] = Clause.model_validate({"field": field, "op": op, "value": value})
    found["all"] = AllOf(all=[Clause(field="title", op="contains", value="Renewal"), NEVER])
    return list(found.values())


@pytest.mark.parametrize("compile_test", ENGINES)
def test_each_peer_reads_a_condition_as_dealflow_does(compile_test: Callable[[Condition], peers.Test]) -> None:
    for condition in _conditions():
        dealflow, peer = compile_condition(condition), compile_test(condition)
        for facts in FACTS:
            assert bool(peer(facts)) is dealflow(facts, None, None), (condition, facts)


def test_peers_fire_the_same_pairs_and_print_each_ratio_to_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    results = peers.main(["--records", "300", "--rules", "60", "--repeat", "1"])

    printed = capsys.readouterr().out
    expected = 3 + (importlib.util.find_spec("zen") is not None) + (importlib.util.find_spec("rule_engine") is not None)
    assert len(results) == expected
    assert results[0].name.startswith("floor") and results[0].fired
    assert all(r.fired == results[0].fired for r in results)
    assert f"the same in all {expected} (checked)" in printed
    for result in results:
        assert result.name in printed
    assert "Dealflow (plan_record)" in printed


def test_a_peer_that_fires_differently_stops_the_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    # The floor and the scan both use closures: negate them, and every other peer disagrees.
    real = peers.to_closure

    def negated(condition: Condition) -> peers.Test:
        test = real(condition)
        return lambda facts: not test(facts)

    monkeypatch.setattr(peers, "to_closure", negated)

    with pytest.raises(AssertionError, match="fires differently from the floor"):
        peers.compare(build(200, 40), repeat=1)


def test_dispatch_bench_compares_the_index_with_a_scan(capsys: pytest.CaptureFixture[str]) -> None:
    dispatch.main(["--records", "200", "--rules", "40", "--repeat", "1"])

    printed = capsys.readouterr().out
    assert "identical run ids in both variants" in printed
    assert "speed-up indexed vs naive" in printed


def test_handler_bench_starts_runs_only_where_conditions_hold(capsys: pytest.CaptureFixture[str]) -> None:
    quiet, busy = handler.main(["--rules", "30", "--batches", "2", "--batch-size", "20", "--repeat", "1"])

    assert [p.runs_started for p in quiet.passes] == [0]
    assert busy.passes[0].runs_started == busy.expected_runs > 0
    assert quiet.passes[0].moto_calls > 0  # the tenant read and sampled "not started" entries reach moto
    printed = capsys.readouterr().out
    assert "no run starts" in printed and "with run starts" in printed and "peak RSS" in printed


def test_cold_start_bench_imports_a_function_against_boto3(capsys: pytest.CaptureFixture[str]) -> None:
    found = cold_start.main(["--runs", "1", "--functions", "dispatcher"])

    assert [c.name for c in found] == ["import boto3", "dispatcher"]
    assert all(len(c.wall) == len(c.cpu) == len(c.rss_mb) == 1 for c in found)
    printed = capsys.readouterr().out
    assert "dispatcher" in printed and "import boto3" in printed


def test_cold_start_bench_measures_a_function_with_and_without_the_tracer(capsys: pytest.CaptureFixture[str]) -> None:
    found = cold_start.main(["--runs", "1", "--functions", "dispatcher", "--tracer"])

    assert [c.name for c in found] == ["import boto3", "dispatcher", "dispatcher +tracer"]
    untraced, traced = found[1].env, found[2].env
    assert untraced["LAMBDA_TASK_ROOT"] == traced["LAMBDA_TASK_ROOT"]  # both as on Lambda
    assert untraced["POWERTOOLS_TRACE_DISABLED"] == "true" and "POWERTOOLS_TRACE_DISABLED" not in traced
    assert "dispatcher +tracer" in capsys.readouterr().out


def test_partitions_bench_bills_the_writes_the_code_made_and_shards_the_tenants_run_listing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = partitions.simulate(changes=12, rules=200, seed=7)

    assert found.runs > 2
    tables = {w.table for w in found.writes}
    assert tables == {"DealsTable", "AutomationTable"}
    by_tenant = next(i for i in found.indexes if i.name == "by_tenant")
    assert not by_tenant.splittable and next(i for i in found.indexes if i.name is None).splittable
    today = partitions.billed(found.writes, by_tenant, partitions.today)
    spread = partitions.billed(found.writes, by_tenant, partitions.sharded)
    assert list(today) == ["bench#RUN"]  # every run of the tenant on one key, before sharding
    assert sum(today.values()) == sum(spread.values()) and len(spread) > 1
    assert all(key.startswith("bench#RUN~") for key in spread)
    deals = partitions.billed(found.writes, next(i for i in found.indexes if i.table == "DealsTable"), partitions.today)
    assert deals["bench"] >= 12  # each change is at least one write unit on the tenant's deals

    print(partitions.report(found, rate=2000))
    printed = capsys.readouterr().out
    assert "AutomationTable by_tenant" in printed and "today" in printed and "sharded" in printed


def test_dispatcher_rss_bench_runs_a_batch_in_a_fresh_process(capsys: pytest.CaptureFixture[str]) -> None:
    boto3_only, dispatcher, untouched, expected = dispatcher_rss.main(
        ["--rules", "20", "--batch-size", "10", "--runs", "1"]
    )

    # Both children started what the floor fires, on the layer's botocore and on pip's.
    assert dispatcher.started == untouched.started == [expected] and expected > 0
    assert dispatcher.batch_mb[0] >= dispatcher.import_mb[0] > boto3_only.import_mb[0] > 0
    # The slimmed data is what the layer ships: its clients hold less than pip's.
    assert untouched.batch_mb[0] > dispatcher.batch_mb[0]
    printed = capsys.readouterr().out
    assert "after the batch" in printed and "import boto3" in printed and "botocore not slimmed" in printed


def test_api_first_request_bench_imports_the_api_and_answers_its_first_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import api_first_request

    readings = api_first_request.main(["--rules", "20", "--runs", "1"])

    (api,) = readings["api"]  # every request answered 200 (the child checks), each timed
    assert api["import"] > 0 and all(api[label] > 0 for label, _ in api_first_request.REQUESTS)
    printed = capsys.readouterr().out
    assert "first GET /pipelines" in printed and "import boto3" in printed
