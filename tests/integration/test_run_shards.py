"""The run log spread over sharded index keys: listings by tenant, automation and deal stay what a
user saw before — newest first, paged with sealed tokens, nothing lost or repeated — with entries
written before sharding read alongside until ``dealflow migrate run-keys`` moves them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from dealflow.cli.main import main
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, set_up
from dealflow.model import RunRecord
from dealflow.store import shards
from dealflow.store.run_keys import move_run_keys
from dealflow.store.runs import BadStartKey, RunLog

ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
AUTOMATIONS = ("lost-email", "won-notify-head", "big-deal")
DEALS = ("d-1", "d-2", "d-3", "d-4")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    # Few shards, many runs: every shard holds several entries and starts tie across shards.
    monkeypatch.setattr(shards, "SHARDS", 4)
    with MotoStack() as local:
        set_up(local)
        yield local


def _record(n: int, rng: random.Random, test: bool = False) -> RunRecord:
    second = rng.randrange(40)  # 90 runs over 40 seconds: many share a start time
    return RunRecord(
        tenant_id=TENANT,
        run_id=f"run-{n:04d}",
        automation_id=rng.choice(AUTOMATIONS),
        automation_name="A rule",
        automation_kind="rule",
        deal_id=rng.choice(DEALS),
        event_id=f"e-{n}",
        started_by={},
        status=rng.choice(["completed", "completed", "failed", "waiting"]),
        started_at=f"2026-11-30T10:00:{second:02d}.000+00:00",
        test=test,
    )


def _as_before_sharding(log: RunLog, record: RunRecord) -> None:
    """Store a run as the code before sharding did: its index keys without a shard."""
    log.write(record)
    log._table.update_item(
        Key={"tenant_id": record.tenant_id, "sk": f"RUN#{record.run_id}"},
        UpdateExpression="SET log_key = :l, automation_key = :a",
        ExpressionAttributeValues={
            ":l": f"{record.tenant_id}#RUN",
            ":a": f"{record.tenant_id}#{record.automation_id}",
        },
    )


@pytest.fixture
def runs(stack: MotoStack) -> list[RunRecord]:
    """90 real runs (a third written before sharding) and 5 test runs."""
    rng = random.Random(14)
    records = [_record(n, rng) for n in range(90)]
    for n, record in enumerate(records):
        if n % 3 == 0:
            _as_before_sharding(stack.run_log, record)
        else:
            stack.run_log.write(record)
    for n in range(90, 95):
        stack.run_log.write(_record(n, rng, test=True))
    return records


def _api_pages(stack: MotoStack, limit: int, **query: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    token = None
    for _ in range(200):
        ask = {**query, "limit": str(limit), **({"next_token": token} if token else {})}
        status, body = stack.api("GET", "/runs", claims=ANNA, query=ask)
        assert status == 200, body
        assert len(body["items"]) <= limit
        seen += body["items"]
        token = body["next_token"]
        if token is None:
            return seen
    raise AssertionError("the pages never ended")


def _expected(records: list[RunRecord], **wanted: str) -> list[str]:
    return sorted(
        (r.run_id for r in records if all(getattr(r, k) == v for k, v in wanted.items())),
        key=lambda run_id: next(r.started_at for r in records if r.run_id == run_id),
        reverse=True,
    )


def _check(seen: list[dict[str, Any]], records: list[RunRecord], **wanted: str) -> None:
    ids = [r["run_id"] for r in seen]
    assert len(ids) == len(set(ids)), "a run came twice"
    assert sorted(ids) == sorted(_expected(records, **wanted)), "a run went missing"
    starts = [r["started_at"] for r in seen]
    assert starts == sorted(starts, reverse=True), "not newest first"


def test_the_tenants_runs_spread_over_shards_and_page_back_newest_first_with_legacy_entries(
    stack: MotoStack, runs: list[RunRecord]
) -> None:
    table = stack.run_log._table
    stored = [table.get_item(Key={"tenant_id": TENANT, "sk": f"RUN#{r.run_id}"})["Item"]["log_key"] for r in runs]
    assert set(stored) == {f"{TENANT}#RUN~{n:02d}" for n in range(4)} | {f"{TENANT}#RUN"}

    for limit in (1, 7, 50, 100):
        _check(_api_pages(stack, limit), runs)


def test_runs_of_an_automation_and_of_a_deal_page_across_shards_with_filters(
    stack: MotoStack, runs: list[RunRecord]
) -> None:
    _check(_api_pages(stack, 5, automation_id="lost-email"), runs, automation_id="lost-email")
    _check(_api_pages(stack, 3, status="failed"), runs, status="failed")
    _check(
        _api_pages(stack, 2, automation_id="big-deal", status="waiting"),
        runs,
        automation_id="big-deal",
        status="waiting",
    )
    _check(_api_pages(stack, 4, deal_id="d-2"), runs, deal_id="d-2")
    assert [r.run_id for r in stack.run_log.for_automation(TENANT, "won-notify-head")] == [
        r["run_id"] for r in _api_pages(stack, 100, automation_id="won-notify-head")
    ]
    waiting, start = [], None  # as a cancellation job reads them: a few at a time, shard after shard
    while True:
        page, start = stack.run_log.cancellable(TENANT, job_id="j-1", automation_id="lost-email", start=start, limit=2)
        waiting += page
        if start is None:
            break
    assert sorted(r.run_id for r in waiting) == sorted(_expected(runs, automation_id="lost-email", status="waiting"))
    tests = _api_pages(stack, 2, test="true")
    assert len(tests) == 5 and all(r["test"] for r in tests)


def test_a_filtered_page_that_finds_little_stops_early_and_goes_on_from_where_it_read(
    stack: MotoStack, runs: list[RunRecord]
) -> None:
    rare = runs[-1].model_copy(update={"run_id": "run-rare", "status": "cancelled"})
    stack.run_log.write(rare)
    seen, start, requests = [], None, 0
    while True:
        page, start = stack.run_log.page(TENANT, status="cancelled", limit=5, start=start)
        seen += page
        requests += 1
        if start is None:
            break
    assert [r.run_id for r in seen] == ["run-rare"]
    assert requests > 1  # one request reads every shard once and a few more pages, not the whole log


def test_a_position_from_elsewhere_is_refused(stack: MotoStack, runs: list[RunRecord]) -> None:
    _, position = stack.run_log.page(TENANT, limit=3)
    assert position is not None
    for bad in ({**position, "shard": 99}, {**position, "sk": 7}, {"log_key": f"{TENANT}#RUN"}, [1]):
        with pytest.raises(BadStartKey):
            stack.run_log.page(TENANT, limit=3, start=bad)


def test_migrating_run_keys_dry_run_then_for_real_then_again(stack: MotoStack, runs: list[RunRecord]) -> None:
    table = stack.run_log._table
    before = _api_pages(stack, 10)
    legacy = [r for n, r in enumerate(runs) if n % 3 == 0]

    dry = list(move_run_keys(table, TENANT, dry_run=True, page_size=7))
    assert sum(p.moved for p in dry) == len(legacy) and len(dry) >= len(legacy) // 7
    assert _legacy_left(stack) == len(legacy)

    pages = move_run_keys(table, TENANT, page_size=7)
    first = next(pages)  # stopped after one page: the next sitting picks up the rest
    assert first.moved == 7
    assert _legacy_left(stack) == len(legacy) - 7
    rest = list(move_run_keys(table, TENANT, page_size=7))
    assert sum(p.moved for p in rest) == len(legacy) - 7
    assert _legacy_left(stack) == 0
    assert sum(p.read for p in move_run_keys(table, TENANT)) == 0

    moved = table.get_item(Key={"tenant_id": TENANT, "sk": f"RUN#{legacy[0].run_id}"})["Item"]
    assert moved["log_key"] == shards.sharded(f"{TENANT}#RUN", legacy[0].run_id)
    assert moved["automation_key"] == shards.sharded(f"{TENANT}#{legacy[0].automation_id}", legacy[0].run_id)
    after = _api_pages(stack, 10)  # the same runs (runs started the same second may swap places)
    _check(after, runs)
    assert sorted(after, key=lambda r: r["run_id"]) == sorted(before, key=lambda r: r["run_id"])


def _legacy_left(stack: MotoStack) -> int:
    answer = stack.run_log._table.query(
        IndexName="by_tenant",
        KeyConditionExpression="log_key = :k",
        ExpressionAttributeValues={":k": f"{TENANT}#RUN"},
    )
    return len(answer["Items"])


def test_the_migrate_command_dry_runs_moves_and_then_finds_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with MotoStack(server=True) as stack:
        set_up(stack)
        rng = random.Random(3)
        for n in range(12):
            _as_before_sharding(stack.run_log, _record(n, rng))
        assert stack.endpoint is not None
        where = ["--endpoint", stack.endpoint]

        assert main(["migrate", "run-keys", "--dry-run", *where]) == 0
        assert f"{TENANT}: would move 12 run-log entries" in capsys.readouterr().out
        assert _legacy_left(stack) == 12

        assert main(["migrate", "run-keys", TENANT, "--page-size", "5", *where]) == 0
        assert f"{TENANT}: moved 12 run-log entries" in capsys.readouterr().out
        assert _legacy_left(stack) == 0

        assert main(["migrate", "run-keys", *where]) == 0
        out = capsys.readouterr().out
        assert f"{TENANT}: moved 0 run-log entries" in out and "nothing left to move" in out
        assert main(["migrate", "run-keys", "--page-size", "0", *where]) == 1


def test_the_migrate_command_says_what_it_does_and_where(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as shown:
        main(["migrate", "run-keys", "--help"])
    assert shown.value.code == 0
    text = capsys.readouterr().out
    assert "--stack" in text and "--endpoint" in text and "--dry-run" in text and "shards" in text


def test_runs_started_the_same_millisecond_across_shards_page_without_loss_or_repeats(stack: MotoStack) -> None:
    rng = random.Random(5)
    records = [
        _record(n, rng).model_copy(update={"started_at": f"2026-11-30T10:00:0{n % 3}.000+00:00"}) for n in range(60)
    ]
    for n, record in enumerate(records):
        (_as_before_sharding if n % 4 == 0 else RunLog.write)(stack.run_log, record)
    for limit, status in ((1, None), (4, None), (3, "waiting"), (2, "failed")):
        seen, start = [], None
        for _ in range(300):
            page, start = stack.run_log.page(TENANT, status=status, limit=limit, start=start)
            assert len(page) <= limit
            seen += page
            if start is None:
                break
        ids = [r.run_id for r in seen]
        wanted = [r.run_id for r in records if status is None or r.status == status]
        assert len(ids) == len(set(ids)) and sorted(ids) == sorted(wanted), (limit, status)
        assert [r.started_at for r in seen] == sorted((r.started_at for r in seen), reverse=True)
