"""How large the durable engine finds what a run hands it: a step's result, an execution's input.

AWS refuses a checkpoint (and an execution input) over 256 KB, and counts it after the SDK has
serialised it: every value wrapped in a ``{"t": type, "v": value}`` envelope, JSON with non-ASCII
characters escaped (6 bytes each). A run whose step result passes the limit fails after the step's
effect happened, so tests measure with the SDK's own serializer, not with ``len(json.dumps(...))``.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.serdes import serialize


def checkpoint_bytes(result: Any) -> int:
    """A step's result as the durable SDK checkpoints it, in bytes."""
    return len(serialize(None, result, "size", "size").encode())


def input_bytes(payload: str) -> int:
    """An execution's input (the run request, as the run starter sends it), in bytes."""
    return len(payload.encode())
