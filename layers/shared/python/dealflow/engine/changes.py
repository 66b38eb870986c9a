"""What one deal change is: created, moved between stages, fields changed, deleted.

A change is worked out from the items as plain dicts (what a stream image holds, decoded), so the
dispatcher reads a record without building a model of the deal; the models (``old``, ``new``,
``stage_entry``) are built from those dicts only when something asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property
from typing import Any

from dealflow.language.conditions import AS_IS as _AS_IS
from dealflow.language.conditions import facts, normalize
from dealflow.model.deal import Contact, Deal, parse_item
from dealflow.model.run import StageEntry
from dealflow.model.tenant import Tenant

# Bookkeeping the engine itself changes on every write; never a reason for automation to fire.
_BOOKKEEPING = frozenset({"version", "updated_at", "caused_by", "copy_ids"})
# What the flat view leaves out: custom fields sit beside the standard ones, causation is no field.
_NOT_IN_VIEW = frozenset({"fields", "caused_by"})
# A stored item leaves out what is empty; the model fills it in. The view must see the same.
_DEFAULTS: dict[str, Any] = {
    name: spec.get_default(call_default_factory=True)
    for name, spec in Deal.model_fields.items()
    if not spec.is_required() and name not in _NOT_IN_VIEW
}
_CONTACT: dict[str, Any] = {name: spec.get_default() for name, spec in Contact.model_fields.items()}

Item = dict[str, Any]
"""A deal or lead as stored: DealsTable's item as plain Python values (numbers as Decimal)."""


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


def _amount(value: Any) -> Any:
    # The model reads an amount written as text or as a number alike; so must the view.
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def view(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A deal as conditions and templates see it: standard and custom fields side by side, every
    standard field present (its model default when the item leaves it out)."""
    if item is None:
        return None
    values = {**_DEFAULTS, **item}
    custom = values.pop("fields", None)
    values.pop("caused_by", None)
    if values["amount"] is not None and type(values["amount"]) is not Decimal:
        values["amount"] = _amount(values["amount"])
    if values["contact"] is not None:
        values["contact"] = {**_CONTACT, **values["contact"]}
    if custom:
        values.update(custom)
    return values


def flat(deal: Deal | None) -> dict[str, Any] | None:
    """A deal model's flat view (see ``view``)."""
    return None if deal is None else view(deal.model_dump())


def tenant_facts(tenant: Tenant) -> dict[str, Any]:
    """What a rule's, tunnel's or trigger's condition sees beside the deal: ``const.<name>`` and
    ``var.<name>`` (the API accepts those names in conditions, so they must not read as empty)."""
    return {
        **{f"var.{k}": v for k, v in tenant.values("variables").items()},
        **{f"const.{k}": v for k, v in tenant.values("constants").items()},
    }


_MISSING: Any = object()


def _same(value: Any) -> Any:
    return value


def _standard(name: str, value: Any) -> Any:
    """A standard field's value as the view shows it (``_MISSING``: left out of the item)."""
    if value is _MISSING:
        return _DEFAULTS.get(name)
    if name == "amount" and value is not None and type(value) is not Decimal:
        return _amount(value)
    if name == "contact" and value is not None:
        return {**_CONTACT, **value}
    return value


class DealChange:
    """One change of an item. The new item is decoded in full (a run request carries it); the old
    one only when something reads it (processes, ``changed*`` conditions, field–step workflows)."""

    def __init__(
        self,
        kind: ChangeKind,
        tenant_id: str,
        deal_id: str,
        new_item: Item | None,
        entered: tuple[str, str] | None,
        old_source: Mapping[str, Any] | None = None,
        decode: Callable[[Any], Any] = _same,
        *,
        new_source: Mapping[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.tenant_id = tenant_id
        self.deal_id = deal_id
        self.new_item = new_item
        self.entered = entered
        """The (pipeline, stage) the deal entered: on creation, or on a move to another stage."""
        self._old_source = old_source
        self._new_source = new_source
        self._decode = decode

    @cached_property
    def changed_fields(self) -> frozenset[str]:
        """The fields the change changed (bookkeeping aside); every field a new item was created
        with. Worked out when first asked: a move between stages needs it only when automation
        waits for changed fields."""
        if self.new_item is None:
            return frozenset()
        if self._old_source is None:
            after = view(self.new_item) or {}
            return frozenset(k for k, v in after.items() if k not in _BOOKKEEPING and v is not None)
        new = self._new_source if self._new_source is not None else self.new_item
        return frozenset(_changed(self._old_source, new, self.new_item, self._decode))

    def __repr__(self) -> str:
        return (
            f"DealChange({self.kind}, {self.tenant_id}/{self.deal_id}, {sorted(self.changed_fields)}, {self.entered})"
        )

    @cached_property
    def old_item(self) -> Item | None:
        source, decode = self._old_source, self._decode
        if source is None or decode is _same:
            return None if source is None else dict(source)
        return {name: decode(value) for name, value in source.items()}

    @cached_property
    def old(self) -> Deal | None:
        return None if self.old_item is None else parse_item(self.old_item)

    @cached_property
    def new(self) -> Deal | None:
        return None if self.new_item is None else parse_item(self.new_item)

    @cached_property
    def before(self) -> dict[str, Any] | None:
        """The flat view (``view``) of the item before the change."""
        return view(self.old_item)

    @cached_property
    def after(self) -> dict[str, Any] | None:
        return view(self.new_item)

    @cached_property
    def cause(self) -> Mapping[str, Any] | None:
        """The causation of the new item (which run wrote it, how deep the chain is)."""
        return self.new_item.get("caused_by") if self.new_item is not None else None

    @property
    def depth(self) -> int:
        """How many automation writes led here (0 for a person's change)."""
        cause = self.cause
        return int(cause["depth"]) if cause else 0

    @cached_property
    def started_by(self) -> dict[str, Any] | None:
        """The stage entry as plain data, as a run request carries it."""
        if self.entered is None:
            return None
        entry = {"pipeline_id": self.entered[0], "stage_id": self.entered[1]}
        old = self._old_source
        if old is not None:
            entry["from_pipeline_id"] = self._decode(old["pipeline_id"])
            entry["from_stage_id"] = self._decode(old["stage_id"])
        return entry

    @cached_property
    def stage_entry(self) -> StageEntry | None:
        """Set when the deal entered a stage: on creation, or on a move to another stage."""
        entry = self.started_by
        return None if entry is None else StageEntry.model_construct(**entry)

    def facts(self, names: Iterable[str] | None = None, *, before: bool = False) -> dict[str, Any] | None:
        """The item now (or ``before`` the change) as conditions read it, values normalised once:
        only the ``names`` given (the fields the tenant's conditions read), or every field."""
        item = self.old_item if before else self.new_item
        if item is None:
            return None
        if names is None:
            return facts(view(item))
        custom = item.get("fields") or {}
        found = {}
        for name in names:
            value = custom[name] if name in custom else _standard(name, item.get(name, _MISSING))
            found[name] = value if type(value) in _AS_IS else normalize(value)
        return found


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], new_item: Item, decode: Callable[[Any], Any]) -> set[str]:
    """The fields that differ between two stored items, as their flat views would show them."""
    found: set[str] = set()
    for name, now in new.items():
        was = old.get(name)
        if was == now or name in _BOOKKEEPING:  # the same attribute, whatever its encoding
            continue
        if name == "fields":
            was_custom, now_custom = (decode(was) if was is not None else {}), new_item.get("fields") or {}
            found.update(k for k in was_custom.keys() | now_custom.keys() if was_custom.get(k) != now_custom.get(k))
        elif _standard(name, _MISSING if was is None else decode(was)) != _standard(name, new_item[name]):
            found.add(name)
    for name in old.keys() - new.keys():  # left out of the new item: its default, or no custom field at all
        if name == "fields":
            found.update(k for k, v in decode(old[name]).items() if v is not None)
        elif name not in _BOOKKEEPING and _standard(name, decode(old[name])) != _standard(name, _MISSING):
            found.add(name)
    return found


def item_change(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, decode: Callable[[Any], Any] = _same
) -> DealChange:
    """The change between two stored items (either may be missing: created, deleted). Given
    ``decode`` (``dealflow.engine.records.value``), the items are DynamoDB JSON: the new one is
    decoded in full, of the old one only what is read (``changed_fields`` decodes just the
    attributes that differ from the new one's, and only when something asks)."""
    if new is None:
        if old is None:
            raise ValueError("a change needs an old or a new image")
        ids = decode(old["tenant_id"]), decode(old["id"])
        return DealChange(ChangeKind.DELETED, *ids, None, None, old, decode)
    new_item = dict(new) if decode is _same else {name: a["S"] if "S" in a else decode(a) for name, a in new.items()}
    place = (new_item["pipeline_id"], new_item["stage_id"])
    if old is None:
        return DealChange(ChangeKind.CREATED, new_item["tenant_id"], new_item["id"], new_item, place)
    entered = None if (old["pipeline_id"], old["stage_id"]) == (new["pipeline_id"], new["stage_id"]) else place
    return DealChange(
        ChangeKind.UPDATED, new_item["tenant_id"], new_item["id"], new_item, entered, old, decode, new_source=new
    )


def diff(old: Deal | None, new: Deal | None) -> DealChange:
    """The change between two models of an item (see ``item_change``)."""
    change = item_change(
        None if old is None else old.model_dump(exclude_none=True),
        None if new is None else new.model_dump(exclude_none=True),
    )
    # The models are at hand: the change need not build them again.
    change.__dict__.update(old=old, new=new)
    return change
