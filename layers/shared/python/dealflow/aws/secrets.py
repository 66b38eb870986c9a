"""Tenants' webhook secrets from SSM Parameter Store (the ``SecretSource`` port)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

DEFAULT_SECRET_PREFIX = "/dealflow/tenants"
SECRET_MAX_AGE_SECONDS = 300


def secret_name(prefix: str, tenant_id: str) -> str:
    """The SSM parameter holding a tenant's webhook secret(s), one per line."""
    return f"{prefix.rstrip('/')}/{tenant_id}/webhook-secret"


class ParameterStoreSecrets:
    """Webhook secrets from SSM Parameter Store through powertools' parameters utility, cached per
    container for ``max_age`` seconds. ``provider`` is a powertools ``SSMProvider``: the harness
    gives each local stack its own (the utility's module-level default provider would keep one
    boto3 client, and one cache, for the whole process).

    A missing parameter is remembered for ``missing_for`` seconds, so requests naming made-up
    tenants cannot each cost an SSM call (Parameter Store's standard throughput is small)."""

    def __init__(
        self,
        provider: Any,
        prefix: str = DEFAULT_SECRET_PREFIX,
        *,
        max_age: int = SECRET_MAX_AGE_SECONDS,
        missing_for: float = 60.0,
    ) -> None:
        self._provider = provider
        self._prefix = prefix.rstrip("/")
        self._max_age = max_age
        self._missing_for = missing_for
        self._missing: dict[str, float] = {}

    def name(self, tenant_id: str) -> str:
        return secret_name(self._prefix, tenant_id)

    def secrets(self, tenant_id: str) -> str | None:
        if self._missing.get(tenant_id, 0.0) > time.monotonic():
            return None
        try:
            value = self._provider.get(self.name(tenant_id), decrypt=True, max_age=self._max_age)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            code = getattr(cause, "response", {}).get("Error", {}).get("Code")
            if code == "ParameterNotFound":
                if len(self._missing) > 4096:
                    self._missing.clear()
                self._missing[tenant_id] = time.monotonic() + self._missing_for
                return None
            raise
        return str(value) if str(value).strip() else None

    def clear(self) -> None:
        """Forget cached secrets (the local harness calls this after changing one)."""
        self._missing.clear()
        self._provider.clear_cache()
