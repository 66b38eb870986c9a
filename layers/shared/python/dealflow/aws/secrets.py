"""Secrets from SSM Parameter Store: tenants' webhook secrets (the ``SecretSource`` port), their
HTTP request secrets (``HttpSecrets``) and the key page tokens are sealed with (the ``PageKeys``
port), each cached per container."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config

DEFAULT_SECRET_PREFIX = "/dealflow/tenants"
DEFAULT_PAGE_KEY_PARAMETER = "/dealflow/page-token-key"
SECRET_MAX_AGE_SECONDS = 300

# A burst of webhooks on cold containers reads SSM all at once, past Parameter Store's standard
# throughput: botocore's adaptive mode backs off and rate-limits the client itself, and
# ``ParameterStoreSecrets`` retries a few more times on top when that still ends in a throttle.
SSM_MAX_ATTEMPTS = 6  # botocore's count: the first try and five retries
SSM_CLIENT_CONFIG = Config(retries={"mode": "adaptive", "total_max_attempts": SSM_MAX_ATTEMPTS})
THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
THROTTLE_RETRIES = 3
THROTTLE_BACKOFF_SECONDS = 0.2


def secret_name(prefix: str, tenant_id: str) -> str:
    """The SSM parameter holding a tenant's webhook secret(s), one per line."""
    return f"{prefix.rstrip('/')}/{tenant_id}/webhook-secret"


def http_secret_name(prefix: str, tenant_id: str, name: str | None = None) -> str:
    """The SSM parameter of a tenant's HTTP secret header ``name``, or (None) of its outgoing
    signing secret. Both under ``<prefix>/<tenant>/http/``, the only part the runner may read."""
    base = f"{prefix.rstrip('/')}/{tenant_id}/http"
    return f"{base}/headers/{name}" if name is not None else f"{base}/signing-secret"


class MissingPageKey(RuntimeError):
    """The deployment's page-token key parameter does not exist (or is blank)."""


def _error_code(exc: GetParameterError) -> str | None:
    cause = exc.__cause__ or exc.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code")
    return str(code) if code else None


def _not_found(exc: GetParameterError) -> bool:
    return _error_code(exc) == "ParameterNotFound"


class ParameterStoreSecrets:
    """Webhook secrets from SSM Parameter Store through powertools' parameters utility, cached per
    container for ``max_age`` seconds. ``provider`` is a powertools ``SSMProvider``: the harness
    gives each local stack its own (the utility's module-level default provider would keep one
    boto3 client, and one cache, for the whole process); on AWS its client is built with
    ``SSM_CLIENT_CONFIG``.

    A missing parameter is remembered for ``missing_for`` seconds, so requests naming made-up
    tenants cannot each cost an SSM call (Parameter Store's standard throughput is small).
    A throttled read is tried again up to ``THROTTLE_RETRIES`` times, with jittered exponential
    back-off, so a burst is spread out instead of failing webhooks."""

    def __init__(
        self,
        provider: Any,
        prefix: str = DEFAULT_SECRET_PREFIX,
        *,
        max_age: int = SECRET_MAX_AGE_SECONDS,
        missing_for: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._provider = provider
        self._prefix = prefix.rstrip("/")
        self._max_age = max_age
        self._missing_for = missing_for
        self._missing: dict[str, float] = {}
        self._sleep = sleep

    def name(self, tenant_id: str) -> str:
        return secret_name(self._prefix, tenant_id)

    def secrets(self, tenant_id: str) -> str | None:
        if self._missing.get(tenant_id, 0.0) > time.monotonic():
            return None
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                value = self._provider.get(self.name(tenant_id), decrypt=True, max_age=self._max_age)
                break
            except GetParameterError as exc:
                code = _error_code(exc)
                if code == "ParameterNotFound":
                    if len(self._missing) > 4096:
                        self._missing.clear()
                    self._missing[tenant_id] = time.monotonic() + self._missing_for
                    return None
                if code not in THROTTLED or attempt == THROTTLE_RETRIES:
                    raise
                # Full jitter: containers throttled together must not come back together.
                self._sleep(random.uniform(0, THROTTLE_BACKOFF_SECONDS * 2**attempt))
        return str(value) if str(value).strip() else None

    def clear(self) -> None:
        """Forget cached secrets (the local harness calls this after changing one)."""
        self._missing.clear()
        self._provider.clear_cache()


class ParameterStorePageKeys:
    """The deployment's page-token keys: one SSM parameter (a SecureString), a key per line, read
    through powertools' ``SSMProvider`` and cached per container for ``max_age`` seconds. The first
    line seals new tokens and every line opens them, so a key is rotated by putting the new one
    first and dropping the old one once the pages in flight have expired."""

    def __init__(self, provider: Any, name: str = DEFAULT_PAGE_KEY_PARAMETER, *, max_age: int = SECRET_MAX_AGE_SECONDS):
        self._provider = provider
        self.name = name
        self._max_age = max_age

    def keys(self) -> list[bytes]:
        try:
            value = self._provider.get(self.name, decrypt=True, max_age=self._max_age)
        except GetParameterError as exc:
            if _not_found(exc):
                raise MissingPageKey(f"SSM parameter {self.name} (the page-token key) does not exist") from None
            raise
        keys = [line.strip().encode() for line in str(value).splitlines() if line.strip()]
        if not keys:
            raise MissingPageKey(f"SSM parameter {self.name} (the page-token key) is blank")
        return keys

    def clear(self) -> None:
        self._provider.clear_cache()


class ParameterStoreHttpSecrets:
    """``HttpSecrets``: a tenant's secret header values and outgoing signing secret, read from
    SSM (SecureString) through powertools' ``SSMProvider`` and cached per container for
    ``max_age`` seconds. A missing parameter is None (the action fails saying which)."""

    def __init__(self, provider: Any, prefix: str = DEFAULT_SECRET_PREFIX, *, max_age: int = SECRET_MAX_AGE_SECONDS):
        self._provider = provider
        self._prefix = prefix
        self._max_age = max_age

    def _read(self, name: str) -> str | None:
        try:
            value = self._provider.get(name, decrypt=True, max_age=self._max_age)
        except GetParameterError as exc:
            if _not_found(exc):
                return None
            raise
        return str(value) if str(value).strip() else None

    def header(self, tenant_id: str, name: str) -> str | None:
        return self._read(http_secret_name(self._prefix, tenant_id, name))

    def signing(self, tenant_id: str) -> str | None:
        value = self._read(http_secret_name(self._prefix, tenant_id))
        return value.splitlines()[0].strip() if value else None

    def clear(self) -> None:
        self._provider.clear_cache()
