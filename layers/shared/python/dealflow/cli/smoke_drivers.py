"""Who does the work while ``dealflow smoke`` watches.

On AWS the deployed stack does: the DealsTable stream invokes the dispatcher, the dispatcher starts
the runner, the runner sends through SES and SNS; the smoke test only polls the run log. On a moto
server nothing runs Lambdas, so the local harness (``MotoStack`` attached to that server) pumps the
stream into the very dispatcher handler that is deployed and runs the runner in-process; there the
e-mail and the notification can also be read back from moto.
"""

from __future__ import annotations

import time
from typing import Protocol, Self

from dealflow.cli.target import LOCAL_REGION, Target
from dealflow.model import RunRecord

UNFINISHED = frozenset({"running", "waiting"})


class Driver(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def run_of(self, tenant_id: str, deal_id: str, automation_id: str) -> RunRecord | None:
        """The automation's run on the deal once it finished, or as far as it got."""
        ...

    def delivered(self, tenant_id: str, run: RunRecord) -> list[tuple[str, bool, str]]:
        """Checks only this driver can make of what went out: (name, passed, detail)."""
        ...

    def settle(self) -> None:
        """Let the stack react to the changes made so far (the smoke deal's deletion)."""
        ...


def _latest(target: Target, tenant_id: str, deal_id: str, automation_id: str) -> RunRecord | None:
    runs = [r for r in target.run_log.for_deal(tenant_id, deal_id) if r.automation_id == automation_id]
    return runs[0] if runs else None


class DeployedStack:
    def __init__(self, target: Target, timeout: float, poll_seconds: float = 2.0) -> None:
        self._target, self._timeout, self._poll = target, timeout, poll_seconds

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run_of(self, tenant_id: str, deal_id: str, automation_id: str) -> RunRecord | None:
        deadline = time.monotonic() + self._timeout
        while True:
            run = _latest(self._target, tenant_id, deal_id, automation_id)
            if (run is not None and run.status not in UNFINISHED) or time.monotonic() >= deadline:
                return run
            time.sleep(self._poll)

    def delivered(self, tenant_id: str, run: RunRecord) -> list[tuple[str, bool, str]]:
        return []  # SES and SNS keep nothing to read back: their message ids in the run log are the receipts

    def settle(self) -> None:
        return None  # the stream mapping reacts by itself


class LocalHarness:
    def __init__(self, target: Target, region: str | None) -> None:
        from dealflow.local import MotoStack  # needs moto and the durable testing SDK: development only

        assert target.endpoint is not None
        self._target = target
        self.stack = MotoStack(endpoint=target.endpoint, attach=True, region=region or LOCAL_REGION)

    def __enter__(self) -> Self:
        self.stack.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def run_of(self, tenant_id: str, deal_id: str, automation_id: str) -> RunRecord | None:
        self.stack.drain()
        return _latest(self._target, tenant_id, deal_id, automation_id)

    def delivered(self, tenant_id: str, run: RunRecord) -> list[tuple[str, bool, str]]:
        sent = {step.name: step.detail for step in run.steps}
        email = next((d for name, d in sent.items() if name.endswith("send_email")), {})
        note = next((d for name, d in sent.items() if name.endswith("notify")), {})
        mails = [m for m in self.stack.emails() if m.subject == email.get("subject") and m.to == email.get("to")]
        notes = [n for n in self.stack.notifications() if n.tenant_id == tenant_id and n.message == note.get("message")]
        return [
            ("e-mail in moto's SES outbox", len(mails) == 1, f"{len(mails)} message(s) '{email.get('subject')}'"),
            (
                "notification on the SNS topic",
                len(notes) == 1,
                f"{len(notes)} message(s) for users {note.get('users')}",
            ),
        ]

    def settle(self) -> None:
        self.stack.drain()
