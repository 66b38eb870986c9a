"""One moto request at a time, as DynamoDB applies each request atomically.

moto's DynamoDB is not thread-safe: ``transact_write_items`` deep-copies a whole table while
another thread's put changes it ("dictionary changed size during iteration"), and two conditional
puts can both pass ``version = :v``. Runs execute on several threads locally, so without this a
tunnel's copy failed in about one demo in ten, for no fault of ours. Serialising moto's handling of
each request (in-process mock and the in-process ``ThreadedMotoServer`` alike) gives local runs
the atomicity AWS gives. A moto server in another process (``--endpoint``) is not covered.
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


def _patch(owner: type, name: str) -> None:
    method = getattr(owner, name)
    if not getattr(method, _PATCHED, False):
        setattr(owner, name, _serialised(method))


def serialise_moto_requests(*, server: bool = False) -> None:
    """Patch moto (once per process) so it handles one request at a time: the in-process mock, and
    with ``server`` also the moto server started in this process (which needs flask)."""
    from moto.core.botocore_stubber import BotocoreStubber

    _patch(BotocoreStubber, "process_request")
    if server:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        _patch(DomainDispatcherApplication, "__call__")
