"""The Lambda functions' configuration: every environment variable they read, typed, in one class.

template.yaml sets these per function (each function only what it uses), env.json the same for
``sam local invoke``, and the local harness the same for moto. ``dealflow.runtime.settings`` reads
them once per container. boto3 and powertools read their own (``AWS_REGION``, ``AWS_ENDPOINT_URL*``,
``POWERTOOLS_*``); those are not here.

A plain dataclass read from ``os.environ``, not a pydantic-settings model: importing
pydantic-settings and building the model cost every cold start ~80 ms, as much as the Lambda
client (bench/README.md, "Cold start").
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Literal

from dealflow.aws.secrets import DEFAULT_PAGE_KEY_PARAMETER, DEFAULT_SECRET_PREFIX

# The settings only some functions need: each is optional, and the part of the runtime that uses
# one asks for it by name (``Settings.need``).
Needed = Literal[
    "deals_table",
    "runner_function",
    "notifications_topic_arn",
    "cancellation_queue_url",
    "timers_table",
    "timer_queue_url",
]


class MissingSetting(RuntimeError):
    """A function needs an environment variable its configuration does not set."""


class InvalidSetting(ValueError):
    """An environment variable is set to something its setting does not take."""


def _setting(description: str, default: Any = MISSING, low: float | None = None, high: float | None = None) -> Any:
    return field(default=default, metadata={"description": description, "low": low, "high": high})


@dataclass(frozen=True)
class Settings:
    """Field ``deals_table`` is read from ``DEALS_TABLE``, and so on (``Settings.read``). An empty
    variable counts as unset: template.yaml declares some empty on purpose, and an empty table
    name is no name."""

    automation_table: str = _setting(
        "AutomationTable: definitions, the run log, workgroups, tasks, the effect ledger (every function)"
    )
    deals_table: str | None = _setting("DealsTable: deals and leads (every function but the run reconciler)", None)
    runner_function: str | None = _setting(
        "The runner's alias ARN: the dispatcher and the webhook receiver start runs through it; "
        "the API stops waiting runs through it (without it, it stops none)",
        None,
    )
    notifications_topic_arn: str | None = _setting(
        "SNS topic of notify actions (the runner, and the API's test mode)", None
    )
    sender_email: str | None = _setting(
        "From address of automation e-mails, a verified SES identity; a tenant's own sender "
        "comes first, and with neither an e-mail action fails",
        None,
    )
    run_link_base: str | None = _setting(
        "The management API's address (https://…): a failure notice links to <base>/runs/<run id>; "
        "without it the link is the path alone (the runner)",
        None,
    )
    webhook_secret_prefix: str = _setting(
        "Parameter Store path of tenants' secrets: <prefix>/<tenant id>/webhook-secret (the webhooks), "
        "<prefix>/<tenant id>/http/… (the runner's http_request actions)",
        DEFAULT_SECRET_PREFIX,
    )
    http_allow_loopback: int = _setting(
        "1: http_request actions may send plain http to 127.0.0.1 / ::1 (the local harness and the "
        "tests); 0 (AWS): https to public addresses only",
        0,
        low=0,
        high=1,
    )
    page_token_key_parameter: str = _setting(
        "SSM parameter (SecureString) holding the key the API seals page tokens with, one per "
        "line, the sealing one first (the API)",
        DEFAULT_PAGE_KEY_PARAMETER,
    )
    run_log_dead_letter_queue: str | None = _setting(
        "URL of the SQS queue taking run records the run log would not take (the runner); "
        "`dealflow run-log drain` writes them back",
        None,
    )
    not_started_sample_rate: float = _setting(
        "Share of 'looked at, not started' entries the dispatcher keeps in the run log", 1.0, low=0.0, high=1.0
    )
    run_start_concurrency: int = _setting(
        "Runs the dispatcher starts at once (Lambda invokes in flight) across a stream batch", 16, low=1, high=64
    )
    cancellation_queue_url: str | None = _setting(
        "SQS queue of cancellation jobs a worker goes on with (the API and the dispatcher queue "
        "them, the run reconciler works them and queues them again)",
        None,
    )
    timers_table: str | None = _setting(
        "TimersTable: schedules' next fire times, date triggers' item timers, arming requests (the "
        "scheduler; the API and the dispatcher arm timers; without it nothing is armed)",
        None,
    )
    timer_queue_url: str | None = _setting(
        "SQS queue of a schedule's fire and a date trigger's arming, one page of items per turn (the scheduler)",
        None,
    )
    cancel_inline_stops: int = _setting(
        "Waiting runs a request that switches off or deletes stops itself before it queues the "
        "rest of its cancellation job",
        25,
        low=0,
    )
    cancel_stops_per_invocation: int = _setting(
        "Waiting runs one turn of the cancellation worker stops at most (its time budget stops it first on AWS)",
        10_000,
        low=1,
    )

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment (``os.environ`` unless given): ``MissingSetting`` for
        a required variable unset, ``InvalidSetting`` naming the setting for a bad value."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in fields(cls):
            raw = source.get(setting.name.upper(), "")
            if raw:
                values[setting.name] = _parse(setting, raw)
            elif setting.default is MISSING:
                raise MissingSetting(
                    f"environment variable {setting.name.upper()} is not set, and every function needs it"
                )
        return cls(**values)

    @classmethod
    def variables(cls) -> dict[str, bool]:
        """Every environment variable the settings read, and whether it is required."""
        return {setting.name.upper(): setting.default is MISSING for setting in fields(cls)}

    def need(self, name: Needed) -> str:
        """The setting, or ``MissingSetting`` naming its environment variable."""
        value: str | None = getattr(self, name)
        if value is None:
            raise MissingSetting(f"environment variable {name.upper()} is not set, and this function needs it")
        return value


def _parse(setting: Field[Any], raw: str) -> Any:
    kind = setting.type if isinstance(setting.type, str) else setting.type.__name__
    if kind not in ("int", "float"):
        return raw
    low, high = setting.metadata["low"], setting.metadata["high"]
    bounds = f"{'' if low is None else f' ≥ {low}'}{'' if high is None else f' ≤ {high}'}"
    what = "an integer" if kind == "int" else "a number"
    problem = f"{setting.name} ({setting.name.upper()}) must be {what}{bounds}, not {raw!r}"
    try:
        value = int(raw) if kind == "int" else float(raw)
    except ValueError:
        raise InvalidSetting(problem) from None
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise InvalidSetting(problem)
    return value
