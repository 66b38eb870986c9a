"""``dealflow run-log drain``: run records the run log would not take, written back into it.

The runner sends a run's record to the run log's dead-letter queue when its run-log writes keep
failing (throttled, the table unavailable) past their own retries; the run itself went on. Once
the run log takes writes again, draining puts each record where the run lists — and the failed-run
inbox — show it. A record never overwrites a newer one: a run that ended, or that has as many
steps, stays as the run log has it.
"""

from __future__ import annotations

import argparse
from typing import Any

from dealflow.cli.target import Target


def drain(args: argparse.Namespace, target: Target) -> int:
    letters = target.run_dead_letter
    written = newer = 0
    unreadable: list[str] = []
    while written + newer + len(unreadable) < args.max:
        batch = letters.receive(min(10, args.max - written - newer - len(unreadable)))
        if not batch:
            break
        for letter in batch:
            if letter.record is None:  # left in the queue (hidden a few minutes) for a person to read
                unreadable.append(letter.error)
                continue
            if target.run_log.restore(letter.record):
                written += 1
                record = letter.record
                print(f"written: run {record.run_id} of tenant {record.tenant_id} ({record.status}): {letter.error}")
            else:
                newer += 1
            letters.delete(letter)
    print(f"{written} run record(s) written to the run log; {newer} already there in a newer state.")
    if unreadable:
        print(f"{len(unreadable)} message(s) are not run records and were left in the queue: {unreadable[0]}")
        return 1
    return 0


def add_commands(commands: Any, where: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "run-log",
        help="write run records kept in the run log's dead-letter back into the run log",
        description="When the runner cannot write a run's record to the run log (its writes throttled "
        "or failing past their own retries) the run goes on and the record waits in the "
        "RunLogDeadLetterQueue (alarm RunLogDeadLetterQueueAlarm). Drain it once the run log takes "
        "writes again.",
    )
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser(
        "drain",
        parents=[where],
        help="write the dead-lettered run records into the run log and delete them from the queue",
        description="Reads the RunLogDeadLetterQueue and writes each run record into the run log unless "
        "the run log holds a newer one (the run ended, or has as many steps); each message is deleted "
        "once handled. Safe to run again at any time.",
    )
    p.add_argument("--max", type=int, default=1000, help="handle at most this many messages (default 1000)")
    p.set_defaults(run=drain)
