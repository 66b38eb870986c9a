"""Working calendars: the tenant's (``/calendar``) and each user's own (``/users/{user_id}/calendar``).

Everyone reads them; only administrators change them (``auth.ADMIN_RESOURCES``), as every setting.
Removing the tenant's calendar, or a user's, answers the automation it broke (working-time delays
and holds need the tenant's calendar)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.errors import NotFound
from dealflow.api.schemas import BrokenAutomation
from dealflow.api.warnings import broken_since
from dealflow.model.base import Model
from dealflow.model.calendar import Calendar, UserCalendar

TAGS = ["calendars"]


class CalendarRemoved(Model):
    """The calendar that was removed, and the automation that needed it."""

    calendar: Calendar
    broken_automation: list[BrokenAutomation] = Field(default_factory=list)


class UserCalendarAnswer(UserCalendar):
    """A user's own calendar; ``own``: false when they work the tenant's (nothing of their own set)."""

    user_id: str
    own: bool


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get("/calendar", summary="The tenant's working calendar", tags=TAGS, operation_id="get_calendar")
    def get_calendar() -> Calendar:
        calendar = deps().automation.get_tenant(caller(r).tenant_id).calendar
        if calendar is None:
            raise NotFound("calendar", "calendar", where="set for this tenant (PUT /calendar)")
        return calendar

    @r.put(
        "/calendar",
        summary="Set the tenant's working calendar (administrators)",
        tags=TAGS,
        operation_id="put_calendar",
        description="Time zone (IANA), working intervals per weekday (several a day allowed), holidays. "
        "Runs read it when they plan a working-time wait, a hold or an assignment.",
    )
    def put_calendar(calendar: Annotated[Calendar, Body()]) -> Calendar:
        deps().automation.set_calendar(caller(r).tenant_id, calendar)
        return calendar

    @r.delete(
        "/calendar",
        summary="Remove the tenant's working calendar (administrators)",
        tags=TAGS,
        operation_id="delete_calendar",
        description="Answers the calendar it was and, in `broken_automation`, the automation that counts working time.",
    )
    def delete_calendar() -> CalendarRemoved:
        d, who = deps(), caller(r)
        before = known(d, who)
        removed = d.automation.set_calendar(who.tenant_id, None)
        if removed is None:
            raise NotFound("calendar", "calendar", where="set for this tenant")
        return CalendarRemoved(calendar=removed, broken_automation=broken_since(before, known(d, who)))

    @r.get(
        "/users/<user_id>/calendar",
        summary="One user's own calendar",
        tags=TAGS,
        operation_id="get_user_calendar",
    )
    def get_user_calendar(user_id: str) -> UserCalendarAnswer:
        user = deps().automation.get_tenant(caller(r).tenant_id).user(user_id)
        if user is None:
            raise NotFound("user", user_id)
        own = user.calendar
        return UserCalendarAnswer(user_id=user_id, own=own is not None, **(own or UserCalendar()).model_dump())

    @r.put(
        "/users/<user_id>/calendar",
        summary="Set one user's own calendar (administrators)",
        tags=TAGS,
        operation_id="put_user_calendar",
        description="Their time zone and hours (each left out: the tenant's) and out-of-office date ranges. "
        "The tenant's holidays are theirs too.",
    )
    def put_user_calendar(user_id: str, calendar: Annotated[UserCalendar, Body()]) -> UserCalendarAnswer:
        changed = deps().automation.set_user_calendar(caller(r).tenant_id, user_id, calendar)
        if changed is None:
            raise NotFound("user", user_id)
        return UserCalendarAnswer(user_id=user_id, own=True, **calendar.model_dump())

    @r.delete(
        "/users/<user_id>/calendar",
        summary="Remove one user's own calendar: they work the tenant's (administrators)",
        tags=TAGS,
        operation_id="delete_user_calendar",
    )
    def delete_user_calendar(user_id: str) -> UserCalendarAnswer:
        changed = deps().automation.set_user_calendar(caller(r).tenant_id, user_id, None)
        if changed is None:
            raise NotFound("user", user_id)
        return UserCalendarAnswer(user_id=user_id, own=False)

    return r
