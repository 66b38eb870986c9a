"""MotoStack's tools for working with automation beyond deal changes: test mode, starting a
business process by hand, switching automation on and off, the run log per automation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dealflow import runtime
from dealflow.engine.manual_runs import start_by_hand
from dealflow.engine.testmode import run_test
from dealflow.model import Deal, RunRecord
from dealflow.model.catalog import Automation

if TYPE_CHECKING:
    from dealflow.engine.cancellation import Cancellations
    from dealflow.local.invoke import LocalRunStarter
    from dealflow.store.automation import AutomationStore
    from dealflow.store.deals import DealStore
    from dealflow.store.runs import RunLog


class AutomationTools:
    # MotoStack sets these when it starts.
    automation: AutomationStore
    deals: DealStore
    run_log: RunLog
    runs_port: LocalRunStarter
    cancellations: Cancellations

    def test_run(
        self,
        tenant_id: str,
        automation: Automation | str,
        *,
        deal: Deal | None = None,
        deal_id: str | None = None,
    ) -> RunRecord:
        """Run automation (given, or stored under this id) in test mode on a test deal or a real
        one: nothing is sent or written; the step-by-step log comes back and is kept."""
        if isinstance(automation, str):
            found = self.automation.load(tenant_id).by_id.get(automation)
            if found is None:
                raise LookupError(f"no automation '{automation}'")
        else:
            found = automation
        item = deal if deal is not None else self.deals.require(tenant_id, deal_id or "")
        return run_test(found, item, runtime.runner_services())

    def test_runs(self, tenant_id: str) -> list[RunRecord]:
        """Stored test runs, newest first."""
        return self.run_log.all(tenant_id, test=True)

    def start_process(
        self,
        tenant_id: str,
        process_id: str,
        deal_id: str,
        parameters: dict[str, object] | None = None,
        request_id: str | None = None,
    ) -> str:
        """Start a business process by hand on one deal or lead, with its parameters, as
        ``POST /deals/{deal_id}/runs`` does (``engine.manual_runs.start_by_hand``); returns the run
        id. The same start again (same ``request_id``; without one, the same parameters on the deal
        as it stands) starts nothing new and returns the same run id."""
        known = self.automation.load(tenant_id)
        item = self.deals.require(tenant_id, deal_id)
        return start_by_hand(self.runs_port, known, item, process_id, parameters, request_id).run_id

    def switch(self, tenant_id: str, automation_id: str, enabled: bool) -> list[str]:
        """Switch automation on or off; switching off cancels its waiting runs as the API does (a
        cancellation job): the ones stopped at once are returned, ``drain`` works off the rest."""
        current = self.automation.load(tenant_id).by_id.get(automation_id)
        if current is None:
            raise LookupError(f"no automation '{automation_id}'")
        self.automation.put_definition(tenant_id, current.model_copy(update={"enabled": enabled}))
        if enabled:
            return []
        self.runs_port.settle()
        _, stopped = self.cancellations.request(
            tenant_id, "the automation was switched off", "local", automation_ids=[automation_id]
        )
        return stopped

    def runs_of(self, tenant_id: str, automation_id: str) -> list[RunRecord]:
        """The run log of one automation, newest first."""
        return self.run_log.for_automation(tenant_id, automation_id)
