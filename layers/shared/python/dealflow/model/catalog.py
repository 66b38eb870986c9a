"""Every kind of automation, as one type: what a run carries and what storage holds.

``AutomationModel`` is the one list of kinds (``Automation``: the same, tagged by ``kind``);
everything else that enumerates them — the kind names an API filter or a plan accepts, the names
storage files them under, the tags pydantic writes into an error's location — is derived here."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, Discriminator, Field, Tag
from pydantic.fields import FieldInfo

from dealflow.model.automation import Action, Rule, Trigger, Tunnel
from dealflow.model.conditions import Condition
from dealflow.model.deal import Item
from dealflow.model.fields import FieldDefinition
from dealflow.model.pipeline import Pipeline
from dealflow.model.process import BusinessProcess, Node, WaitEvent
from dealflow.model.workflow import FieldStepWorkflow

AutomationModel = Rule | Tunnel | Trigger | BusinessProcess
Automation = Annotated[AutomationModel, Field(discriminator="kind")]

# Everything a tenant defines and storage keeps one item each: pipelines, fields, automation, workflows.
Definition = Pipeline | FieldDefinition | AutomationModel | FieldStepWorkflow


def _members(union: Any) -> tuple[Any, ...]:
    """The members of a (tagged) union, ``Annotated`` or not."""
    while get_args(union) and isinstance(get_args(union)[-1], FieldInfo | Discriminator):
        union = get_args(union)[0]
    return get_args(union)


def union_tags(union: Any) -> tuple[str, ...]:
    """The tags of a tagged union, in order: each member's ``Tag``, or its discriminator's value."""
    discriminators = [m.discriminator for m in get_args(union)[1:] if isinstance(m, FieldInfo)]
    tags = []
    for member in _members(union):
        tag = next((m.tag for m in get_args(member)[1:] if isinstance(m, Tag)), None)
        if tag is None and isinstance(member, type) and issubclass(member, BaseModel) and discriminators:
            tag = member.model_fields[str(discriminators[0])].default
        if tag is not None:
            tags.append(tag)
    return tuple(tags)


AUTOMATION_MODELS: tuple[type[AutomationModel], ...] = get_args(AutomationModel)
AUTOMATION_KINDS: tuple[str, ...] = union_tags(Automation)
if TYPE_CHECKING:
    AutomationKind = str
else:
    AutomationKind = Literal[AUTOMATION_KINDS]

# The names storage files each kind under (``DEF#RULE#<id>``); a business process is a PROCESS.
STORED_KINDS: dict[str, type[AutomationModel]] = {
    ("PROCESS" if kind == "business_process" else kind.upper()): model
    for kind, model in zip(AUTOMATION_KINDS, AUTOMATION_MODELS, strict=True)
}

# Every tag pydantic puts into an error's location inside a union value ("rule", "send_email",
# "clause", "lead", …); a person wants the path as written, without them.
UNION_TAGS: frozenset[str] = frozenset(
    tag for union in (Automation, Action, Node, Condition, Item, WaitEvent) for tag in union_tags(union)
)


def content_digest(definition: BaseModel) -> str:
    """What tells two contents of one saved version apart: the store keys each saved version by it,
    and a run request names its automation by it (the harness saves edits without bumping the
    version; a failed save may leave a version item nothing names)."""
    return hashlib.sha256(definition.model_dump_json().encode()).hexdigest()[:16]
