"""MotoStack's tools as a CRM's people use it: setting a tenant up, changing deals, and reading
what automation did (e-mails, notifications, workgroups, tasks, the run log)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dealflow.authoring.checks import check_templates
from dealflow.model import Deal, FieldDefinition, Pipeline, RunRecord, Tenant
from dealflow.model.catalog import Automation

if TYPE_CHECKING:
    from dealflow.local.outbox import Email, Notification, Outbox
    from dealflow.store.automation import AutomationStore
    from dealflow.store.deals import DealStore
    from dealflow.store.records import RecordStore
    from dealflow.store.runs import RunLog


class CrmTools:
    # MotoStack sets these when it starts.
    automation: AutomationStore
    deals: DealStore
    outbox: Outbox
    records: RecordStore
    run_log: RunLog

    # ---- setting up a tenant --------------------------------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        self.automation.put_tenant(tenant)

    def put_pipeline(self, tenant_id: str, pipeline: Pipeline) -> None:
        self.automation.put_definition(tenant_id, pipeline)

    def put_field(self, tenant_id: str, definition: FieldDefinition) -> None:
        self.automation.put_definition(tenant_id, definition)

    def put_automation(self, tenant_id: str, automation: Automation) -> None:
        """Store a rule, tunnel or trigger (switched on unless its ``enabled`` says otherwise); a
        template the engine would refuse to run is refused here too (``Invalid``), as the API does."""
        check_templates(automation)
        self.automation.put_definition(tenant_id, automation)

    put_rule = put_automation

    # ---- changing deals, as people do -----------------------------------------------------

    def create_deal(self, deal: Deal) -> Deal:
        return self.deals.create(deal)

    def get_deal(self, tenant_id: str, deal_id: str) -> Deal | None:
        return self.deals.get(tenant_id, deal_id)

    def update_deal(self, tenant_id: str, deal_id: str, **changes: Any) -> Deal:
        deal = self.deals.require(tenant_id, deal_id)
        custom = changes.pop("fields", None)
        if custom is not None:
            changes["fields"] = {**deal.fields, **custom}
        return self.deals.save(deal.model_copy(update=changes))

    def move_deal(self, tenant_id: str, deal_id: str, stage_id: str, pipeline_id: str | None = None) -> Deal:
        changes: dict[str, Any] = {"stage_id": stage_id}
        if pipeline_id:
            changes["pipeline_id"] = pipeline_id
        return self.update_deal(tenant_id, deal_id, **changes)

    def delete_deal(self, tenant_id: str, deal_id: str) -> None:
        self.deals.delete(tenant_id, deal_id)

    # ---- reading what happened ------------------------------------------------------------

    def emails(self) -> list[Email]:
        return self.outbox.emails()

    def notifications(self) -> list[Notification]:
        return self.outbox.notifications()

    def workgroups(self, tenant_id: str) -> list[dict[str, Any]]:
        return self.records.list(tenant_id, "workgroup")

    def tasks(self, tenant_id: str) -> list[dict[str, Any]]:
        return self.records.list(tenant_id, "task")

    def runs(self, tenant_id: str, deal_id: str | None = None) -> list[RunRecord]:
        """The run log, newest first."""
        return self.run_log.for_deal(tenant_id, deal_id) if deal_id else self.run_log.all(tenant_id)
