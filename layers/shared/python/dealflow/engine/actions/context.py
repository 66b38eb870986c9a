"""What an action sees: the deal, its tenant and pipeline, the services it may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dealflow.engine.changes import flat
from dealflow.engine.compiled import TenantAutomation
from dealflow.model import Causation, Deal, FieldDefinition, Pipeline, Recipients, Tenant
from dealflow.ports import (
    AssignmentTurns,
    AutomationSource,
    DealStore,
    EffectLedger,
    EnrollmentBook,
    HttpSecrets,
    HttpSender,
    Mailer,
    Notifier,
    RecordStore,
    RunDeadLetter,
    RunLog,
    Waiters,
    Workloads,
)


class ActionError(Exception):
    """The automation itself is wrong (unknown user, missing stage…) or the other side refused it
    for good: retrying cannot help. ``detail`` goes into the failed step (an HTTP try's delivery)."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


@dataclass(frozen=True)
class Services:
    """Everything a run reads and writes through, created once per container."""

    automation: AutomationSource[TenantAutomation]
    runs: RunLog
    deals: DealStore
    ledger: EffectLedger
    records: RecordStore
    mailer: Mailer
    notifier: Notifier
    sender: str | None = None
    run_dead_letter: RunDeadLetter | None = None  # where run records the run log refused go
    run_link_base: str | None = None  # the API's address: a failure notice links to <base>/runs/<id>
    waiters: Waiters | None = None  # the registry of runs waiting for events (wait_for); None: nothing registers
    enrollments: EnrollmentBook | None = None  # read by test mode only: would an enrollment rule let it start?
    http: HttpSender | None = None  # the http_request action's way out (address-checked)
    http_secrets: HttpSecrets | None = None  # its secret headers and the tenant's signing secret
    dry_run: bool = False  # test mode: an http_request shows what it would send and sends nothing
    turns: AssignmentTurns | None = None  # the assign action's round-robin counters
    workloads: Workloads | None = None  # open deals per user, for least-loaded assignment


@dataclass
class ActionContext:
    tenant: Tenant
    pipelines: dict[str, Pipeline]
    fields: dict[str, FieldDefinition]
    deal: Deal
    effect_key: str
    causation: Causation
    services: Services
    variables: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # id, url, automation, error (the last one handled)
    owner_id: str | None = None  # who last saved the automation
    attempt: int = 1  # which try of the action's step this is

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline the deal is in now."""
        return self.pipelines.get(self.deal.pipeline_id)

    def template_variables(self) -> dict[str, Any]:
        deal = flat(self.deal) or {}
        stage = self.pipeline.stage(self.deal.stage_id) if self.pipeline else None
        responsible = self.tenant.user(self.deal.responsible_id) if self.deal.responsible_id else None
        deal |= {
            "stage": stage.name if stage else self.deal.stage_id,
            "pipeline": self.pipeline.name if self.pipeline else self.deal.pipeline_id,
            "responsible": responsible.model_dump(mode="json") if responsible else {},
        }
        return {
            "deal": deal,
            "const": self.tenant.values("constants"),
            "var": {**self.tenant.values("variables"), **self.variables},
            "tenant": {"id": self.tenant.id, "name": self.tenant.name},
            "run": self.run,
        }

    def user_ids(self, to: Recipients) -> list[str]:
        ids = list(to.users)
        if to.responsible:
            if not self.deal.responsible_id:
                raise ActionError("the deal has no responsible user")
            ids.insert(0, self.deal.responsible_id)
        missing = [u for u in ids if self.tenant.user(u) is None]
        if missing:
            raise ActionError(f"unknown user(s): {', '.join(missing)}")
        return list(dict.fromkeys(ids))

    def email_addresses(self, to: Recipients) -> list[str]:
        users = [self.tenant.user(u) for u in self.user_ids(to)]
        addresses = [str(u.email) for u in users if u is not None]
        if to.contact:
            if self.deal.contact is None or self.deal.contact.email is None:
                raise ActionError("the deal's contact has no e-mail address")
            addresses.append(str(self.deal.contact.email))
        return list(dict.fromkeys(addresses))
