"""The IAM contract: every AWS call a function makes locally must be one its role allows.

moto enforces no IAM, so a handler calling what its role does not allow passes every local test
and fails on AWS. Here each handler the harness calls runs with its function's name in a context
variable; botocore hooks on the harness's sessions see every call made meanwhile (service,
operation, parameters), turn it into the IAM actions and resource ARNs it needs
(``iam_actions``) and judge them against that function's role in the SAM-translated template
(``iam_policy``). A refused call gets AWS's answer (AccessDeniedException) and is remembered;
``MotoStack`` raises ``IamContractBroken`` naming function, action and resource when it closes.

Calls made outside a handler (a test seeding data, the harness reading results) belong to no
function and are not judged. The Lambda APIs the local harness answers in-process (starting and
stopping runs, durable checkpoints) never reach botocore, so ``RunStarterCalls`` and the wrapped
runner handler report the calls ``LambdaRunStarter`` and the durable SDK make on AWS.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from urllib3.response import HTTPResponse

from dealflow.local.iam_actions import Need, needs
from dealflow.local.iam_names import Intrinsics, LocalAws
from dealflow.local.iam_policy import Grant, Role, function_roles
from dealflow.local.sam import source_file, translate, translated_file

# (contract, function logical id) while a handler runs; None outside every handler.
_RUNNING: ContextVar[tuple[IamContract, str] | None] = ContextVar("dealflow_iam_function", default=None)
_REFUSAL = "dealflow_iam_refusal"
_STREAM = "dealflow_iam_stream"
_ERROR_CODES = {"sqs": "AccessDenied", "sns": "AuthorizationError"}
# Parameters template.yaml requires without a default; their values do not reach any policy.
_REQUIRED_PARAMETERS = {"JwtIssuer": "https://issuer.local.invalid", "JwtAudience": "dealflow-local"}


@dataclass(frozen=True)
class Refusal:
    function: str
    role: str
    action: str
    resource: str
    call: str  # service.Operation as botocore names it

    def __str__(self) -> str:
        return f"{self.function} may not {self.action} on {self.resource} ({self.call}; role {self.role})"


class IamContractBroken(AssertionError):
    """Functions made calls their roles in template.yaml do not allow."""

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        lines = sorted({str(r) for r in refusals})
        super().__init__(
            "AWS would refuse these calls (IAM contract, see README 'The IAM contract'):\n  "
            + "\n  ".join(lines)
            + "\nGrant them in the function's Policies in template.yaml, or stop making the call."
        )


class IamContract:
    """The roles of one template, the calls judged against them, and what they used."""

    def __init__(
        self,
        translated: dict[str, Any],
        local: LocalAws,
        code_uris: dict[str, str],
        *,
        lookups: Any = None,
        reported: bool = True,
    ) -> None:
        defaults = {k: str(p["Default"]) for k, p in translated.get("Parameters", {}).items() if "Default" in p}
        self.local = local
        self.reported = reported  # counted in the session's unused-grant summary
        self._resources: dict[str, Any] = translated["Resources"]
        self._intrinsics = Intrinsics(self._resources, local, defaults)
        self.roles: dict[str, Role] = function_roles(translated, self._intrinsics)
        self._code = {uri: function for function, uri in code_uris.items()}
        self._lookups = lookups  # a harness session: reads parameters' keys, never judged itself
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._iterators: dict[str, str] = {}  # shard iterator -> stream ARN
        self.refusals: list[Refusal] = []
        self.used: set[Grant] = set()
        self.calls: Counter[str] = Counter()  # judged calls per function

    @classmethod
    def from_template(
        cls, template: Path | dict[str, Any], local: LocalAws, *, lookups: Any = None, reported: bool = True
    ) -> IamContract:
        """The contract of a template file (translated once per process) or of a template given
        as data (translated now; for tests that change one in memory)."""
        parameters = {**_REQUIRED_PARAMETERS, **local.parameters}
        if isinstance(template, Path):
            source, translated = source_file(template), translated_file(template, parameters, local.region)
        else:
            source, translated = template, translate(template, parameters, local.region)
        code_uris = {
            name: str(r["Properties"]["CodeUri"])
            for name, r in source["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"
        }
        return cls(translated, local, code_uris, lookups=lookups, reported=reported)

    def judge_by(self, template: dict[str, Any]) -> None:
        """From now on judge against the roles of ``template`` (a SAM template a test changed in
        memory). Handlers keep running as before; this contract leaves the session's summary."""
        other = IamContract.from_template(template, self.local, lookups=self._lookups, reported=False)
        self._resources, self._intrinsics, self.roles = other._resources, other._intrinsics, other.roles
        self.reported = False

    # ---- who is running ----------------------------------------------------------------------

    def function_for(self, code_uri: str) -> str:
        """The function whose CodeUri is ``code_uri`` (``functions/dispatcher``)."""
        return self._code[code_uri]

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        """AWS calls made in this block are ``function``'s, judged against its role."""
        if function not in self.roles:
            raise KeyError(f"{function} is not a function of the template")
        token = _RUNNING.set((self, function))
        try:
            yield
        finally:
            _RUNNING.reset(token)

    def handler(self, function: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """``handler`` running as ``function``; a durable invocation's service client reports the
        checkpoint calls the durable SDK makes on AWS."""

        if "DurableConfig" in self._resources[function]["Properties"]:
            handler = _durable_running(self, function, handler)

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            with self.running(function):
                return handler(_with_durable_calls(event, self, function), context)

        return invoke

    def environment(self, function: str, name: str) -> str:
        """An environment variable of ``function`` as template.yaml sets it on AWS."""
        variables = self._resources[function]["Properties"].get("Environment", {}).get("Variables", {})
        if name not in variables:
            raise KeyError(f"{function} has no {name} in template.yaml, yet its code reads it")
        return str(self._intrinsics.resolve(variables[name]))

    # ---- judging -----------------------------------------------------------------------------

    def judge(self, function: str, service: str, operation: str, params: dict[str, Any]) -> Refusal | None:
        """Check one call of ``function``; returns the first refusal (all are remembered)."""
        role = self.roles[function]
        wanted = needs(service, operation, params, self.local, self.stream_of)
        wanted += self._decrypt_needs(service, operation, params)
        refused: list[Refusal] = []
        with self._lock:
            self.calls[function] += 1
            for need in wanted:
                decision = role.decide(need.action, need.resource)
                if decision.allowed:
                    self.used.update(decision.by)
                else:
                    refused.append(Refusal(function, role.name, need.action, need.resource, f"{service}.{operation}"))
            self.refusals += refused
        return refused[0] if refused else None

    def check(self, function: str, service: str, operation: str, params: dict[str, Any]) -> None:
        """A call the harness answers in-process, judged as if sent: raises AWS's refusal (a
        ClientError) when ``function`` may not make it."""
        refusal = self.judge(function, service, operation, params)
        if refusal is not None:
            raise ClientError(_denied(refusal, self.local)[1], operation)

    def stream_of(self, iterator: str) -> str | None:
        with self._lock:
            return self._iterators.get(iterator)

    def _decrypt_needs(self, service: str, operation: str, params: dict[str, Any]) -> list[Need]:
        """Reading a SecureString decrypts it with its key: one of the account's own keys (not
        aws/ssm, whose key policy lets the account use it) needs kms:Decrypt on that key."""
        if service != "ssm" or not params.get("WithDecryption") or self._lookups is None:
            return []
        names = params.get("Names") or [params.get("Name")]
        with outside_functions():
            found = self._lookup("ssm").describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [n for n in names if n]}]
            )["Parameters"]
            keys = {p["KeyId"] for p in found if p.get("Type") == "SecureString" and p.get("KeyId")}
            keys.discard("alias/aws/ssm")
            arns = {self._lookup("kms").describe_key(KeyId=k)["KeyMetadata"]["Arn"] if "/" in k else k for k in keys}
        return [Need("kms:Decrypt", self.local.key_arn(arn)) for arn in sorted(arns)]

    def _lookup(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._lookups.client(service)
            return self._clients[service]

    def remember_iterator(self, iterator: str | None, stream: str) -> None:
        if iterator:
            with self._lock:
                self._iterators[iterator] = stream

    def verify(self) -> None:
        """Raise IamContractBroken if any call was refused."""
        if self.refusals:
            raise IamContractBroken(list(self.refusals))

    # ---- hooks on boto3 sessions -------------------------------------------------------------

    @staticmethod
    def install(*sessions: Any) -> None:
        """Judge calls of clients these boto3 sessions create from now on (idempotent)."""
        for session in sessions:
            session.events.register("before-parameter-build", _judge_call, unique_id="dealflow-iam-judge")
            session.events.register("before-call", _refuse_call, unique_id="dealflow-iam-refuse")
            session.events.register(
                "after-call.dynamodb-streams", _follow_iterators, unique_id="dealflow-iam-iterators"
            )


@contextmanager
def outside_functions() -> Iterator[None]:
    """The escape hatch for harness code running inside a handler's call: not a function's."""
    token = _RUNNING.set(None)
    try:
        yield
    finally:
        _RUNNING.reset(token)


def _judge_call(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    running = _RUNNING.get()
    if running is None:
        return
    contract, function = running
    service = model.service_model.service_name
    refusal = contract.judge(function, service, model.name, params)
    if refusal is not None:
        context[_REFUSAL] = (refusal, contract.local)
    if service == "dynamodbstreams":
        stream = params.get("StreamArn") or contract.stream_of(params.get("ShardIterator", ""))
        context[_STREAM] = (contract, stream)


def _refuse_call(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    refused = context.get(_REFUSAL)
    return _denied(*refused) if refused else None


def _follow_iterators(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    followed = context.get(_STREAM)
    if followed and followed[1]:
        contract, stream = followed
        contract.remember_iterator(parsed.get("ShardIterator") or parsed.get("NextShardIterator"), stream)


def _denied(refusal: Refusal, local: LocalAws) -> tuple[AWSResponse, dict[str, Any]]:
    """AWS's answer to a call the role does not allow, as botocore would have parsed it."""
    service = refusal.call.split(".", 1)[0]
    message = (
        f"User: arn:{local.partition}:sts::{local.account}:assumed-role/{refusal.role}/{refusal.function} "
        f"is not authorized to perform: {refusal.action} on resource: {refusal.resource} because no "
        f"identity-based policy allows the {refusal.action} action (local IAM contract: template.yaml)"
    )
    parsed = {
        "Error": {"Code": _ERROR_CODES.get(service, "AccessDeniedException"), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "local-iam-contract"},
    }
    http = AWSResponse("", 400, {}, HTTPResponse(body=io.BytesIO(b""), status=400, preload_content=False))
    return http, parsed


# ---- Lambda APIs the harness answers in-process ------------------------------------------------


class RunStarterCalls:
    """A run starter as the functions see it locally: the in-process one, behind the Lambda calls
    ``LambdaRunStarter`` makes on AWS (Invoke of the function's RUNNER_FUNCTION, with the run id as
    the durable execution name; StopDurableExecution of a run's execution). Started or stopped
    outside every handler (by a test), nothing is judged."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def start(self, request: Any) -> bool:
        running = _RUNNING.get()
        if running is not None:
            contract, function = running
            target = contract.environment(function, "RUNNER_FUNCTION")
            params = {"FunctionName": target, "InvocationType": "Event", "DurableExecutionName": request.run_id}
            contract.check(function, "lambda", "Invoke", params)
        return bool(self._inner.start(request))

    def stop(self, execution_id: str) -> bool:
        running = _RUNNING.get()
        if running is not None:
            contract, function = running
            target = contract.environment(function, "RUNNER_FUNCTION")
            runner = target.split(":")[6] if target.startswith("arn:") else target.split(":")[0]
            arn = contract.local.durable_execution_arn(runner, execution_id)
            contract.check(function, "lambda", "StopDurableExecution", {"DurableExecutionArn": arn})
        return bool(self._inner.stop(execution_id))

    def resume(self, callback_id: str, payload: str) -> bool:
        """SendDurableExecutionCallbackSuccess, which Lambda authorizes against the execution the
        callback belongs to (a version-qualified durable execution ARN)."""
        running = _RUNNING.get()
        if running is not None:
            contract, function = running
            target = contract.environment(function, "RUNNER_FUNCTION")
            runner = target.split(":")[6] if target.startswith("arn:") else target.split(":")[0]
            arn = contract.local.durable_execution_arn(runner, self._inner.execution_of_callback(callback_id))
            contract.check(function, "lambda", "SendDurableExecutionCallbackSuccess", {"DurableExecutionArn": arn})
        return bool(self._inner.resume(callback_id, payload))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _DurableCalls:
    """The durable SDK's service client, reporting the Lambda APIs it stands in for. Checkpoints
    may be sent from the SDK's own threads, so the function is fixed here, not read from context."""

    def __init__(self, inner: Any, contract: IamContract, function: str) -> None:
        self._inner, self._contract, self._function = inner, contract, function

    def _check(self, operation: str, arn: str, wrap: Callable[[Exception], Exception]) -> None:
        params = {"DurableExecutionArn": self._contract.local.durable_execution_arn(self._function, arn)}
        try:
            self._contract.check(self._function, "lambda", operation, params)
        except ClientError as refused:
            raise wrap(refused) from None

    def checkpoint(self, durable_execution_arn: str, *args: Any, **kwargs: Any) -> Any:
        from aws_durable_execution_sdk_python.exceptions import CheckpointError

        self._check("CheckpointDurableExecution", durable_execution_arn, CheckpointError.from_exception)
        return self._inner.checkpoint(durable_execution_arn, *args, **kwargs)

    def get_execution_state(self, durable_execution_arn: str, *args: Any, **kwargs: Any) -> Any:
        from aws_durable_execution_sdk_python.exceptions import GetExecutionStateError

        self._check("GetDurableExecutionState", durable_execution_arn, GetExecutionStateError.from_exception)
        return self._inner.get_execution_state(durable_execution_arn, *args, **kwargs)


def _durable_running(contract: IamContract, function: str, handler: Callable[[Any, Any], Any]) -> Any:
    """The durable SDK runs the decorated function in a fresh thread that does not inherit the
    caller's context, so the function is named again inside: the same function, wrapped, is
    decorated anew with ``durable_execution`` (as the runner's app.py does, without options)."""
    from aws_durable_execution_sdk_python import durable_execution

    inner = getattr(handler, "__wrapped__", None)
    if inner is None or getattr(handler, "__code__", None) is not durable_execution(_probe).__code__:
        raise TypeError(f"{function}'s handler is not a plain @durable_execution function; see dealflow.local.iam")

    @functools.wraps(inner)
    def running(event: Any, context: Any) -> Any:
        with contract.running(function):
            return inner(event, context)

    return durable_execution(running)


def _probe(event: Any, context: Any) -> None:
    """Decorated only to compare code objects with: every durable_execution wrapper shares one."""


def _with_durable_calls(event: Any, contract: IamContract, function: str) -> Any:
    from aws_durable_execution_sdk_python.execution import DurableExecutionInvocationInputWithClient

    if not isinstance(event, DurableExecutionInvocationInputWithClient):
        return event
    return dataclasses.replace(event, service_client=_DurableCalls(event.service_client, contract, function))
