"""``python -m dealflow.local demo``: a day in acme's sales pipelines and globex's business process,
told as it happens — each run with the e-mails, notifications, workgroups and tasks it made.

The tenants are ``dealflow.local.tenants`` (acme) and ``dealflow.local.globex`` (the integration
tests set up the same ones, so the demo shows the behaviour the tests check); the narration is
``dealflow.local.story``. The clock starts at a fixed morning, so every run of the demo tells the
same story, dates included.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from dealflow.authoring.map_page import map_page
from dealflow.local.clock import ManualClock
from dealflow.local.globex import PROCESS_TENANT, globex_tenant, set_up_process_tenant, store_globex, worked_example
from dealflow.local.stack import MotoStack
from dealflow.local.story import Narrator
from dealflow.local.tenants import (
    LOST_EMAIL_BODY,
    TENANT,
    demo_deal,
    demo_fields,
    demo_lead,
    demo_pipelines,
    demo_rules,
    demo_tenant,
    demo_triggers,
    demo_tunnels,
    demo_workflow,
    set_up,
    store_acme,
)

# A Monday morning: the proposal's two-day wait ends on Wednesday, its task is due on Thursday.
DEMO_START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
INVOICE_PAID = {"id": "inv-77-paid", "kind": "invoice_paid", "deal_id": "deal-1005"}


def _settle(stack: MotoStack, narrator: Narrator) -> None:
    """Let the scene's changes flow through the stream and the runs they start; tell what ran."""
    stack.drain()
    narrator.tell()
    print()


def _acme(stack: MotoStack) -> None:
    set_up(stack)
    story = Narrator(stack, TENANT)
    print(
        f"Tenant {TENANT}: {len(demo_pipelines())} pipelines, {len(demo_rules())} rules, "
        f"{len(demo_tunnels())} tunnel, {len(demo_triggers())} triggers\n"
    )

    print("▶ Anna creates three deals")
    stack.create_deal(demo_deal("deal-1001", "Website redesign", "12500.00", "services"))
    stack.create_deal(
        demo_deal("deal-1002", "Laptop fleet", "48900.00", "products", responsible="u-piotr", company="Contoso")
    )
    stack.create_deal(demo_deal("deal-1003", "Data migration", "7300.00", "services", company="Fabrikam"))
    _settle(stack, story)

    for deal_id, stage, title in (
        ("deal-1001", "won", "deal-1001 (services) is closed won"),
        ("deal-1002", "won", "deal-1002 (products) is closed won"),
        ("deal-1003", "lost", "deal-1003 is closed lost"),
    ):
        print(f"▶ {title}")
        stack.move_deal(TENANT, deal_id, stage)
        _settle(stack, story)

    print("▶ a new deal-1004 gets a proposal")
    stack.create_deal(demo_deal("deal-1004", "Cloud audit", "5200.00", "services", company="Litware"))
    stack.move_deal(TENANT, "deal-1004", "proposal")
    _settle(stack, story)

    print("▶ two days pass")
    stack.advance(days=2)
    story.tell()
    print()

    print("▶ Anna records the day deal-1004's proposal went out (field–step workflow 'proposal-sent')")
    deal_1004 = stack.get_deal(TENANT, "deal-1004")
    assert deal_1004 is not None
    patch = {"version": deal_1004.version, "fields": {"proposal_sent_on": "2026-11-20"}}
    status, reply = stack.api("PATCH", "/deals/deal-1004", patch, claims=ANNA)
    print(f"  PATCH /deals/deal-1004 → {status}; step 'send_proposal' done by {reply['steps']['send_proposal']['by']}")
    _settle(stack, story)

    print("▶ lead-501 (website for Tailspin) turns into deal-1005, which reaches negotiation")
    stack.create_deal(demo_lead("lead-501", "Website for Tailspin"))
    stack.create_deal(
        demo_deal("deal-1005", "Tailspin website", "9900.00", "services", company="Tailspin", lead_id="lead-501")
    )
    stack.move_deal(TENANT, "deal-1005", "negotiation")
    _settle(stack, story)

    print("▶ the billing system reports deal-1005's invoice paid (signed webhook)")
    stack.set_webhook_secret(TENANT, "demo-webhook-secret")
    status, reply = stack.post_webhook(TENANT, INVOICE_PAID)
    print(f"  POST /webhooks/{TENANT} → {status}: {len(reply['runs'])} trigger run started")
    stack.drain()
    story.tell()
    deal, lead = stack.get_deal(TENANT, "deal-1005"), stack.get_deal(TENANT, "lead-501")
    assert deal is not None and lead is not None
    copies = [stack.get_deal(TENANT, copy_id) for copy_id in deal.copy_ids]
    where = ", ".join(f"'{c.pipeline_id}' / '{c.stage_id}'" for c in copies if c is not None) or "none"
    print(f"  deal-1005 is now in '{deal.stage_id}'; its copies: {where}")
    print(f"  lead-501 followed its deal to '{lead.stage_id}'")
    status, reply = stack.post_webhook(TENANT, INVOICE_PAID)
    print(f"  the same event again → {status} {reply.get('error')}: nothing moves twice")


def _globex(stack: MotoStack) -> None:
    print(f"\nTenant {PROCESS_TENANT}: the same outcomes as one business process ('Deal outcome')\n")
    set_up_process_tenant(stack)
    story = Narrator(stack, PROCESS_TENANT)
    for deal_id, what, stage in (("g-1", "services", "won"), ("g-2", "products", "lost")):
        deal = demo_deal(deal_id, f"Globex deal {deal_id}", "12500.00", what).model_copy(
            update={"tenant_id": PROCESS_TENANT}
        )
        print(f"▶ {deal_id} ({what}) is created, then closed {stage}")
        stack.create_deal(deal)
        stack.move_deal(PROCESS_TENANT, deal_id, stage)
        _settle(stack, story)


def run_demo(stack: MotoStack) -> None:
    """The whole story on a started stack (empty: the demo sets its tenants up)."""
    _acme(stack)
    _globex(stack)


def demo_stack(endpoint: str | None = None, server: bool = False) -> MotoStack:
    """The stack the demo runs on (not started yet): its clock stands at ``DEMO_START``."""
    stack = MotoStack(endpoint=endpoint, server=server)
    stack.clock = ManualClock(start=DEMO_START)  # before start(), which wires the clock in
    return stack


# Where the demo leaves its tenants' automation maps unless told otherwise.
MAP_DIR = Path(tempfile.gettempdir()) / "dealflow-demo"
LOCAL_API = "http://127.0.0.1:8000"  # `python -m dealflow.local api`: where a map's links lead


def write_maps(stack: MotoStack, directory: Path) -> list[Path]:
    """Each demo tenant's automation map, as the console's page (``GET /console/map``), in a file."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for tenant in (TENANT, PROCESS_TENANT):
        page = map_page(
            stack.automation.load(tenant), api_link=lambda automation_id: f"{LOCAL_API}/automation/{automation_id}"
        )
        path = directory / f"map-{tenant}.html"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written


def main(endpoint: str | None = None, server: bool = False, map_dir: Path | None = None) -> None:
    # A moto server in this process logs every request through werkzeug: not part of the story.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with demo_stack(endpoint, server) as stack:
        run_demo(stack)
        maps = write_maps(stack, map_dir or MAP_DIR)
    print("The automation map of each tenant (open it in a browser):")
    for path in maps:
        print(f"  {path}")


__all__ = [
    "DEMO_START",
    "LOST_EMAIL_BODY",
    "MAP_DIR",
    "PROCESS_TENANT",
    "TENANT",
    "demo_deal",
    "demo_fields",
    "demo_lead",
    "demo_pipelines",
    "demo_rules",
    "demo_stack",
    "demo_tenant",
    "demo_triggers",
    "demo_tunnels",
    "demo_workflow",
    "globex_tenant",
    "main",
    "run_demo",
    "set_up",
    "set_up_process_tenant",
    "store_acme",
    "store_globex",
    "worked_example",
    "write_maps",
]
