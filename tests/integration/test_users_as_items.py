"""A tenant's users are items of their own: 5,000 users leave the tenant's settings item small, come
back with the tenant in one Query, and change one at a time; a tenant stored the old way (every user
in the settings item) stays readable and has its users moved out on their first change."""

from __future__ import annotations

import pytest

from dealflow import runtime
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.model import Tenant, User
from dealflow.store.items import to_item
from dealflow.store.tenants import TenantChanged, TenantDirectory

MANY = 5_000


def _users(n: int) -> list[User]:
    return [User(id=f"u-{i:05d}", name=f"User {i}", email=f"user{i}@example.com") for i in range(n)]


def _directory() -> TenantDirectory:
    return TenantDirectory(runtime.tables().automation, runtime.tables().deals)


def _settings_item_bytes(tenant_id: str) -> int:
    item = runtime.tables().automation.get_item(Key={"tenant_id": tenant_id, "sk": "TENANT"})["Item"]
    return len(str(item))


def test_five_thousand_users_are_items_of_their_own_and_read_back_in_one_query(stack: MotoStack) -> None:
    tenant = Tenant(id="bigco", name="BigCo", users=_users(MANY), constants={}, variables={})
    _directory().create(tenant)
    read = stack.automation.get_tenant("bigco")
    assert [u.id for u in read.users] == [u.id for u in tenant.users]
    assert _settings_item_bytes("bigco") < 1_000  # far from DynamoDB's 400 KB, however many users

    changed = read.users[7].model_copy(update={"name": "Renamed"})
    after = [changed if u.id == changed.id else u for u in read.users[:-1]]  # one renamed, the last removed
    _directory().replace_users("bigco", read.users, after)
    again = stack.automation.get_tenant("bigco")
    assert (
        len(again.users) == MANY - 1 and again.user(changed.id) == changed and again.user(f"u-{MANY - 1:05d}") is None
    )
    # A change based on what was read before the rename is refused for that user; other users'
    # changes do not stand in each other's way.
    other = read.users[7].model_copy(update={"name": "Someone else"})
    with pytest.raises(TenantChanged):
        _directory().replace_users("bigco", read.users, [other if u.id == other.id else u for u in read.users])
    _directory().replace_users("bigco", again.users, [*again.users, User(id="u-new", name="N", email="n@example.com")])
    assert len(stack.automation.get_tenant("bigco").users) == MANY


def test_a_tenant_stored_with_its_users_inside_stays_readable_and_moves_them_out_on_change(stack: MotoStack) -> None:
    old = stack.automation.get_tenant(TENANT)
    table = runtime.tables().automation
    for user in old.users:  # as an older version stored the tenant: every user in the settings item
        table.delete_item(Key={"tenant_id": TENANT, "sk": f"TENANT#USER#{user.id}"})
    table.put_item(Item=to_item(old, tenant_id=TENANT, sk="TENANT"))
    assert stack.automation.get_tenant(TENANT).users == old.users

    added = User(id="u-new", name="New Person", email="new@example.com")
    _directory().replace_users(TENANT, old.users, [*old.users, added])
    assert stack.automation.get_tenant(TENANT).users == sorted([*old.users, added], key=lambda u: u.id)
    assert "users" not in table.get_item(Key={"tenant_id": TENANT, "sk": "TENANT"})["Item"]
