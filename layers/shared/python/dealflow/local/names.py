"""Run names across harnesses attached to one moto server.

Lambda keeps a durable execution's name for the function, whoever invoked it, so a second start of
a run id does nothing. The in-process run starter knows only the names it started itself; a
harness attached to a moto server from another process (``dealflow redrive --endpoint``) would run
a run again that the first harness already ran. Its run log stands in for Lambda's memory: a run it
records was started, by someone.
"""

from __future__ import annotations

from typing import Any

from dealflow.model import RunRequest
from dealflow.store.runs import RunLog


class RunLogNames:
    def __init__(self, starter: Any, runs: RunLog) -> None:
        self._starter, self._runs = starter, runs

    def start(self, request: RunRequest) -> bool:
        if self._runs.get(request.tenant_id, request.run_id) is not None:
            return False
        return bool(self._starter.start(request))

    def stop(self, execution_id: str) -> bool:
        return self._starter.stop(execution_id)
