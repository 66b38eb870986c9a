"""Page tokens sealed with the deployment's key: only this API, for this tenant and list, made them."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from dealflow.api.paging import BadPageToken, seal, unseal
from dealflow.aws.secrets import MissingPageKey
from dealflow.http_errors import Unavailable

FILTERS = {"entity": "deal", "q": ""}


class Keys:
    def __init__(self, *keys: bytes) -> None:
        self.held = list(keys)

    def keys(self) -> list[bytes]:
        if not self.held:
            raise MissingPageKey("SSM parameter /dealflow/page-token-key (the page-token key) does not exist")
        return self.held


def _refused(keys: Keys, token: str, tenant: str = "acme", scope: str = "deals", filters: dict = FILTERS) -> str:
    with pytest.raises(BadPageToken) as caught:
        unseal(keys, scope, tenant, filters, token)
    assert caught.value.status == 400 and caught.value.problems[0]["field"] == "next_token"
    return caught.value.problems[0]["problem"]


def test_a_token_opens_where_it_was_sealed_and_nowhere_else() -> None:
    ours = Keys(b"our-key")
    token = seal(ours, "deals", "acme", FILTERS, "d-007")
    assert unseal(ours, "deals", "acme", FILTERS, token) == "d-007"

    _refused(Keys(b"another-deployment"), token)  # same code, another deployment's key
    _refused(ours, token, tenant="globex")
    _refused(ours, token, scope="runs")
    assert "other filters" in _refused(ours, token, filters={**FILTERS, "q": "x"})


def test_an_edited_or_forged_token_is_refused() -> None:
    ours = Keys(b"our-key")
    payload, _, mac = seal(ours, "deals", "acme", FILTERS, "d-007").partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    edited = base64.urlsafe_b64encode(json.dumps({**body, "at": "d-900"}).encode()).decode().rstrip("=")
    _refused(ours, f"{edited}.{mac}")
    # Knowing the format is not enough without the key: an unkeyed digest of the payload is no seal.
    unkeyed = hashlib.sha256(f"acme\x1f{edited}".encode()).hexdigest()[:32]
    _refused(ours, f"{edited}.{unkeyed}")
    for junk in ("", "garbage", "%%%.", f"{payload}.", f".{mac}"):
        _refused(ours, junk)


def test_a_rotated_key_still_opens_the_pages_in_flight() -> None:
    old = seal(Keys(b"old"), "runs", "acme", FILTERS, {"sk": "RUN#1"})
    rotated = Keys(b"new", b"old")
    assert unseal(rotated, "runs", "acme", FILTERS, old) == {"sk": "RUN#1"}
    fresh = seal(rotated, "runs", "acme", FILTERS, {"sk": "RUN#2"})
    assert unseal(Keys(b"new"), "runs", "acme", FILTERS, fresh) == {"sk": "RUN#2"}
    _refused(Keys(b"new"), old, scope="runs")  # once the old key is dropped


def test_without_a_key_the_api_says_it_is_unavailable_rather_than_paging_unsealed() -> None:
    with pytest.raises(Unavailable) as caught:
        seal(Keys(), "deals", "acme", FILTERS, "d-1")
    assert "/dealflow/page-token-key" in caught.value.reason
