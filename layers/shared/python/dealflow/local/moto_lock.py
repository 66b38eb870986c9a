"""One moto request at a time, as DynamoDB applies each request atomically.

moto's DynamoDB is not thread-safe: ``transact_write_items`` deep-copies a whole table while
another thread's put changes it ("dictionary changed size during iteration"), and two conditional
puts can both pass ``version = :v``. Runs execute on several threads locally, so without this a
tunnel's copy failed in about one demo in ten, for no fault of ours. Serialising moto's handling of
each request (in-process mock and the in-process ``ThreadedMotoServer`` alike) gives local runs
the atomicity AWS gives. A moto server in another process (``--endpoint``) is not covered.

boto3's DynamoDB resource is not thread-safe either, on the client side: each client has one
``ConditionExpressionBuilder`` whose placeholder counter every request resets, so two threads
building ``Key(...)`` conditions at once swap ``#n0``/``:v0`` between their requests — a tenant's
Query then reads another key and the tenant looks unknown (one demo in about twenty-five, under
load). On AWS a container runs one invocation at a time; locally, runs share a container on threads,
so the builder's counters are kept per thread (for builders made before the patch too).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_PATCHED = "_dealflow_serialised"


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    setattr(call, _PATCHED, True)
    return call


class _PerThread:
    """An attribute whose value each thread sees on its own. A data descriptor on the class wins
    over the instance's own attribute, so builders that already exist change too."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else getattr(self._local, "value", 0)

    def __set__(self, instance: Any, value: int) -> None:
        self._local.value = value


def _patch(owner: type, name: str) -> None:
    method = getattr(owner, name)
    if not getattr(method, _PATCHED, False):
        setattr(owner, name, _serialised(method))


def serialise_moto_requests(*, server: bool = False) -> None:
    """Patch moto (once per process) so it handles one request at a time: the in-process mock, and
    with ``server`` also the moto server started in this process (which needs flask)."""
    from boto3.dynamodb.conditions import ConditionExpressionBuilder
    from moto.core.botocore_stubber import BotocoreStubber

    _patch(BotocoreStubber, "process_request")
    for counter in ("_name_count", "_value_count"):
        if not isinstance(ConditionExpressionBuilder.__dict__.get(counter), _PerThread):
            setattr(ConditionExpressionBuilder, counter, _PerThread())
    if server:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        _patch(DomainDispatcherApplication, "__call__")
