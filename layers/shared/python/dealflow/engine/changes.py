"""What one deal change is: created, moved between stages, fields changed, deleted.

A change is worked out from the items as plain dicts (what a stream image holds, decoded), so the
dispatcher reads a record without building a model of the deal; the models (``old``, ``new``,
``stage_entry``) are built from those dicts only when something asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from dealflow.language.conditions import AS_IS as _AS_IS
from dealflow.language.conditions import facts, normalize

if TYPE_CHECKING:  # the dispatcher imports this module: models load when first used (cold start)
    from dealflow.model.deal import Deal
    from dealflow.model.run import StageEntry
    from dealflow.model.tenant import Tenant

# Bookkeeping the engine itself changes on every write; never a reason for automation to fire.
_BOOKKEEPING = frozenset({"version", "updated_at", "caused_by", "copy_ids"})
# What the flat view leaves out: custom fields sit beside the standard ones, causation is no field.
_NOT_IN_VIEW = frozenset({"fields", "caused_by"})


@cache
def _defaults() -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored item leaves out what is empty; the model fills it in, and the view must see the
    same: the deal's defaults, and its contact's. Read from the models when first needed."""
    from dealflow.model.deal import Contact, Deal

    deal = {
        name: spec.get_default(call_default_factory=True)
        for name, spec in Deal.model_fields.items()
        if not spec.is_required() and name not in _NOT_IN_VIEW
    }
    return deal, {name: spec.get_default() for name, spec in Contact.model_fields.items()}


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
    defaults, contact = _defaults()
    values = {**defaults, **item}
    custom = values.pop("fields", None)
    values.pop("caused_by", None)
    if values["amount"] is not None and type(values["amount"]) is not Decimal:
        values["amount"] = _amount(values["amount"])
    if values["contact"] is not None:
        values["contact"] = {**contact, **values["contact"]}
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


# The standard fields whose stored value the view reads otherwise (``_standard``).
_VIEWED = frozenset({"amount", "contact"})


def _standard(name: str, value: Any) -> Any:
    """A standard field's value as the view shows it (``_MISSING``: left out of the item)."""
    if value is _MISSING:
        return _defaults()[0].get(name)
    if name == "amount" and value is not None and type(value) is not Decimal:
        return _amount(value)
    if name == "contact" and value is not None:
        return {**_defaults()[1], **value}
    return value


class DealChange:
    """One change of an item. Nothing of either item is decoded up front but its keys and where
    the deal is: what the dispatcher reads (the fields conditions read, its causation) is decoded
    attribute by attribute; the whole new item (``new_item``) and the old one (``old_item``) only
    when something asks for them (processes, ``changed*`` conditions, field–step workflows, the
    models). The dispatcher's per-record path reads the plain attributes set here, not cached
    properties (a first read of one costs a lock)."""

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
        # DynamoDB JSON to decode as it is read, or values as they are (given decoded, or no decode).
        self._stream = decode is not _same
        if new_item is not None or new_source is None:
            self.__dict__["new_item"] = new_item  # decoded already (or there is none)
            new_source, self._stream = new_item, False
        self.entered = entered
        """The (pipeline, stage) the deal entered: on creation, or on a move to another stage."""
        self._old_source = old_source
        self._new_source = new_source
        self._decode = decode
        self._started_by: dict[str, Any] | None = None
        cause = self.value("caused_by")
        self.cause: Mapping[str, Any] | None = cause
        """The causation of the new item (which run wrote it, how deep the chain is)."""
        self.depth = int(cause["depth"]) if cause else 0
        """How many automation writes led here (0 for a person's change)."""
        self.entity: str = self._read("entity", None) or "deal"
        """What the item is: a deal or a lead."""

    def _read(self, name: str, missing: Any = _MISSING) -> Any:
        """One attribute of the new item, decoded (``missing`` when it has none)."""
        source = self._new_source
        if source is None:
            return missing
        if not self._stream:
            return source.get(name, missing)
        raw = source.get(name)
        if raw is None:
            return missing
        return raw["S"] if "S" in raw else self._decode(raw)

    def value(self, name: str) -> Any:
        """One attribute of the new item (None when it has none), decoding only that attribute."""
        return self._read(name, None)

    @cached_property
    def new_item(self) -> Item | None:
        """The new item in full, decoded when first asked for."""
        source, decode = self._new_source, self._decode
        if source is None:
            return None
        if not self._stream:
            return dict(source)
        return {name: a["S"] if "S" in a else decode(a) for name, a in source.items()}

    @cached_property
    def changed_fields(self) -> frozenset[str]:
        """The fields the change changed (bookkeeping aside); every field a new item was created
        with. Worked out when first asked: a move between stages needs it only when automation
        waits for changed fields."""
        if self.kind is ChangeKind.DELETED:
            return frozenset()
        if self._old_source is None:
            after = view(self.new_item) or {}
            return frozenset(k for k, v in after.items() if k not in _BOOKKEEPING and v is not None)
        if self._stream or self._decode is _same:
            assert self._new_source is not None
            return frozenset(_changed(self._old_source, self._new_source, self._decode))
        assert self.old_item is not None and self.new_item is not None  # the new item was given decoded
        return frozenset(_changed(self.old_item, self.new_item, _same))

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
        from dealflow.model.deal import parse_item

        return None if self.old_item is None else parse_item(self.old_item)

    @cached_property
    def new(self) -> Deal | None:
        from dealflow.model.deal import parse_item

        return None if self.new_item is None else parse_item(self.new_item)

    @cached_property
    def before(self) -> dict[str, Any] | None:
        """The flat view (``view``) of the item before the change."""
        return view(self.old_item)

    @cached_property
    def after(self) -> dict[str, Any] | None:
        return view(self.new_item)

    @property
    def started_by(self) -> dict[str, Any] | None:
        """The stage entry as plain data, as a run request carries it."""
        if self._started_by is None and self.entered is not None:
            entry = {"pipeline_id": self.entered[0], "stage_id": self.entered[1]}
            old = self._old_source
            if old is not None:
                entry["from_pipeline_id"] = _key(old["pipeline_id"], self._decode)
                entry["from_stage_id"] = _key(old["stage_id"], self._decode)
            self._started_by = entry
        return self._started_by

    @cached_property
    def stage_entry(self) -> StageEntry | None:
        """Set when the deal entered a stage: on creation, or on a move to another stage."""
        entry = self.started_by
        from dealflow.model.run import StageEntry

        return None if entry is None else StageEntry.model_construct(**entry)

    def facts(self, names: Iterable[str] | None = None, *, before: bool = False) -> dict[str, Any] | None:
        """The item now (or ``before`` the change) as conditions read it, values normalised once:
        only the ``names`` given (the fields the tenant's conditions read), or every field. Of the
        new item only those attributes are decoded."""
        if not before and names is not None and self._stream:
            return self._stream_facts(names)
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

    def _stream_facts(self, names: Iterable[str]) -> dict[str, Any]:
        """``facts`` of names read straight from the new image's DynamoDB JSON: custom fields
        first (as the flat view has them), then standard ones; only these attributes decoded."""
        source, decode = self._new_source, self._decode
        assert source is not None
        fields = source.get("fields")
        custom = fields.get("M") if fields is not None else None
        found = {}
        for name in names:
            raw = custom.get(name) if custom else None
            if raw is not None:
                value = raw["S"] if "S" in raw else decode(raw)
            else:
                raw = source.get(name)
                if raw is None or name in _VIEWED:
                    value = _standard(name, _MISSING if raw is None else decode(raw))
                else:
                    value = raw["S"] if "S" in raw else decode(raw)
            found[name] = value if type(value) in _AS_IS else normalize(value)
        return found


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], decode: Callable[[Any], Any]) -> set[str]:
    """The fields that differ between two stored items, as their flat views would show them (of
    either, only the attributes that differ are decoded)."""
    found: set[str] = set()
    for name, now in new.items():
        was = old.get(name)
        if was == now or name in _BOOKKEEPING:  # the same attribute, whatever its encoding
            continue
        if name == "fields":
            was_custom, now_custom = (decode(was) if was is not None else {}), decode(now) or {}
            found.update(k for k in was_custom.keys() | now_custom.keys() if was_custom.get(k) != now_custom.get(k))
        elif _standard(name, _MISSING if was is None else decode(was)) != _standard(name, decode(now)):
            found.add(name)
    for name in old.keys() - new.keys():  # left out of the new item: its default, or no custom field at all
        if name == "fields":
            found.update(k for k, v in decode(old[name]).items() if v is not None)
        elif name not in _BOOKKEEPING and _standard(name, decode(old[name])) != _standard(name, _MISSING):
            found.add(name)
    return found


def touched(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether two stored items differ in anything but bookkeeping, compared as stored (no value
    decoded): False means no field changed; True, that one may have (``changed_fields`` says)."""
    for name, now in new.items():
        if name not in _BOOKKEEPING and old.get(name) != now:
            return True
    return any(name not in _BOOKKEEPING and name not in new for name in old)


def _key(attribute: Any, decode: Callable[[Any], Any]) -> Any:
    """A key or place attribute (text in DynamoDB JSON: ``{"S": ...}``), decoded."""
    if decode is _same:
        return attribute
    text = attribute.get("S")
    return decode(attribute) if text is None else text


def item_change(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, decode: Callable[[Any], Any] = _same
) -> DealChange:
    """The change between two stored items (either may be missing: created, deleted). Given
    ``decode`` (``dealflow.engine.records.value``), the items are DynamoDB JSON, decoded lazily: up
    front only the keys and where the deal is and was, the rest as it is read (see ``DealChange``;
    ``changed_fields`` decodes just the attributes that differ, and only when something asks)."""
    if new is None:
        if old is None:
            raise ValueError("a change needs an old or a new image")
        ids = _key(old["tenant_id"], decode), _key(old["id"], decode)
        return DealChange(ChangeKind.DELETED, *ids, None, None, old, decode)
    tenant, deal, pipeline, stage = new["tenant_id"], new["id"], new["pipeline_id"], new["stage_id"]
    # Compared as stored, whatever the encoding: a move is a different pipeline or stage attribute.
    moved = old is None or old["pipeline_id"] != pipeline or old["stage_id"] != stage
    if decode is not _same:  # keys and places are text: read inline, not a call per attribute
        tenant, deal = tenant.get("S") or decode(tenant), deal.get("S") or decode(deal)
        if moved:
            pipeline, stage = pipeline.get("S") or decode(pipeline), stage.get("S") or decode(stage)
    kind = ChangeKind.CREATED if old is None else ChangeKind.UPDATED
    return DealChange(kind, tenant, deal, None, (pipeline, stage) if moved else None, old, decode, new_source=new)


def diff(old: Deal | None, new: Deal | None) -> DealChange:
    """The change between two models of an item (see ``item_change``)."""
    change = item_change(
        None if old is None else old.model_dump(exclude_none=True),
        None if new is None else new.model_dump(exclude_none=True),
    )
    # The models are at hand: the change need not build them again.
    change.__dict__.update(old=old, new=new)
    return change
