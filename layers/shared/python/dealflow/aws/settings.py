"""The Lambda functions' configuration: every environment variable they read, typed, in one model.

template.yaml sets these per function (each function only what it uses), env.json the same for
``sam local invoke``, and the local harness the same for moto. ``dealflow.runtime.settings`` reads
them once per container. boto3 and powertools read their own (``AWS_REGION``, ``AWS_ENDPOINT_URL*``,
``POWERTOOLS_*``); those are not here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dealflow.aws.secrets import DEFAULT_PAGE_KEY_PARAMETER, DEFAULT_SECRET_PREFIX

# The settings only some functions need: each is optional in the model, and the part of the
# runtime that uses one asks for it by name (``Settings.need``).
Needed = Literal["deals_table", "runner_function", "notifications_topic_arn", "cancellation_queue_url"]


class MissingSetting(RuntimeError):
    """A function needs an environment variable its configuration does not set."""


class Settings(BaseSettings):
    """Field ``deals_table`` is read from ``DEALS_TABLE``, and so on. An empty variable counts as
    unset: template.yaml declares some empty on purpose, and an empty table name is no name."""

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True)

    automation_table: str = Field(
        description="AutomationTable: definitions, the run log, workgroups, tasks, the effect ledger (every function)"
    )
    deals_table: str | None = Field(
        default=None, description="DealsTable: deals and leads (every function but the run reconciler)"
    )
    runner_function: str | None = Field(
        default=None,
        description="The runner's alias ARN: the dispatcher and the webhook receiver start runs through it; "
        "the API stops waiting runs through it (without it, it stops none)",
    )
    notifications_topic_arn: str | None = Field(
        default=None, description="SNS topic of notify actions (the runner, and the API's test mode)"
    )
    sender_email: str | None = Field(
        default=None,
        description="From address of automation e-mails, a verified SES identity; a tenant's own sender "
        "comes first, and with neither an e-mail action fails",
    )
    run_link_base: str | None = Field(
        default=None,
        description="The management API's address (https://…): a failure notice links to <base>/runs/<run id>; "
        "without it the link is the path alone (the runner)",
    )
    webhook_secret_prefix: str = Field(
        default=DEFAULT_SECRET_PREFIX,
        description="Parameter Store path of tenants' webhook secrets: <prefix>/<tenant id>/webhook-secret",
    )
    page_token_key_parameter: str = Field(
        default=DEFAULT_PAGE_KEY_PARAMETER,
        description="SSM parameter (SecureString) holding the key the API seals page tokens with, one per "
        "line, the sealing one first (the API)",
    )
    run_log_dead_letter_queue: str | None = Field(
        default=None,
        description="URL of the SQS queue taking run records the run log would not take (the runner); "
        "`dealflow run-log drain` writes them back",
    )
    not_started_sample_rate: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of 'looked at, not started' entries the dispatcher keeps in the run log",
    )
    run_start_concurrency: int = Field(
        default=16,
        ge=1,
        le=64,
        description="Runs the dispatcher starts at once (Lambda invokes in flight) across a stream batch",
    )

    cancellation_queue_url: str | None = Field(
        default=None,
        description="SQS queue of cancellation jobs a worker goes on with (the API and the dispatcher queue "
        "them, the run reconciler works them and queues them again)",
    )
    cancel_inline_stops: int = Field(
        default=25,
        ge=0,
        description="Waiting runs a request that switches off or deletes stops itself before it queues the "
        "rest of its cancellation job",
    )
    cancel_stops_per_invocation: int = Field(
        default=10_000,
        ge=1,
        description="Waiting runs one turn of the cancellation worker stops at most (its time budget stops "
        "it first on AWS)",
    )

    def need(self, name: Needed) -> str:
        """The setting, or ``MissingSetting`` naming its environment variable."""
        value: str | None = getattr(self, name)
        if value is None:
            raise MissingSetting(f"environment variable {name.upper()} is not set, and this function needs it")
        return value
