"""Cancellation jobs (``engine.cancellation``) on in-memory ports: what the request does at once,
what is queued, how each waiting run is counted, and two workers on one job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealflow.engine.cancellation import Budget, Cancellations, work
from dealflow.model import RunRecord
from tests.fakes import FakeCancellationJobs, FakeQueue, FakeRunLog, FakeStopper

TENANT = "acme"
_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _log(count: int, *, automation_id: str = "follow-up", status: str = "waiting") -> tuple[FakeRunLog, FakeStopper]:
    runs, stopper = FakeRunLog(), FakeStopper()
    for n in range(count):
        runs.write(
            RunRecord(
                tenant_id=TENANT,
                run_id=f"{automation_id}-{n:03d}",
                automation_id=automation_id,
                automation_name="Follow up",
                automation_kind="rule",
                deal_id=f"deal-{n:03d}",
                event_id=f"evt-{n}",
                started_by={},
                status=status,
                execution_id=f"arn:exec:{automation_id}-{n:03d}",
                started_at=(_START + timedelta(minutes=n)).isoformat(),
            )
        )
        stopper.waiting.add(f"arn:exec:{automation_id}-{n:03d}")
    return runs, stopper


def _cancellations(runs: FakeRunLog, stopper: FakeStopper, inline: int = 25) -> tuple[Cancellations, FakeQueue]:
    queue = FakeQueue()
    return Cancellations(FakeCancellationJobs(), runs, stopper, queue, inline_stops=inline), queue


def test_a_few_waiting_runs_are_stopped_at_once_and_nothing_is_queued() -> None:
    runs, stopper = _log(3)
    cancellations, queue = _cancellations(runs, stopper)

    job, stopped = cancellations.request(
        TENANT, "the automation was switched off", "u-admin", automation_ids=["follow-up"]
    )

    assert (job.status, job.found, job.stopped, job.finished_at is not None) == ("done", 3, 3, True)
    assert sorted(stopped) == sorted(runs.records) and queue.queued == []
    assert {r.status for r in runs.records.values()} == {"cancelled"} and stopper.waiting == set()


def test_more_than_the_request_stops_is_queued_once_and_a_worker_finishes_it() -> None:
    runs, stopper = _log(12)
    cancellations, queue = _cancellations(runs, stopper, inline=5)

    job, stopped = cancellations.request(TENANT, "off", "u-admin", automation_ids=["follow-up"])

    assert (job.status, job.stopped, len(stopped)) == ("running", 5, 5) and queue.queued == [(TENANT, job.job_id)]
    finished = cancellations.resume(TENANT, job.job_id, time_left=lambda: 60.0, reserve=10.0)
    assert finished is not None and (finished.status, finished.found, finished.stopped) == ("done", 12, 12)
    assert queue.queued == [(TENANT, job.job_id)]  # finished: not queued again
    assert cancellations.resume(TENANT, job.job_id, time_left=lambda: 60.0, reserve=10.0) == finished
    assert cancellations.resume("globex", job.job_id, time_left=lambda: 60.0, reserve=10.0) is None


def test_a_worker_short_of_time_saves_where_it_is_and_queues_the_job_again() -> None:
    runs, stopper = _log(150)  # a page and a half
    cancellations, queue = _cancellations(runs, stopper, inline=0)
    job, _ = cancellations.request(TENANT, "off", "u-admin", automation_ids=["follow-up"])
    assert job.status == "queued" and job.found == 0

    left = iter([30.0, 5.0])  # time for one page, then short of the reserve
    turn = cancellations.resume(TENANT, job.job_id, time_left=lambda: next(left), reserve=10.0)

    assert turn is not None and (turn.status, turn.found, turn.stopped) == ("running", 100, 100)
    assert turn.cursor.start == {"run_id": "follow-up-099"}
    assert queue.queued == [(TENANT, job.job_id), (TENANT, job.job_id)]
    done = cancellations.resume(TENANT, job.job_id, time_left=lambda: 30.0, reserve=10.0)
    assert done is not None and (done.status, done.found, done.stopped) == ("done", 150, 150)


def test_runs_whose_execution_had_ended_count_as_already_ended_and_a_refused_stop_as_failed() -> None:
    runs, stopper = _log(4)
    stopper.waiting.discard("arn:exec:follow-up-001")  # it ended on its own; its record still says waiting
    stopper.refused.add("arn:exec:follow-up-002")
    runs.write(runs.records["follow-up-003"].model_copy(update={"status": "completed"}))  # not waiting at all
    cancellations, _ = _cancellations(runs, stopper)

    job, stopped = cancellations.request(TENANT, "off", "u-admin", automation_ids=["follow-up"])

    assert stopped == ["follow-up-000"]
    assert (job.found, job.stopped, job.already_ended, job.failed) == (3, 1, 1, 1)
    assert job.status == "failed" and job.failed_runs == ["follow-up-002"]
    # The refused one stays marked: its own check after the wait ends it cancelled.
    assert runs.records["follow-up-002"].status == "cancelled"
    assert runs.records["follow-up-003"].status == "completed"


def test_a_run_marked_by_a_turn_that_was_cut_off_is_stopped_again_and_counted_once() -> None:
    runs, stopper = _log(3)
    jobs, queue = FakeCancellationJobs(), FakeQueue()
    cancellations = Cancellations(jobs, runs, stopper, queue, inline_stops=0)
    job, _ = cancellations.request(TENANT, "off", "u-admin", automation_ids=["follow-up"])
    # A turn marked and stopped the first run, then ended before it saved its count.
    assert runs.cancel(runs.records["follow-up-000"], "off", job.job_id)
    assert stopper.stop("arn:exec:follow-up-000")

    done = cancellations.resume(TENANT, job.job_id, time_left=lambda: 60.0, reserve=10.0)

    assert done is not None and (done.found, done.stopped, done.already_ended) == (3, 3, 0)


def test_two_workers_on_one_job_count_each_run_once_and_the_later_leaves_it_to_the_other() -> None:
    runs, stopper = _log(6)
    jobs = FakeCancellationJobs()
    cancellations = Cancellations(jobs, runs, stopper, FakeQueue(), inline_stops=0)
    queued, _ = cancellations.request(TENANT, "off", "u-admin", automation_ids=["follow-up"])

    first = work(queued, jobs=jobs, runs=runs, starter=stopper, budget=Budget(stops=3))
    second = work(queued, jobs=jobs, runs=runs, starter=stopper, budget=Budget(stops=3))  # a duplicate message

    assert first.job.stopped == 3 and not first.yielded
    assert second.yielded and second.job == first.job  # its step was refused: the saved one stands
    rest = work(second.job, jobs=jobs, runs=runs, starter=stopper, budget=Budget(stops=100))
    assert (rest.job.status, rest.job.found, rest.job.stopped) == ("done", 6, 6)


def test_one_job_for_several_automations_goes_through_each_in_turn() -> None:
    runs, stopper = _log(2, automation_id="a")
    more, more_stops = _log(3, automation_id="b")
    for record in more.records.values():
        runs.write(record)
    stopper.waiting |= more_stops.waiting
    cancellations, _ = _cancellations(runs, stopper, inline=100)

    job, stopped = cancellations.request(TENANT, "off", "u-admin", automation_ids=["a", "b", "a"])

    assert job.automation_ids == ["a", "b"] and (job.status, job.found, job.stopped) == ("done", 5, 5)
    assert stopped == ["a-000", "a-001", "b-000", "b-001", "b-002"]


def test_a_deleted_deal_with_nothing_waiting_leaves_no_job_but_one_with_runs_does() -> None:
    runs, stopper = _log(2)
    cancellations, queue = _cancellations(runs, stopper)

    quiet, stopped = cancellations.request(
        TENANT, "the deal was deleted", "dealflow", deal_id="deal-9", record_empty=False
    )
    assert (quiet.status, quiet.found, stopped) == ("done", 0, [])
    assert cancellations.jobs.get(TENANT, quiet.job_id) is None and queue.queued == []

    job, stopped = cancellations.request(
        TENANT, "the deal was deleted", "dealflow", deal_id="deal-001", record_empty=False
    )
    assert stopped == ["follow-up-001"] and cancellations.jobs.get(TENANT, job.job_id) == job
