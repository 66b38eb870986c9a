"""``dealflow redrive``: the deal changes the dispatcher gave up on, dispatched again.

Each message of the dispatcher's failure queue names a batch of stream records (shard and sequence
range); the records are read back from the stream (``failed_batches``) and handed, one by one, to
the dispatcher's per-record path (``redrive_drivers``). Run names are derived from the record and
the automation, so a run that had started is not started again: the report says "already done". A
message is deleted once every record it names was dispatched or is lost for good; one that is
malformed or whose dispatch failed stays for the next redrive.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dealflow.cli.failed_batches import FailedBatch, Malformed, parse_failure, read_batch
from dealflow.cli.redrive_drivers import DeployedStack, Driver, LocalHarness
from dealflow.cli.target import FAILURE_QUEUE_OUTPUT, Target
from dealflow.engine.dispatch import plan_record

HOLD_SECONDS = 300  # a received message stays invisible to others while it is redriven


@dataclass
class RecordOutcome:
    sequence_number: str
    event_id: str
    event_name: str
    tenant_id: str | None
    deal_id: str | None
    outcome: str = "nothing to start"  # ran, already done, would start, failed
    runs_started: list[str] = field(default_factory=list)
    runs_already_done: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class MessageOutcome:
    message_id: str
    batch: FailedBatch | None = None
    records: list[RecordOutcome] = field(default_factory=list)
    lost: int = 0
    why_lost: str | None = None
    malformed: str | None = None
    deleted: bool = False

    @property
    def handled(self) -> bool:
        return self.malformed is None and all(r.outcome != "failed" for r in self.records)

    def as_json(self) -> dict[str, Any]:
        lost = None
        if self.lost and self.batch is not None:
            lost = {
                "count": self.lost,
                "shard_id": self.batch.shard_id,
                "start_sequence_number": self.batch.start,
                "end_sequence_number": self.batch.end,
                "found": [r.sequence_number for r in self.records],
                "reason": self.why_lost,
            }
        return {
            "message_id": self.message_id,
            "batch": self.batch.as_json() if self.batch else None,
            "records": [vars(r) for r in self.records],
            "lost": lost,
            "malformed": self.malformed,
            "deleted": self.deleted,
        }


class FailureQueue:
    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs, self.url = sqs, url

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message visible now, each held for ``HOLD_SECONDS`` (a held one is not seen twice)."""
        while True:
            page = self._sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=HOLD_SECONDS
            ).get("Messages", [])
            if not page:
                return
            yield from page

    def delete(self, message: dict[str, Any]) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def release(self, message: dict[str, Any]) -> None:
        """Visible again at once: the next redrive (or a look in the console) sees it."""
        self._sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


def _record(record: dict[str, Any]) -> RecordOutcome:
    images = record.get("dynamodb", {})
    keys = images.get("Keys") or {}
    return RecordOutcome(
        sequence_number=images.get("SequenceNumber", ""),
        event_id=record.get("eventID", ""),
        event_name=record.get("eventName", ""),
        tenant_id=keys.get("tenant_id", {}).get("S"),
        deal_id=keys.get("id", {}).get("S"),
    )


def _dispatch(driver: Driver, record: dict[str, Any], seen: RecordOutcome) -> None:
    images = record["dynamodb"]
    driver.answers.started.clear()
    try:
        driver.dispatcher.handle(images.get("OldImage"), images.get("NewImage"), seen.event_id)
    except Exception as exc:  # reported, and the message stays for the next redrive
        seen.outcome, seen.error = "failed", f"{type(exc).__name__}: {exc}"
    # Also of a failed record: the runs that did start before it failed.
    seen.runs_started = [run for run, started in driver.answers.started.items() if started is True]
    seen.runs_already_done = [run for run, started in driver.answers.started.items() if started is False]
    if seen.outcome == "failed":
        return
    if seen.runs_started:
        seen.outcome = "ran"
    elif seen.runs_already_done:
        seen.outcome = "already done"


def _look(driver: Driver, record: dict[str, Any], seen: RecordOutcome) -> None:
    """The dry run: the runs the record calls for, without starting any. A run the run log has
    is already done; the others would start."""
    images = record["dynamodb"]
    try:
        found = plan_record(
            images.get("OldImage"), images.get("NewImage"), seen.event_id, driver.dispatcher.automation_for
        )
    except Exception as exc:
        seen.outcome, seen.error = "failed", f"{type(exc).__name__}: {exc}"
        return
    for planned in found.plan.planned:
        known = driver.run_log.get(planned["tenant_id"], planned["run_id"]) is not None
        (seen.runs_already_done if known else seen.runs_started).append(planned["run_id"])
    if seen.runs_started:
        seen.outcome = "would start"
    elif seen.runs_already_done:
        seen.outcome = "already done"


def redrive_message(
    message: dict[str, Any], target: Target, driver: Driver, streams: Any, dry_run: bool
) -> MessageOutcome:
    done = MessageOutcome(message_id=message.get("MessageId", ""))
    try:
        done.batch = parse_failure(message.get("Body", ""), target.deals_table)
    except Malformed as exc:
        done.malformed = str(exc)
        return done
    read = read_batch(streams, done.batch)
    done.lost, done.why_lost = read.lost, read.why_lost
    driver.dispatcher.new_batch()  # a tenant's automation read once per message, as per stream batch
    for record in read.records:
        seen = _record(record)
        (_look if dry_run else _dispatch)(driver, record, seen)
        done.records.append(seen)
    return done


@dataclass
class Report:
    where: str
    dry_run: bool
    messages: list[MessageOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for m in self.messages for r in m.records if r.outcome == outcome)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "messages": len(self.messages),
            "deleted": sum(m.deleted for m in self.messages),
            "malformed": sum(m.malformed is not None for m in self.messages),
            "records": sum(len(m.records) for m in self.messages),
            "ran": self.count("ran"),
            "would_start": self.count("would start"),
            "already_done": self.count("already done"),
            "nothing_to_start": self.count("nothing to start"),
            "failed": self.count("failed"),
            "runs_started": sum(len(r.runs_started) for m in self.messages for r in m.records if r.outcome == "ran"),
            "lost": sum(m.lost for m in self.messages),
        }

    @property
    def clean(self) -> bool:
        t = self.totals
        return not (t["malformed"] or t["failed"] or t["lost"])

    def as_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "dry_run": self.dry_run,
            "messages": [m.as_json() for m in self.messages],
            "totals": self.totals,
        }


def _describe(record: RecordOutcome) -> str:
    what = f"{record.tenant_id}/{record.deal_id} {record.event_name} (event {record.event_id}"
    what += f", sequence {record.sequence_number})"
    runs: list[str] = [str(record.error)] if record.outcome == "failed" else []
    if record.runs_started:
        runs.append(
            f"{'would start' if record.outcome == 'would start' else 'started'} {', '.join(record.runs_started)}"
        )
    if record.runs_already_done:
        runs.append(f"had started before: {', '.join(record.runs_already_done)}")
    return what + (": " + "; ".join(runs) if runs else "")


def print_report(report: Report) -> None:
    print(f"dealflow redrive{' --dry-run' if report.dry_run else ''} on {report.where}")
    if not report.messages:
        print("  the failure queue is empty: nothing to redrive")
    for message in report.messages:
        print(f"  message {message.message_id}")
        if message.malformed is not None:
            print(f"    malformed: {message.malformed} (left in the queue)")
            continue
        batch = message.batch
        assert batch is not None
        print(
            f"    batch of {batch.size} on {batch.shard_id}, sequence {batch.start}–{batch.end}"
            f" ({batch.condition or 'no condition given'}, first record {batch.first_arrival or 'at an unknown time'})"
        )
        for record in message.records:
            print(f"    {record.outcome:<16} {_describe(record)}")
        if message.lost:
            print(
                f"    {'lost':<16} {message.lost} record(s) between sequence {batch.start} and {batch.end}:"
                f" {message.why_lost}"
            )
        state = "deleted from the queue" if message.deleted else "left in the queue"
        print(f"    → {state}")
    t = report.totals
    print(
        f"{t['records']} record(s) in {t['messages']} message(s): "
        + (
            f"{t['would_start']} would start runs, "
            if report.dry_run
            else f"{t['ran']} ran ({t['runs_started']} run(s) started), "
        )
        + f"{t['already_done']} already done, {t['nothing_to_start']} nothing to start, {t['failed']} failed, "
        f"{t['lost']} lost, {t['malformed']} malformed message(s); {t['deleted']} message(s) deleted"
    )


def redrive(args: argparse.Namespace, target: Target) -> int:
    queue = FailureQueue(target.client("sqs"), target.output(FAILURE_QUEUE_OUTPUT))
    streams = target.client("dynamodbstreams")
    report = Report(where=target.where, dry_run=args.dry_run)
    driver: Driver = LocalHarness(target, args.region) if target.endpoint else DeployedStack(target)
    kept: list[dict[str, Any]] = []
    with driver:
        for message in queue.messages():
            done = redrive_message(message, target, driver, streams, args.dry_run)
            report.messages.append(done)
            if done.handled and not (args.dry_run or args.keep):
                queue.delete(message)
                done.deleted = True
            else:
                kept.append(message)
        if not args.dry_run:
            driver.settle()
    for message in kept:  # only now: released earlier, a message would be received again in this loop
        queue.release(message)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print_report(report)
    return 0 if report.clean else 1


HELP = """\
Dispatch again the deal changes the dispatcher gave up on.

When the DealsTable stream mapping gives up on a batch (3 retries failed, or its records were over
an hour old), Lambda leaves a message in DispatcherFailureQueue naming the batch: its shard and
sequence numbers, not the records (DispatcherFailureQueueAlarm fires). Fix the cause first (the
dispatcher's log says it), then run this. For each message it:
  1. reads the batch's records back from the stream (GetShardIterator AT_SEQUENCE_NUMBER, then
     GetRecords until past the last sequence number). A stream keeps records for 24 hours: older
     ones are reported lost, with the shard and sequence numbers;
  2. hands each record to the dispatcher's own per-record path. A run is named after its record and
     automation, so a run that had started is not started again ("already done"), and nothing is
     sent twice;
  3. deletes the message once every record was dispatched or is lost; a malformed message, or one
     with a record whose dispatch failed, stays in the queue (visible again at once).

Each record is reported as: ran (the runs it started), already done, nothing to start (no
automation applies), failed (why), or lost. Exit status 0 when nothing failed, was lost or was
malformed; 1 otherwise.

--stack: the records are dispatched here, with your credentials, and runs are started on the
  runner's alias (RunnerAliasArn); they then run on AWS. Needs sqs:ReceiveMessage, DeleteMessage,
  ChangeMessageVisibility on the queue, dynamodb:GetShardIterator and GetRecords on the deals
  stream, the tables' reads and writes, lambda:InvokeFunction on the runner's alias.
--endpoint: the local harness is attached to the moto server and runs the runs in-process.
"""


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "redrive",
        parents=[where],
        help="dispatch again the stream records in the dispatcher's failure queue",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="read the queue and the stream and show what would be redriven; start nothing, delete nothing",
    )
    p.add_argument("--keep", action="store_true", help="redrive, but leave every message in the queue")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=redrive)
