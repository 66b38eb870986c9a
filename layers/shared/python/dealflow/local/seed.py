"""``python -m dealflow.local seed [--endpoint URL]``: exactly the data the sample events in events/
name, on a running moto server, so each sample runs as given under ``sam local invoke``.

What it loads: the resources template.yaml declares (only if the server has none yet), the demo
tenant acme (its pipelines, fields, rules, tunnel, triggers and field–step workflow), the deals
the samples name, acme's webhook secret and the page-token key in SSM. Seeding again resets acme
to that state — its deals, run log, records and webhook replay guard are cleared first — and
leaves everything else on the server alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3

from dealflow.aws.secrets import ParameterStoreSecrets
from dealflow.engine.compiled import TenantCompiler
from dealflow.local.provision import ensure_page_key, provision
from dealflow.local.tenants import TENANT, demo_deal, store_acme
from dealflow.model import Deal
from dealflow.store.automation import AutomationStore
from dealflow.store.items import to_item
from dealflow.store.users import TENANT_SK

DEFAULT_ENDPOINT = "http://127.0.0.1:5000"
REGION = "eu-west-1"
SENDER = "automation@dealflow.example"  # the harness's sender, and env.json's SENDER_EMAIL
# Signs events/webhook-invoice-paid.json. A sample, in a public repository: never use it anywhere real.
SAMPLE_WEBHOOK_SECRET = "whsec_acme_sample_do_not_use_in_production"
# provision() names each resource after its logical id in template.yaml; env.json says the same.
DEALS_TABLE, AUTOMATION_TABLE = "DealsTable", "AutomationTable"


def sample_deals() -> list[Deal]:
    """The deals the sample events name, as DealsTable holds them when the events happen.

    deal-1001 has just been closed won (events/dispatcher-stream.json's MODIFY record shows that
    write, events/runner-start.json a run it started); deal-1002 has just been created (the INSERT
    record); deal-1003 is in negotiation, waiting for the invoice events/webhook-invoice-paid.json
    reports paid."""

    def stored(deal: Deal, stage_id: str, version: int, created_at: str, updated_at: str) -> Deal:
        return deal.model_copy(
            update={"stage_id": stage_id, "version": version, "created_at": created_at, "updated_at": updated_at}
        )

    return [
        stored(
            demo_deal("deal-1001", "Website redesign for Northwind", "12500.00", "services"),
            "won",
            4,
            "2026-11-20T09:12:44.120+00:00",
            "2026-11-23T10:02:13.551+00:00",
        ),
        stored(
            demo_deal(
                "deal-1002",
                "Annual support contract for Contoso",
                "4800.00",
                "products",
                responsible="u-piotr",
                company="Contoso",
            ),
            "new",
            1,
            "2026-11-23T10:03:06.204+00:00",
            "2026-11-23T10:03:06.204+00:00",
        ),
        stored(
            demo_deal("deal-1003", "Data migration for Fabrikam", "7300.00", "services", company="Fabrikam"),
            "negotiation",
            3,
            "2026-11-16T14:30:00.000+00:00",
            "2026-11-21T11:45:10.872+00:00",
        ),
    ]


class _At:
    """A boto3 session whose clients all talk to one endpoint (the moto server)."""

    def __init__(self, session: boto3.session.Session, endpoint: str) -> None:
        self._session, self._endpoint = session, endpoint

    def client(self, name: str) -> Any:
        return self._session.client(name, endpoint_url=self._endpoint)

    def resource(self, name: str) -> Any:
        return self._session.resource(name, endpoint_url=self._endpoint)


@dataclass
class Seeded:
    endpoint: str
    provisioned: bool = False
    deals: list[str] = field(default_factory=list)
    cleared: int = 0


def _clear(table: Any, tenant_id: str, key: str) -> int:
    """Delete every item of one tenant's partition; how many there were."""
    params: dict[str, Any] = {
        "KeyConditionExpression": "tenant_id = :t",
        "ExpressionAttributeValues": {":t": tenant_id},
        "ProjectionExpression": "tenant_id, #k",
        "ExpressionAttributeNames": {"#k": key},
    }
    deleted = 0
    with table.batch_writer() as batch:
        while True:
            page = table.query(**params)
            for item in page.get("Items", []):
                batch.delete_item(Key={"tenant_id": tenant_id, key: item[key]})
                deleted += 1
            if "LastEvaluatedKey" not in page:
                return deleted
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def seed(endpoint: str = DEFAULT_ENDPOINT, *, region: str = REGION) -> Seeded:
    """Load (or reload) the sample events' data onto the moto server at ``endpoint``."""
    # moto takes any credentials; these never leave the machine.
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    aws = _At(session, endpoint)
    report = Seeded(endpoint)
    if DEALS_TABLE not in aws.client("dynamodb").list_tables()["TableNames"]:
        provision(aws, SENDER)
        report.provisioned = True

    dynamodb = aws.resource("dynamodb")
    deals, automation = dynamodb.Table(DEALS_TABLE), dynamodb.Table(AUTOMATION_TABLE)
    tenant = automation.get_item(Key={"tenant_id": TENANT, "sk": TENANT_SK}).get("Item") or {}
    # Versions only go up: a warm container's compiled copy of the old automation must never be
    # mistaken for the new one because both reached the same number.
    carried = int(Decimal(tenant.get("automation_version", 0)))
    report.cleared = _clear(deals, TENANT, "id") + _clear(automation, TENANT, "sk")

    store_acme(AutomationStore(automation, TenantCompiler()), since=carried)
    for deal in sample_deals():
        deals.put_item(Item=to_item(deal))
        report.deals.append(deal.id)
    aws.client("ssm").put_parameter(
        Name=ParameterStoreSecrets(provider=None).name(TENANT),
        Value=SAMPLE_WEBHOOK_SECRET,
        Type="SecureString",
        Overwrite=True,
    )
    ensure_page_key(aws.client("ssm"))
    return report


def main(endpoint: str = DEFAULT_ENDPOINT, region: str = REGION) -> None:
    report = seed(endpoint, region=region)
    made = "provisioned the template's resources, " if report.provisioned else ""
    print(
        f"{endpoint}: {made}tenant {TENANT} reset ({report.cleared} items cleared) and loaded; "
        f"deals {', '.join(report.deals)}; webhook secret and page-token key in SSM. "
        "The samples in events/ run as given now."
    )
