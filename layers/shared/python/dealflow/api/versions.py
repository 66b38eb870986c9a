"""Saved versions of automation, pipelines, fields and constants, the same four routes for each:
``…/versions`` (newest first, paged), ``…/versions/{version}``, ``…/diff?from=&to=`` and
``POST …/rollback``. A rollback saves the old content as a new version through the very save its
PUT uses (the same checks, the same 409s and 422s); the history itself never changes. Versions
outlive what they are of: a deleted automation's history can still be read."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from dealflow.api.automation import save_automation
from dealflow.api.context import Caller, DepsProvider, caller, known
from dealflow.api.definitions import note_of, write_versioned
from dealflow.api.deps import Deps
from dealflow.api.errors import Invalid, NotFound
from dealflow.api.paging import MAX_TOKEN, PAGED, seal, unseal
from dealflow.api.pipelines import save_pipeline
from dealflow.api.values import save_value
from dealflow.authoring.versions import differences
from dealflow.model import FieldDefinition, Pipeline, TypedValue
from dealflow.model.base import stored
from dealflow.model.catalog import AUTOMATION_MODELS
from dealflow.model.versions import Rollback, SavedVersion, VersionDiff, VersionNote, VersionPage, VersionSummary
from dealflow.store.history import VersionedKind

MAX_PAGE = 100
_BY_KIND = {model.model_fields["kind"].default: model for model in AUTOMATION_MODELS}
# (deps, caller, id, old content at the current version, current content, note) → saved
Restore = Callable[[Deps, Caller, str, Any, Any, VersionNote], object]


@dataclass(frozen=True)
class Versioned:
    """One kind of definition whose saves are kept: where its routes hang, how its current content
    is read, how a saved body is read back, and how an old content is saved again (``restore``:
    given the old content with the current one's version, as a PUT would send it)."""

    kind: VersionedKind
    path: str  # the resource's route, its id parameter in angle brackets
    tag: str
    current: Callable[[Deps, Caller, str], Any]
    parse: Callable[[dict[str, Any]], BaseModel]
    restore: Restore


def _automation(body: dict[str, Any]) -> BaseModel:
    return stored(_BY_KIND[body.get("kind", "rule")], body)


def _restore_field(d: Deps, who: Caller, code: str, old: FieldDefinition, current: Any, note: VersionNote) -> object:
    return write_versioned(d, who.tenant_id, f"field '{code}'", current, old, note)


KINDS: tuple[Versioned, ...] = (
    Versioned(
        "automation",
        "/automation/<automation_id>",
        "automation",
        lambda d, who, item_id: known(d, who).by_id.get(item_id),
        _automation,
        lambda d, who, _id, old, current, note: save_automation(d, who, old, note),
    ),
    Versioned(
        "pipeline",
        "/pipelines/<pipeline_id>",
        "pipelines",
        lambda d, who, item_id: known(d, who).pipelines.get(item_id),
        lambda body: stored(Pipeline, body),
        lambda d, who, _id, old, current, note: save_pipeline(d, who, old, note),
    ),
    Versioned(
        "field",
        "/fields/<code>",
        "fields",
        lambda d, who, item_id: known(d, who).fields.get(item_id),
        lambda body: stored(FieldDefinition, body),
        _restore_field,
    ),
    Versioned(
        "constant",
        "/constants/<name>",
        "constants",
        lambda d, who, item_id: d.automation.get_tenant(who.tenant_id).constants.get(item_id),
        lambda body: stored(TypedValue, body),
        lambda d, who, name, old, current, note: save_value(d, who, "constants", name, old, note),
    ),
)


def _shown(versioned: Versioned, found: SavedVersion) -> SavedVersion:
    """A saved version with its body as the resource's GET shows it (numbers as numbers)."""
    return found.model_copy(update={"body": versioned.parse(found.body).model_dump(mode="json", by_alias=True)})


def _named(parameter: str, method: Callable[..., Any], path: str, **options: Any) -> Callable[[Any], Any]:
    """``method(path, **options)`` as a decorator of a route written with ``item_id``: the route is
    registered with its resource's own name for the id (``automation_id``, ``code``, …)."""

    def register(route: Callable[..., Any]) -> Any:
        signature = inspect.signature(route)
        renamed = [p.replace(name=parameter) if p.name == "item_id" else p for p in signature.parameters.values()]

        @functools.wraps(route)
        def named(**kwargs: Any) -> Any:
            return route(item_id=kwargs.pop(parameter), **kwargs)

        named.__signature__ = signature.replace(parameters=renamed)  # type: ignore[attr-defined]
        return method(path, **options)(named)

    return register


def _routes(r: Router, deps: DepsProvider, versioned: Versioned) -> None:
    base, kind, tags = versioned.path, versioned.kind, [versioned.tag]
    parameter = base.rsplit("<", 1)[1].rstrip(">")  # keeps its resource's name, so its pattern (api.paths)

    def one(item_id: str, number: int) -> SavedVersion:
        found = deps().automation.history.get(caller(r).tenant_id, kind, item_id, number)
        if found is None:
            raise NotFound(f"version {number} of {kind}", item_id, id_key="id")
        return _shown(versioned, found)

    @_named(
        parameter,
        r.get,
        f"{base}/versions",
        summary=f"Saved versions of one {kind}, newest first",
        tags=tags,
        operation_id=f"list_{kind}_versions",
        responses=PAGED,
        description="Who saved each, when and why (the `X-Version-Message` header of the save). "
        "A deleted one's history stays readable.",
    )
    def list_versions(
        item_id: str,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Versions per page at most")] = 20,
        next_token: Annotated[str | None, Query(max_length=MAX_TOKEN, description="From the previous page")] = None,
    ) -> VersionPage:
        d, tenant_id = deps(), caller(r).tenant_id
        scope, filters = f"versions:{kind}", {"id": item_id}
        before = unseal(d.page_keys, scope, tenant_id, filters, next_token) if next_token is not None else None
        if before is not None and not isinstance(before, int):
            raise Invalid.field("next_token", "not a token this list gave out; start again without one")
        found, last = d.automation.history.page(tenant_id, kind, item_id, limit, before)
        if not found and before is None and versioned.current(d, caller(r), item_id) is None:
            raise NotFound(kind, item_id)
        token = seal(d.page_keys, scope, tenant_id, filters, last) if last is not None else None
        items = [VersionSummary.model_validate(v.model_dump(exclude={"body"})) for v in found]
        return VersionPage(items=items, next_token=token)

    @_named(
        parameter,
        r.get,
        f"{base}/versions/<version>",
        summary=f"One saved version of a {kind}, whole",
        tags=tags,
        operation_id=f"get_{kind}_version",
    )
    def get_version(item_id: str, version: Annotated[int, Path(ge=1, le=10**9)]) -> SavedVersion:
        return one(item_id, version)

    @_named(
        parameter,
        r.get,
        f"{base}/diff",
        summary=f"What changed between two versions of a {kind}",
        tags=tags,
        operation_id=f"diff_{kind}_versions",
        description="Each difference as a JSON path (list items with an `id` matched by it), the value "
        "before and after, and a line for a person. `to` left out: the newest version; `from` left out: "
        "the version before `to` (so a bare `…/diff` shows what the last save changed).",
    )
    def diff(
        item_id: str,
        from_version: Annotated[
            int | None,
            Query(alias="from", ge=1, le=10**9, description="The older version (default: the one before `to`)"),
        ] = None,
        to_version: Annotated[int | None, Query(alias="to", ge=1, le=10**9, description="The newer version")] = None,
    ) -> VersionDiff:
        if to_version is None:
            newest, _ = deps().automation.history.page(caller(r).tenant_id, kind, item_id, 1)
            if not newest:
                raise NotFound(kind, item_id)
            to_version = newest[0].version
        if from_version is None:
            older, _ = deps().automation.history.page(caller(r).tenant_id, kind, item_id, 1, before=to_version)
            from_version = older[0].version if older else to_version
        before, after = one(item_id, from_version), one(item_id, to_version)
        return VersionDiff(
            from_version=from_version, to_version=to_version, changes=differences(before.body, after.body)
        )

    @_named(
        parameter,
        r.post,
        f"{base}/rollback",
        summary=f"Make an older version of a {kind} current again, or bring a deleted one back (administrators)",
        tags=tags,
        operation_id=f"rollback_{kind}",
        description="Saved as a new version equal to the old one, checked as a PUT is (a reference gone "
        "since is a 422, a removed stage still holding deals a 409). Answers the version now current.",
    )
    def rollback(item_id: str, request: Rollback) -> SavedVersion:
        d, who = deps(), caller(r)
        old = one(item_id, request.version)
        current = versioned.current(d, who, item_id)
        content = versioned.parse(old.body)
        history = d.automation.history
        if hasattr(content, "version"):
            # Written over what is current, as a PUT that read it would be; what was deleted comes
            # back numbered after its last version, so no number ever names two contents.
            newest, _ = history.page(who.tenant_id, kind, item_id, 1)
            at = current.version if current is not None else newest[0].version + 1
            content = content.model_copy(update={"version": at})
        note = note_of(who, request.message or f"rollback to version {request.version}")
        versioned.restore(d, who, item_id, content, current, note)
        now, _ = history.page(who.tenant_id, kind, item_id, 1)
        return _shown(versioned, now[0])


def router(deps: DepsProvider) -> Router:
    r = Router()
    for versioned in KINDS:
        _routes(r, deps, versioned)
    return r
