"""Failed runs retried and waiting runs resumed early: a new run that continues the old one.

A retry is a run of its own (its own durable execution, its own run-log entry with ``retry_of``;
the old entry gets ``retried_by``) that uses the effect keys of the run it retries (``effects_of``,
the first run of the chain). Every effect — e-mail, notification, deal write, task, workgroup — is
keyed by run and by its place in the tree, so whatever the old run did, or started and could not
confirm, is in the ledger and is not done again:

- from the failed step (the default): the walk passes over every node before the one that failed
  (``RunRecord.position``) and starts there, in the branch and loop turn the old run was in; a run
  that failed before reaching any node (its start) is retried from the start;
- from the start: the whole walk again, as a new run would do it — its checks, its waits, its
  branches — and each effect the old run already did is skipped and shown ``duplicate``.

On the ``original`` version (the default) the retry walks the saved version the old run walked; on
``current`` the automation as it is now (a retry from the failed step then needs a node at the same
place). A waiting run resumed early is stopped and continued the same way from its wait, which
counts as over: durable waits cannot be shortened, and this repeats nothing either.

The retry's run id is derived from the old run (and the caller's request id), so asking twice starts
one run: the starter refuses a name it started before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from dealflow.clock import now_iso
from dealflow.engine.compile_run import compile_run
from dealflow.engine.compiled import CompiledAutomation, TenantAutomation
from dealflow.engine.nodes import Choose, Loop, Node, WaitFor
from dealflow.engine.run_steps import position
from dealflow.language.conditions import compile_condition
from dealflow.model import RunRecord, RunRequest
from dealflow.model.run import AutomationRef
from dealflow.ports import RunLog, RunStarter, WaitingRuns

RetryFrom = Literal["failed_step", "start"]
RetryVersion = Literal["original", "current"]


class RunConflict(ValueError):
    """The run is not in a state this asks for (a retry of a run that did not fail): the API's 409."""


@dataclass(frozen=True, slots=True)
class Continued:
    """A run continued by another: the old run, the new one, and whether this call started it
    (False: it was started before, by the same request)."""

    run_id: str
    new_run_id: str
    started: bool
    start: str  # "start", or the node's place the new run starts at
    version: int


def places(nodes: tuple[Node, ...], prefix: str = "") -> Iterator[str]:
    """Every place a walk of ``nodes`` can stand at (loop turns as ``i0``; any turn shares its shape)."""
    for node in nodes:
        here = position(node, prefix)
        yield here
        if isinstance(node, Choose):
            for index, branch in enumerate(node.branches):
                yield from places(branch.nodes, f"{here}.b{index}.")
            yield from places(node.otherwise, f"{here}.o.")
        elif isinstance(node, Loop):
            yield from places(node.nodes, f"{here}.i0.")
        elif isinstance(node, WaitFor):
            yield from places(node.received, f"{here}.r.")
            yield from places(node.timed_out, f"{here}.t.")


def _shape(place: str) -> str:
    """A place with every loop turn as the first (``n2.i3.n0`` → ``n2.i0.n0``)."""
    return ".".join("i0" if part[:1] == "i" and part[1:].isdigit() else part for part in place.split("."))


def _new_run_id(kind: str, run_id: str, request_id: str | None) -> str:
    hashed = hashlib.sha256(f"{kind}\x1f{run_id}\x1f{request_id or ''}".encode()).hexdigest()
    return f"run-{hashed[:48]}"


def _kept_request(run: RunRecord) -> RunRequest:
    if run.request is None:
        raise RunConflict(
            f"run '{run.run_id}' cannot be continued: what started it was not kept "
            "(its request could not be read, or it ended before this release kept requests)"
        )
    return run.request


def _ref(run: RunRecord, request: RunRequest, version: RetryVersion, known: TenantAutomation) -> AutomationRef:
    if version == "original":
        return request.automation
    current = known.by_id.get(run.automation_id)
    if current is None:
        raise RunConflict(
            f"run '{run.run_id}' cannot be retried on the current version: automation "
            f"'{run.automation_id}' no longer exists"
        )
    return AutomationRef.model_validate(CompiledAutomation(current, compile_condition(None)).ref)


def retry_request(
    run: RunRecord,
    known: TenantAutomation,
    *,
    start: RetryFrom = "failed_step",
    version: RetryVersion = "original",
    request_id: str | None = None,
) -> RunRequest:
    """The request of the run that retries failed ``run``; RunConflict when it cannot be retried."""
    if run.status != "failed":
        raise RunConflict(f"run '{run.run_id}' is {run.status}, not failed: only a failed run is retried")
    old = _kept_request(run)
    ref = _ref(run, old, version, known)
    resume_at = run.position if start == "failed_step" else None
    if resume_at is not None and version == "current":
        automation = known.by_id[run.automation_id]
        if _shape(resume_at) not in {_shape(p) for p in places(compile_run(automation).nodes)}:
            raise RunConflict(
                f"run '{run.run_id}' failed at '{resume_at}', which version {ref.version} of automation "
                f"'{run.automation_id}' does not have: retry it from the start"
            )
    return old.model_copy(
        update={
            "run_id": _new_run_id("retry", run.run_id, request_id),
            "automation": ref,
            "retry_of": run.run_id,
            "effects_of": old.effects_of or old.run_id,
            "resume_at": resume_at,
            "resume_after_wait": False,
        }
    )


def _linked(runs: RunLog, run: RunRecord, new_run_id: str) -> None:
    """The old run's entry names the run that continues it."""
    runs.write(run.model_copy(update={"retried_by": new_run_id}))


def retry(
    runs: RunLog,
    starter: RunStarter,
    run: RunRecord,
    known: TenantAutomation,
    *,
    start: RetryFrom = "failed_step",
    version: RetryVersion = "original",
    request_id: str | None = None,
) -> Continued:
    """Start the run that retries failed ``run`` (once per request id); RunConflict when it cannot."""
    if run.retried_by is not None:
        again = _new_run_id("retry", run.run_id, request_id)
        if run.retried_by != again:
            raise RunConflict(f"run '{run.run_id}' was retried already, by run '{run.retried_by}': retry that one")
    request = retry_request(run, known, start=start, version=version, request_id=request_id)
    started = starter.start(request)
    if run.retried_by is None:
        _linked(runs, run, request.run_id)
    return Continued(run.run_id, request.run_id, started, request.resume_at or "start", request.automation.version)


def resume(runs: RunLog, starter: RunStarter, run: RunRecord, request_id: str | None = None) -> Continued:
    """Resume waiting ``run`` now: its execution is stopped and a run continuing from its wait (which
    counts as over) is started; RunConflict when it is not waiting."""
    new_run_id = _new_run_id("resume", run.run_id, request_id)
    if run.status != "waiting":
        if run.retried_by == new_run_id:  # resumed before, by this request
            return Continued(run.run_id, new_run_id, False, run.position or "", run.automation_version or 0)
        raise RunConflict(f"run '{run.run_id}' is {run.status}, not waiting: only a waiting run is resumed")
    old = _kept_request(run)
    if run.position is None:
        raise RunConflict(f"run '{run.run_id}' does not say which wait it is in: cancel it instead")
    request = old.model_copy(
        update={
            "run_id": new_run_id,
            "retry_of": run.run_id,
            "effects_of": old.effects_of or old.run_id,
            "resume_at": run.position,
            "resume_after_wait": True,
        }
    )
    ended = run.model_copy(
        update={
            "status": "cancelled",
            "reason": f"resumed early: run {new_run_id} continues it",
            "finished_at": now_iso(),
            "retried_by": new_run_id,
        }
    )
    if not runs.end(ended):  # its wait ended (or it was cancelled) meanwhile
        raise RunConflict(f"run '{run.run_id}' stopped waiting meanwhile: only a waiting run is resumed")
    if run.execution_id:  # its old timer must not wake it: the new run continues it
        starter.stop(run.execution_id)
    started = starter.start(request)
    return Continued(run.run_id, new_run_id, started, run.position, old.automation.version)


def cancel(runs: WaitingRuns, starter: RunStarter, run: RunRecord, reason: str) -> None:
    """Cancel waiting ``run`` (RunConflict when it is not waiting), as a cancellation job cancels
    each of its runs: marked cancelled only if it still waits, then its execution stopped."""
    if run.status != "waiting" or not runs.cancel(run, reason, f"run-{run.run_id}"):
        status = run.status if run.status != "waiting" else "no longer waiting"
        raise RunConflict(f"run '{run.run_id}' is {status}, not waiting: only a waiting run is cancelled")
    if run.execution_id:
        starter.stop(run.execution_id)


@dataclass(frozen=True, slots=True)
class BulkRetry:
    retried: list[Continued]
    skipped: list[tuple[str, str]]  # (run id, why it was not retried)
    more: bool  # more failed runs may match: ask again (those retried now are left out)


# Runs a bulk retry skipped are listed up to this many; it reads at most this many pages of the log.
_MAX_SKIPPED = 100
_MAX_PAGES = 5

# A page of failed runs matching the bulk retry's filter, from a position (None: the newest): the
# runs and where the next page starts (None at the end). ``retried=False`` leaves out retried runs.
FailedPages = Callable[..., tuple[list[RunRecord], Any]]


def retry_many(
    runs: RunLog,
    starter: RunStarter,
    known: TenantAutomation,
    failed: FailedPages,
    limit: int,
    *,
    start: RetryFrom = "failed_step",
    version: RetryVersion = "original",
    request_id: str | None = None,
    allowed: Callable[[RunRecord], None] = lambda run: None,
) -> BulkRetry:
    """Retry up to ``limit`` of the failed runs ``failed`` pages through, newest first; each that
    cannot be (``allowed`` refuses it, or ``retry`` does) is skipped with the reason. Without a
    request id only runs not yet retried are read, so asking again goes on with the rest; with one,
    the runs it retried are read too and answered again (nothing new starts)."""
    retried: list[Continued] = []
    skipped: list[tuple[str, str]] = []
    position = None
    for _ in range(_MAX_PAGES):
        page, position = failed(start=position, limit=limit - len(retried), retried=None if request_id else False)
        for run in page:
            try:
                allowed(run)
                retried.append(retry(runs, starter, run, known, start=start, version=version, request_id=request_id))
            except Exception as exc:  # RunConflict, or the caller's refusal: the others still go
                if len(skipped) < _MAX_SKIPPED:
                    skipped.append((run.run_id, str(exc)))
        if position is None or len(retried) >= limit:
            break
    return BulkRetry(retried, skipped, more=position is not None)
