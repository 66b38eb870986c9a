"""Where the commands act: the resources of a deployed CloudFormation stack, found from its outputs,
or a moto server the local harness provisioned, found under the names it gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dealflow.aws.secrets import DEFAULT_SECRET_PREFIX, secret_name
from dealflow.cli.errors import CliError
from dealflow.engine.compiled import TenantCompiler
from dealflow.runtime import Tables
from dealflow.store.automation import AutomationStore
from dealflow.store.deals import DealStore
from dealflow.store.run_dead_letter import SqsRunDeadLetter
from dealflow.store.runs import RunLog
from dealflow.store.tenants import TenantDirectory
from dealflow.store.timers import TimerTable

# Stack outputs the commands read (template.yaml's Outputs; tests/integration/test_cli.py checks
# that the template still declares each of them).
TABLE_OUTPUTS = {"deals": "DealsTableName", "automation": "AutomationTableName"}
TOPIC_OUTPUT = "NotificationsTopicArn"
SECRET_PREFIX_OUTPUT = "WebhookSecretPrefix"
SENDER_OUTPUT = "SenderEmail"
DEAD_LETTER_OUTPUT = "RunLogDeadLetterQueueUrl"
FAILURE_QUEUE_OUTPUT = "DispatcherFailureQueueUrl"  # dealflow redrive
TIMERS_OUTPUT = "TimersTableName"  # a business process saved by a command is armed as the API arms it
REQUIRED_OUTPUTS = (*TABLE_OUTPUTS.values(), TOPIC_OUTPUT, SECRET_PREFIX_OUTPUT)
LOCAL_REGION = "eu-west-1"  # the harness's default region (MotoStack)


class _Endpoint:
    """A boto3 session whose clients all talk to one endpoint (a moto server)."""

    def __init__(self, session: Any, url: str) -> None:
        self._session, self._url = session, url
        # moto routes no account-id endpoints (DynamoDB Streams); see DESIGN's traps.
        self._config = Config(account_id_endpoint_mode="disabled")

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self._url, config=self._config)

    def resource(self, service: str) -> Any:
        return self._session.resource(service, endpoint_url=self._url, config=self._config)


@dataclass
class Target:
    session: Any  # a boto3 Session, or an _Endpoint wrapping one
    deals_table: str
    automation_table: str
    topic_arn: str
    secret_prefix: str = DEFAULT_SECRET_PREFIX
    sender: str | None = None
    endpoint: str | None = None
    run_dead_letter_queue: str | None = None
    stack: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def where(self) -> str:
        return f"the moto server at {self.endpoint}" if self.endpoint else f"stack '{self.stack}'"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    @cached_property
    def _dynamodb(self) -> Any:
        return self.session.resource("dynamodb")

    @cached_property
    def tables(self) -> Tables:
        return Tables(
            deals=self._dynamodb.Table(self.deals_table), automation=self._dynamodb.Table(self.automation_table)
        )

    @cached_property
    def compiler(self) -> TenantCompiler:
        return TenantCompiler()

    @cached_property
    def automation(self) -> AutomationStore:
        # Saves a business process as the API does: the scheduler is asked to arm its timers (a
        # stack deployed before timers existed has no such output, and nothing to arm).
        timers = self.outputs.get(TIMERS_OUTPUT)
        armed = TimerTable(self._dynamodb.Table(timers)).request_arm if timers else None
        return AutomationStore(self._dynamodb.Table(self.automation_table), self.compiler, armed)

    @cached_property
    def tenants(self) -> TenantDirectory:
        return TenantDirectory(self._dynamodb.Table(self.automation_table), self._dynamodb.Table(self.deals_table))

    @cached_property
    def deals(self) -> DealStore:
        return DealStore(self._dynamodb.Table(self.deals_table), self._dynamodb.Table(self.automation_table))

    @cached_property
    def automation_items(self) -> Any:
        """AutomationTable itself, for commands that rewrite its items (``dealflow migrate``)."""
        return self._dynamodb.Table(self.automation_table)

    @cached_property
    def run_log(self) -> RunLog:
        return RunLog(self._dynamodb.Table(self.automation_table))

    @cached_property
    def run_dead_letter(self) -> SqsRunDeadLetter:
        if self.run_dead_letter_queue is None:
            raise CliError(
                f"{self.where} has no run-log dead-letter queue (output {DEAD_LETTER_OUTPUT}): "
                "deploy the current template.yaml (sam build && sam deploy)"
            )
        return SqsRunDeadLetter(self.client("sqs"), self.run_dead_letter_queue)

    def output(self, key: str) -> str:
        """A stack output only some commands need (the harness names the same for a moto server)."""
        value = self.outputs.get(key)
        if not value:
            raise CliError(f"{self.where} lacks the output {key}: deploy the current template.yaml")
        return value

    def secret_name(self, tenant_id: str) -> str:
        return secret_name(self.secret_prefix, tenant_id)


def from_stack(name: str, region: str | None = None, profile: str | None = None) -> Target:
    """The stack's resources from its outputs (``sam deploy`` names tables and topics itself)."""
    try:
        session = boto3.session.Session(region_name=region, profile_name=profile)
        if session.region_name is None:
            raise CliError("no AWS region: pass --region, or set AWS_REGION or a profile's region")
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise CliError(f"cannot read stack '{name}': {message}") from exc
    except BotoCoreError as exc:  # no credentials, unknown profile, no network
        raise CliError(f"cannot read stack '{name}': {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise CliError(
            f"stack '{name}' in {session.region_name} lacks the outputs {', '.join(missing)}: "
            "deploy the current template.yaml (sam build && sam deploy)"
        )
    return Target(
        session=session,
        deals_table=outputs[TABLE_OUTPUTS["deals"]],
        automation_table=outputs[TABLE_OUTPUTS["automation"]],
        topic_arn=outputs[TOPIC_OUTPUT],
        secret_prefix=outputs[SECRET_PREFIX_OUTPUT],
        sender=outputs.get(SENDER_OUTPUT),
        run_dead_letter_queue=outputs.get(DEAD_LETTER_OUTPUT),
        stack=name,
        outputs=outputs,
    )


def from_endpoint(url: str, region: str | None = None) -> Target:
    """A moto server provisioned from template.yaml by the local harness (``MotoStack``): its
    tables and topic carry the template's logical ids. Local credentials only: nothing signs for AWS."""
    from dealflow.local.provision import NotProvisioned, attach  # the harness needs moto's extras: load late

    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name=region or LOCAL_REGION,
    )
    endpoint = _Endpoint(session, url.rstrip("/"))
    try:
        resources = attach(endpoint)
    except NotProvisioned as exc:
        raise CliError(
            f"{url}: {exc}. Start one with `python -m dealflow.local api --endpoint {url}` "
            "against a running `moto_server`, or use MotoStack(server=True) in a test"
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"cannot reach a moto server at {url}: {exc}") from exc
    return Target(
        session=endpoint,
        deals_table=resources.tables["DealsTable"],
        automation_table=resources.tables["AutomationTable"],
        topic_arn=resources.topics["NotificationsTopic"],
        run_dead_letter_queue=resources.queues.get("RunLogDeadLetterQueue"),
        endpoint=url.rstrip("/"),
        outputs={
            FAILURE_QUEUE_OUTPUT: resources.queues["DispatcherFailureQueue"],
            **({TIMERS_OUTPUT: resources.tables["TimersTable"]} if "TimersTable" in resources.tables else {}),
        },
    )
