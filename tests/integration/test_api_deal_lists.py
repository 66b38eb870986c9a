"""Deal and lead lists: filters, search, exact pages with an opaque next_token, the caller's rights."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}


def _deal(n: int) -> dict[str, Any]:
    """Thirty deals: every third in proposal, every other one Piotr's, every fifth for Contoso."""
    return {
        "id": f"d-{n:03d}",
        "pipeline_id": "sales",
        "stage_id": "proposal" if n % 3 == 0 else "new",
        "title": f"Deal {n}",
        "amount": f"{n}000.00",
        "currency": "EUR",
        "responsible_id": "u-piotr" if n % 2 == 0 else "u-anna",
        "company": "Contoso Ltd" if n % 5 == 0 else "Northwind",
    }


@pytest.fixture
def thirty(stack: MotoStack) -> MotoStack:
    for n in range(1, 31):
        status, body = stack.api("POST", "/deals", _deal(n), claims=ADMIN)
        assert status == 201, body
    lead = {"id": "l-001", "entity": "lead", "pipeline_id": "leads", "stage_id": "new", "title": "Deal-ish lead"}
    assert stack.api("POST", "/deals", lead, claims=ADMIN)[0] == 201
    return stack


def _pages(stack: MotoStack, query: dict[str, str], claims: dict[str, str] = ANNA) -> list[list[dict[str, Any]]]:
    pages, token = [], None
    while True:
        status, body = stack.api(
            "GET", "/deals", claims=claims, query={**query, **({"next_token": token} if token else {})}
        )
        assert status == 200, body
        pages.append(body["items"])
        token = body["next_token"]
        if token is None:
            return pages


def test_thirty_deals_come_in_exact_pages_in_id_order(thirty: MotoStack) -> None:
    pages = _pages(thirty, {"limit": "7"})
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [d["id"] for p in pages for d in p] == [f"d-{n:03d}" for n in range(1, 31)]  # no lead among them

    status, body = thirty.api("GET", "/deals", claims=ANNA, query={"limit": "30"})
    assert status == 200 and len(body["items"]) == 30 and body["next_token"] is None  # no empty last page
    status, body = thirty.api("GET", "/deals", claims=ANNA)
    assert status == 200 and len(body["items"]) == 25 and body["next_token"]

    status, body = thirty.api("GET", "/deals", claims=ANNA, query={"entity": "lead"})
    assert status == 200 and [i["id"] for i in body["items"]] == ["l-001"] and body["items"][0]["entity"] == "lead"


def test_filters_combine_and_sparse_matches_still_fill_each_page(thirty: MotoStack) -> None:
    pages = _pages(thirty, {"stage_id": "proposal", "responsible_id": "u-piotr", "limit": "2"})
    ids = [d["id"] for p in pages for d in p]
    assert ids == ["d-006", "d-012", "d-018", "d-024", "d-030"] and [len(p) for p in pages] == [2, 2, 1]

    pages = _pages(thirty, {"q": "CONTOSO", "limit": "4"})
    assert [d["id"] for p in pages for d in p] == ["d-005", "d-010", "d-015", "d-020", "d-025", "d-030"]
    pages = _pages(thirty, {"q": "deal 2", "pipeline_id": "sales", "stage_id": "new"})
    assert [d["id"] for d in pages[0]] == ["d-002", "d-020", "d-022", "d-023", "d-025", "d-026", "d-028", "d-029"]


def test_a_bad_or_tampered_next_token_is_400(thirty: MotoStack) -> None:
    status, first = thirty.api("GET", "/deals", claims=ANNA, query={"limit": "5", "stage_id": "new"})
    token = first["next_token"]
    payload, _, digest = token.partition(".")
    tampered = [
        ("garbage",),
        (payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + digest,),
        (payload + "." + "0" * len(digest),),
        ("%%%." + digest,),
    ]
    for (bad,) in tampered:
        status, body = thirty.api(
            "GET", "/deals", claims=ANNA, query={"limit": "5", "stage_id": "new", "next_token": bad}
        )
        assert status == 400 and body["problems"][0]["field"] == "next_token", (bad, body)

    status, body = thirty.api("GET", "/deals", claims=ANNA, query={"stage_id": "proposal", "next_token": token})
    assert status == 400 and "other filters" in body["problems"][0]["problem"]
    status, second = thirty.api(
        "GET", "/deals", claims=ANNA, query={"limit": "5", "stage_id": "new", "next_token": token}
    )
    assert status == 200 and second["items"][0]["id"] > first["items"][-1]["id"]


def test_unknown_filters_and_limits_are_422_naming_the_filter(thirty: MotoStack) -> None:
    cases = [
        ({"pipeline_id": "nope"}, "pipeline_id"),
        ({"pipeline_id": "leads"}, "pipeline_id"),
        ({"stage_id": "kickoff", "pipeline_id": "sales"}, "stage_id"),
        ({"stage_id": "nowhere"}, "stage_id"),
        ({"entity": "contact"}, "entity"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
    ]
    for query, field in cases:
        status, body = thirty.api("GET", "/deals", claims=ANNA, query=query)
        assert status == 422 and [p["field"] for p in body["problems"]] == [field], (query, body)


def test_lists_show_what_the_role_may_read_and_refuse_filters_on_hidden_fields(thirty: MotoStack) -> None:
    status, _ = thirty.api(
        "PUT",
        "/rights/sales_rep",
        {"deals": {"fields": {"amount": "hidden", "responsible_id": "hidden"}}},
        claims=ADMIN,
    )
    assert status == 200
    status, body = thirty.api("GET", "/deals", claims=ANNA, query={"limit": "3"})
    assert status == 200 and len(body["items"]) == 3
    for item in body["items"]:
        assert item["hidden_fields"] == ["amount", "responsible_id"]
        assert "amount" not in item and "responsible_id" not in item and item["title"].startswith("Deal ")
    status, body = thirty.api("GET", "/deals", claims=ANNA, query={"responsible_id": "u-piotr"})
    assert status == 403 and body["field"] == "responsible_id"

    thirty.api("PUT", "/rights/sales_rep", {"leads": {"read": False, "write": False}}, claims=ADMIN)
    status, body = thirty.api("GET", "/deals", claims=ANNA, query={"entity": "lead"})
    assert status == 403 and body["error"] == "forbidden"


def test_a_token_sealed_by_another_deployment_is_400(thirty: MotoStack) -> None:
    from dealflow import runtime
    from dealflow.api.paging import seal

    class OtherDeployment:
        def keys(self) -> list[bytes]:
            return [b"another deployment's key"]

    query = {"limit": "5", "stage_id": "new"}
    filters = {"entity": "deal", "stage_id": "new", "q": ""}
    foreign = seal(OtherDeployment(), "deals", TENANT, filters, "d-001")
    status, body = thirty.api("GET", "/deals", claims=ANNA, query={**query, "next_token": foreign})
    assert status == 400 and body["problems"][0]["field"] == "next_token", body

    # The key is the deployment's SSM parameter: replace it and earlier tokens stop opening.
    token = thirty.api("GET", "/deals", claims=ANNA, query=query)[1]["next_token"]
    assert thirty.api("GET", "/deals", claims=ANNA, query={**query, "next_token": token})[0] == 200
    name = runtime.settings().page_token_key_parameter
    thirty._ssm.put_parameter(Name=name, Value="a new key", Type="SecureString", Overwrite=True)
    runtime.page_keys().clear()
    status, body = thirty.api("GET", "/deals", claims=ANNA, query={**query, "next_token": token})
    assert status == 400 and body["error"] == "bad_page_token", body


def test_a_sparse_filter_on_a_large_tenant_answers_in_capped_reads_and_continues(stack: MotoStack) -> None:
    """2,100 deals and one match at the very end: no request reads the whole tenant. A page cut
    short by the read cap says how much it read and hands a token on, even with nothing found."""
    from dealflow import runtime
    from dealflow.model import Deal
    from dealflow.store.items import to_item

    total = 2_100
    with runtime.tables().deals.batch_writer() as batch:
        for n in range(total):
            deal = Deal.model_validate(
                {**_deal(n), "id": f"big-{n:05d}", "tenant_id": TENANT, "stage_id": "new", "version": 1}
            )
            if n == total - 1:
                deal = deal.model_copy(update={"stage_id": "won"})
            batch.put_item(Item=to_item(deal))
    pages, scanned, token = [], [], None
    while True:
        query = {"stage_id": "won", "limit": "1", **({"next_token": token} if token else {})}
        status, body = stack.api("GET", "/deals", claims=ADMIN, query=query)
        assert status == 200, body
        pages.append([i["id"] for i in body["items"]])
        scanned.append(body["scanned"])
        token = body["next_token"]
        if token is None:
            break
    assert pages[0] == [] and scanned[0] < total  # the first request stopped at the cap
    assert [i for p in pages for i in p] == [f"big-{total - 1:05d}"]
    assert sum(scanned) == total  # every deal read once across the pages, none twice
