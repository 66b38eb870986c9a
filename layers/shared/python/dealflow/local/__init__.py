"""Local development harness: moto provisioned from template.yaml, the real DynamoDB stream pumped
into the dispatcher, runner executions in-process through the durable testing SDK, and a clock
you advance by hand. Import ``MotoStack`` from here in your own tests."""

import warnings
from typing import Any

from dealflow.local.stack import DrainReport, Email, MotoStack, Notification


def __getattr__(name: str) -> Any:
    # The harness was called LocalStack, the name of a well-known AWS emulator it is not.
    if name == "LocalStack":
        warnings.warn("dealflow.local.LocalStack is now MotoStack", DeprecationWarning, stacklevel=2)
        return MotoStack
    raise AttributeError(f"module 'dealflow.local' has no attribute '{name}'")


__all__ = ["DrainReport", "Email", "MotoStack", "Notification"]
