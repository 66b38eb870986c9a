"""Services built when first used: what a function wires when its container starts, but imports
and builds only with the first call that needs it (``dealflow.runtime``, ``functions/*/app.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class Deferred(Generic[T]):
    """An object built when first used, then used as is: a service whose module loads the models
    (a store, the dispatcher's log) is wired when the container starts, but imported and built
    on the first call that needs it. The AWS clients it wraps are built at once, as ever."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: T | None = None

    def __call__(self) -> T:
        if self._built is None:
            self._built = self._build()
        return self._built

    def proxy(self) -> T:
        """A stand-in with the built object's methods (looked up on it, so it has them all)."""
        return cast(T, _StandIn(self))


class _StandIn:
    __slots__ = ("_deferred",)

    def __init__(self, deferred: Deferred[Any]) -> None:
        self._deferred = deferred

    def __getattr__(self, name: str) -> Any:
        return getattr(self._deferred(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._deferred()(*args, **kwargs)
