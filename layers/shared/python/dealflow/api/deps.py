"""What the API's routes need, built once per container from the environment template.yaml sets;
the local harness swaps in its own run starter."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dealflow.actions import Services
from dealflow.dispatch import RunStarter
from dealflow.store.automation import AutomationStore
from dealflow.store.deals import DealStore
from dealflow.store.runs import RunLog


@dataclass
class Deps:
    automation: AutomationStore
    deals: DealStore
    runs: RunLog
    starter: RunStarter | None
    services: Callable[[], Services] = field(repr=False)
    # Called before the run log is read for cancelling (the local harness lets in-process runs settle).
    settle: Callable[[], Any] = field(default=lambda: None, repr=False)

    @classmethod
    def from_environment(cls) -> Deps:
        import boto3

        from dealflow import runtime
        from dealflow.adapters import LambdaRunStarter

        tables = runtime.tables()
        runner = os.environ.get("RUNNER_FUNCTION")
        return cls(
            automation=runtime.automation_store(),
            deals=DealStore(tables.deals),
            runs=RunLog(tables.automation),
            starter=LambdaRunStarter(boto3.client("lambda"), runner) if runner else None,
            services=runtime.runner_services,
        )
