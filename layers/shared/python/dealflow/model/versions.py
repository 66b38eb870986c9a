"""Saved versions of what a tenant defines (automation, pipelines, fields, constants), drafts of
automation, and what a comparison of two versions shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dealflow.model.base import Model
from dealflow.model.catalog import Automation

# A version's message is a line or two, like a commit's subject.
MAX_MESSAGE = 500
Message = Field(default=None, max_length=MAX_MESSAGE, description="Why it changed, in a line or two")


class VersionNote(Model):
    """Who saved a version, when, and why (``message``); kept with the version, never changed."""

    saved_by: str | None = Field(default=None, description="The user who saved it (unknown for older versions)")
    saved_at: str | None = Field(default=None, description="When, ISO 8601 UTC")
    message: str | None = Message


class VersionSummary(VersionNote):
    version: int = Field(ge=1)


class SavedVersion(VersionSummary):
    """One immutable version, whole: ``body`` is the definition (or the constant's typed value) as saved."""

    body: dict[str, Any]


class VersionPage(Model):
    items: list[VersionSummary] = Field(description="Newest first")
    next_token: str | None = Field(default=None, description="Pass as `next_token` for the next page; null on the last")


class Difference(Model):
    """One place where two versions differ: ``path`` as JSON path (``$.actions[0].message``)."""

    path: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None
    text: str = Field(description="The same, for a person: `actions[0].message: 'Hi' → 'Hello'`")


class VersionDiff(Model):
    from_version: int
    to_version: int
    changes: list[Difference] = Field(description="In document order; empty when the two are the same")


class Rollback(Model):
    """Make an older version current again: saved as a new version, equal to the old one."""

    version: int = Field(ge=1, description="The version to bring back")
    message: str | None = Message


class Draft(Model):
    """An automation being edited while its published version keeps running: dispatchers never see
    it; test mode can run it; publishing makes it the next version."""

    automation: Automation
    based_on: int = Field(ge=0, description="The published version it was started from (0: not published yet)")
    saved_by: str | None = None
    saved_at: str | None = None


class Publish(Model):
    message: str | None = Message
    force: bool = Field(default=False, description="Publish even when saved tests fail (the report still says which)")
