from __future__ import annotations

from collections.abc import Iterator

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import set_up


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    """The demo tenant on in-process moto."""
    with MotoStack() as local:
        set_up(local)
        yield local


# Added to the demo tenant by ``troubled_stack``: a move tunnel next to the demo's copy tunnel, a
# rule naming a user acme does not have, and two rules that move deals back and forth.
TROUBLE = [
    {
        "kind": "tunnel",
        "id": "lost-to-renewals",
        "name": "Lost deals move to renewals",
        "pipeline_id": "sales",
        "stage_id": "lost",
        "target_pipeline_id": "renewals",
        "target_stage_id": "due",
        "mode": "move",
    },
    {
        "kind": "rule",
        "id": "negotiation-mail",
        "name": "Negotiation: e-mail the old boss",
        "pipeline_id": "sales",
        "stage_id": "negotiation",
        "actions": [{"kind": "send_email", "to": {"users": ["u-gone"]}, "subject": "Hi", "body": "Hello"}],
    },
    *(
        {
            "kind": "rule",
            "id": f"bounce-{here}",
            "name": f"Bounce from {here} to {there}",
            "pipeline_id": "renewals",
            "stage_id": here,
            "actions": [{"kind": "move_to_stage", "stage_id": there}],
        }
        for here, there in (("renewed", "churned"), ("churned", "renewed"))
    ),
]


@pytest.fixture
def troubled_stack(stack: MotoStack) -> MotoStack:
    """The demo tenant with a move tunnel, a broken rule and a loop (``TROUBLE``)."""
    from dealflow.authoring.checks import AUTOMATION

    for item in TROUBLE:
        stack.put_automation("acme", AUTOMATION.validate_python(item))
    return stack
