"""The one workload every bench measures: a tenant with many stage rules, and the DynamoDB stream
records of its deal changes exactly as Lambda hands them to the dispatcher.

Seeded: the same arguments give the same tenant and the same records, byte for byte.

- Tenant: ``rules`` stage rules spread round-robin over ``pipelines`` x ``stages`` (about 2% switched
  off), four custom fields (``what_we_sell`` and ``industry`` lists, ``probability`` number,
  ``source`` text). Conditions (``conditions="mixed"``): about 40% none; the rest amount
  thresholds, list tests (equals / in / not in), a case-blind text search in the title, a number
  field, an emptiness test, in all-of and any-of groups. ``conditions="never"`` gives every rule
  the same condition plus one clause no generated deal meets, so every condition is evaluated in
  full and none holds: nothing starts.
- Stream: Lambda's DynamoDB-stream records (``NEW_AND_OLD_IMAGES``, images in DynamoDB JSON as
  ``dealflow.store`` writes deals): about 80% stage moves (1 in 10 to another pipeline), 12%
  field-only edits (amount, custom fields) and 8% creations, over 500 existing deals plus the
  new ones. Every change is a person's (no automation chain depth).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeSerializer

from dealflow.engine.compiled import TenantAutomation, compile_tenant
from dealflow.model import (
    AllOf,
    AnyOf,
    Clause,
    Condition,
    Contact,
    Deal,
    FieldDefinition,
    FieldKind,
    Pipeline,
    Recipients,
    Rule,
    SendEmail,
    Stage,
    Tenant,
    User,
)
from dealflow.store.items import to_item

TENANT = "bench"
STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/DealsTable/stream/2025-01-01T00:00:00.000"
SELLS = ("services", "products", "licenses", "other")
INDUSTRIES = ("retail", "banking", "energy", "public", "health")
SOURCES = ("web form", "referral", "cold call", "trade fair")
COMPANIES = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware")
TITLES = ("new licence", "Renewal 2025", "upsell", "pilot", "framework agreement")
USERS = ("u-anna", "u-piotr", "u-head")
EXISTING_DEALS = 500
_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z: the stream's first record
# No generated deal is worth this much: added to a condition, it makes the whole condition false.
NEVER = Clause(field="amount", op="gt", value=1_000_000_000)

Conditions = Literal["mixed", "never"]


@dataclass(frozen=True)
class Workload:
    tenant: Tenant
    pipelines: list[Pipeline]
    fields: list[FieldDefinition]
    rules: list[Rule]
    edits: list[tuple[Deal | None, Deal]]
    """Each change as (deal before, deal after); ``records[i]`` is ``edits[i]`` on the stream."""
    records: list[dict[str, Any]]

    def definitions(self) -> dict[str, list[Any]]:
        """As the automation store returns them, by stored kind."""
        return {"PIPELINE": list(self.pipelines), "FIELD": list(self.fields), "RULE": list(self.rules)}

    def automation(self) -> TenantAutomation:
        """The tenant's automation compiled as the dispatcher's store compiles it."""
        return compile_tenant(self.tenant, self.definitions())

    def batches(self, size: int = 100) -> list[dict[str, Any]]:
        """The records as the stream mapping's events (``{"Records": [...]}``), ``size`` a batch."""
        return [{"Records": self.records[i : i + size]} for i in range(0, len(self.records), size)]

    def mix(self) -> dict[str, int]:
        moves = sum(1 for old, new in self.edits if old is not None and _place(old) != _place(new))
        created = sum(1 for old, _ in self.edits if old is None)
        return {"stage moves": moves, "creations": created, "field-only edits": len(self.edits) - moves - created}


def _place(deal: Deal) -> tuple[str, str]:
    return deal.pipeline_id, deal.stage_id


def build(
    records: int = 10_000,
    rules: int = 1_000,
    pipelines: int = 20,
    stages: int = 10,
    *,
    seed: int = 7,
    conditions: Conditions = "mixed",
    tenant_id: str = TENANT,
    stream_arn: str = STREAM_ARN,
) -> Workload:
    if min(records, rules, pipelines, stages) < 1 or stages < 2:
        raise ValueError("records, rules and pipelines must be at least 1, stages at least 2")
    rng = random.Random(seed)
    built_pipelines = _pipelines(pipelines, stages)
    built_rules = _rules(rules, built_pipelines, rng, conditions)
    edits = _edits(records, tenant_id, built_pipelines, rng)
    stream = [_stream_record(n, old, new, stream_arn, rng) for n, (old, new) in enumerate(edits)]
    return Workload(_tenant(tenant_id), built_pipelines, _fields(), built_rules, edits, stream)


def _tenant(tenant_id: str) -> Tenant:
    users = [User(id=u, name=u, email=f"{u}@bench.example") for u in USERS]
    return Tenant(id=tenant_id, name="Bench Co", users=users, constants={}, variables={})


def _fields() -> list[FieldDefinition]:
    return [
        FieldDefinition(code="what_we_sell", name="What we sell", kind=FieldKind.LIST, options=list(SELLS)),
        FieldDefinition(code="industry", name="Industry", kind=FieldKind.LIST, options=list(INDUSTRIES)),
        FieldDefinition(code="probability", name="Probability %", kind=FieldKind.NUMBER),
        FieldDefinition(code="source", name="Source", kind=FieldKind.TEXT),
    ]


def _pipelines(count: int, stages: int) -> list[Pipeline]:
    return [
        Pipeline(
            id=f"p{p:02d}",
            name=f"Pipeline {p}",
            stages=[Stage(id=f"s{s:02d}", name=f"Stage {s}") for s in range(stages)],
        )
        for p in range(count)
    ]


def _condition(rng: random.Random) -> Condition | None:
    roll = rng.random()
    if roll < 0.40:
        return None
    if roll < 0.55:
        return Clause(field="amount", op="gt", value=rng.choice((1_000, 5_000, 20_000, 50_000)))
    if roll < 0.65:
        return Clause(field="what_we_sell", op="equals", value="services")
    if roll < 0.75:
        return AllOf(
            all=[
                Clause(field="amount", op="gte", value=rng.choice((2_000, 10_000))),
                Clause(field="what_we_sell", op="in", value=["services", "licenses"]),
            ]
        )
    if roll < 0.82:
        return Clause(field="title", op="contains", value="renewal")
    if roll < 0.90:
        return AnyOf(
            any=[
                Clause(field="probability", op="gte", value=rng.choice((50, 75))),
                Clause(field="amount", op="gt", value=50_000),
            ]
        )
    if roll < 0.95:
        return AllOf(
            all=[Clause(field="source", op="is_not_empty"), Clause(field="industry", op="not_in", value=["public"])]
        )
    return Clause(field="amount", op="lt", value=1_000)


def _rules(count: int, pipelines: Sequence[Pipeline], rng: random.Random, conditions: Conditions) -> list[Rule]:
    pairs = [(p.id, s.id) for p in pipelines for s in p.stages]
    rules = []
    for i in range(count):
        pipeline_id, stage_id = pairs[i % len(pairs)]
        condition = _condition(rng)
        if conditions == "never":
            condition = NEVER if condition is None else AllOf(all=[condition, NEVER])
        rules.append(
            Rule(
                id=f"r{i:05d}",
                name=f"Rule {i}",
                pipeline_id=pipeline_id,
                stage_id=stage_id,
                enabled=rng.random() >= 0.02,
                condition=condition,
                actions=[
                    SendEmail(
                        to=Recipients(responsible=True),
                        subject="{{ deal.title }} moved",
                        body="{{ deal.title }} ({{ deal.amount }} {{ deal.currency }}) entered a stage.",
                    )
                ],
            )
        )
    return rules


def _amount(rng: random.Random) -> Decimal | None:
    if rng.random() < 0.05:
        return None  # not priced yet
    whole = rng.randrange(100, 100_000)
    return Decimal(whole) if rng.random() < 0.7 else Decimal(f"{whole}.{rng.randrange(1, 100):02d}")


def _custom_fields(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {"what_we_sell": rng.choice(SELLS), "industry": rng.choice(INDUSTRIES)}
    if rng.random() < 0.8:
        values["probability"] = rng.randrange(0, 101, 5)
    roll = rng.random()
    if roll < 0.7:
        values["source"] = rng.choice(SOURCES)
    elif roll < 0.75:
        values["source"] = ""  # cleared by hand: empty, not absent
    return values


def _deal(tenant_id: str, deal_id: str, pipelines: Sequence[Pipeline], rng: random.Random, stamp: str) -> Deal:
    pipeline = rng.choice(pipelines)
    company = rng.choice(COMPANIES)
    return Deal(
        tenant_id=tenant_id,
        id=deal_id,
        pipeline_id=pipeline.id,
        stage_id=rng.choice(pipeline.stages).id,
        title=f"{company}: {rng.choice(TITLES)}",
        amount=_amount(rng),
        currency="EUR",
        responsible_id=rng.choice(USERS),
        company=company,
        contact=Contact(name="Nora North", email=f"nora@{company.lower()}.example"),
        fields=_custom_fields(rng),
        created_at=stamp,
        updated_at=stamp,
    )


def _stamp(n: int) -> str:
    return f"2025-01-{1 + n // 86_400 % 28:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


def _edits(
    count: int, tenant_id: str, pipelines: Sequence[Pipeline], rng: random.Random
) -> list[tuple[Deal | None, Deal]]:
    deals = [_deal(tenant_id, f"d{i:06d}", pipelines, rng, _stamp(0)) for i in range(EXISTING_DEALS)]
    by_id = {p.id: p for p in pipelines}
    edits: list[tuple[Deal | None, Deal]] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.08:
            created = _deal(tenant_id, f"d{len(deals):06d}", pipelines, rng, _stamp(n))
            deals.append(created)
            edits.append((None, created))
            continue
        k = rng.randrange(len(deals))
        old = deals[k]
        # What the deal store's save() changes on a person's write, besides the edit itself.
        update: dict[str, Any] = {"version": old.version + 1, "updated_at": _stamp(n)}
        if roll < 0.88:
            pipeline = rng.choice(pipelines) if rng.random() < 0.1 else by_id[old.pipeline_id]
            update["pipeline_id"] = pipeline.id
            update["stage_id"] = rng.choice([s.id for s in pipeline.stages if (pipeline.id, s.id) != _place(old)])
        else:
            update["amount"] = _amount(rng)
            update["fields"] = {**old.fields, **_custom_fields(rng)}
        new = old.model_copy(update=update)
        deals[k] = new
        edits.append((old, new))
    return edits


_SERIALIZE = TypeSerializer().serialize


def dynamodb_image(deal: Deal) -> dict[str, Any]:
    """A deal as DealsTable's stream carries it: the deal store's item in DynamoDB JSON."""
    return {name: _SERIALIZE(value) for name, value in to_item(deal).items()}


def _stream_record(n: int, old: Deal | None, new: Deal, stream_arn: str, rng: random.Random) -> dict[str, Any]:
    images: dict[str, Any] = {"NewImage": dynamodb_image(new)}
    if old is not None:
        images["OldImage"] = dynamodb_image(old)
    keys = {"tenant_id": {"S": new.tenant_id}, "id": {"S": new.id}}
    size = len(json.dumps([keys, images], separators=(",", ":")))
    return {
        "eventID": f"{rng.getrandbits(128):032x}",
        "eventName": "INSERT" if old is None else "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": _EPOCH + n,
            "Keys": keys,
            **images,
            "SequenceNumber": f"{n + 1:021d}",
            "SizeBytes": size,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": stream_arn,
    }
