"""Saved tests: a test case stored with an automation — a deal (or a change from one stage or
value to another), optional constants, and what must happen — and what running them found."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from dealflow.model.base import Id, Model
from dealflow.model.bounds import Key, StoredValue
from dealflow.model.deal import CustomFields, DealValues
from dealflow.model.tenant import TypedValue

MAX_TESTS = 50  # per automation: each runs before every publish
Contains = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
ConstantName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class EmailExpected(Model):
    """One e-mail that must be among those the run would send; every part given must match."""

    to: str | None = Field(default=None, max_length=320, description="An address among its recipients")
    subject_contains: Contains | None = None
    body_contains: Contains | None = None


class Expectations(Model):
    starts: bool | None = Field(
        default=None, description="Whether the run starts (its condition holds, or the change starts it)"
    )
    steps: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        default=None,
        max_length=100,
        description="Step names the run takes, in this order (others may come between), as the run log names "
        "them: `condition`, `delay`, `action-1-send_email`",
    )
    emails: list[EmailExpected] = Field(default_factory=list, max_length=20)
    fields: dict[Key, StoredValue] = Field(
        default_factory=dict,
        description="Values the deal holds after the run: custom field codes or standard fields "
        "(`stage_id`, `title`, `amount`, …)",
    )


class Before(Model):
    """The deal as it was before the change: what is given here differs, the rest is as in ``deal``."""

    pipeline_id: Id | None = None
    stage_id: Id | None = None
    fields: CustomFields = Field(default_factory=dict)


class SavedTest(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    deal: DealValues = Field(description="The deal the run is on (a rule or tunnel: as if it had entered its stage)")
    before: Before | None = Field(
        default=None,
        description="Given: the change from this to `deal` must start the run as the dispatcher would decide",
    )
    constants: dict[ConstantName, TypedValue] = Field(
        default_factory=dict, description="Constants as this test sees them (others as the tenant has them)"
    )
    expect: Expectations


class SavedTestList(Model):
    items: list[SavedTest]


class Mismatch(Model):
    """One expectation that did not hold."""

    check: str = Field(description="Which: `starts`, `steps`, `emails[0]`, `fields.budget`")
    expected: Any = None
    actual: Any = None


class TestOutcome(Model):
    test_id: str
    name: str
    passed: bool
    failures: list[Mismatch] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list, description="The steps the run took")


class TestReport(Model):
    automation_id: str
    tested: str = Field(description="`draft`, or `version N` (the published one)")
    passed: int
    failed: int
    results: list[TestOutcome]

    @property
    def ok(self) -> bool:
        return self.failed == 0
