"""What the API's routes need, built once per container from the environment template.yaml sets;
the local harness swaps in its own run starter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# Named for type checks only: functions/api/app.py builds each with the first request that uses it.
if TYPE_CHECKING:
    from dealflow.engine.actions import Services
    from dealflow.engine.cancellation import Cancellations
    from dealflow.ports import ChangeHistory, PageKeys, RunStarter
    from dealflow.store.automation import AutomationStore
    from dealflow.store.deals import DealStore
    from dealflow.store.runs import RunLog


@dataclass
class Deps:
    automation: AutomationStore
    deals: DealStore
    runs: RunLog
    starter: RunStarter | None
    page_keys: PageKeys  # seal and open the lists' next_token
    services: Callable[[], Services] = field(repr=False)
    # Called before the run log is read for cancelling (the local harness lets in-process runs settle).
    settle: Callable[[], Any] = field(default=lambda: None, repr=False)
    # Cancellation jobs of waiting runs; None where no runner is configured (nothing to stop).
    cancellations: Cancellations | None = field(default=None, repr=False)
    # Recent deal changes the dispatcher kept, which what-if replays.
    history: ChangeHistory | None = field(default=None, repr=False)
