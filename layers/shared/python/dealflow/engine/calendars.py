"""Whose working time a delay, a hold or an assignment counts: the tenant's calendar, or a user's
(their own hours and zone where set, the tenant's otherwise; the tenant's holidays and their own
out-of-office days off)."""

from __future__ import annotations

from datetime import datetime

from dealflow.engine.working_time import WorkingTime
from dealflow.model import Deal, Tenant
from dealflow.model.calendar import CalendarOf


class NoCalendar(ValueError):
    """Working time was asked for and the tenant has set no calendar."""


def tenant_time(tenant: Tenant) -> WorkingTime:
    if tenant.calendar is None:
        raise NoCalendar("the tenant has no working calendar (set one with PUT /calendar)")
    return WorkingTime.of(tenant.calendar)


def user_time(tenant: Tenant, user_id: str) -> WorkingTime:
    """A user's working time; a user without a calendar of their own works the tenant's."""
    user = tenant.user(user_id)
    own = user.calendar if user is not None else None
    if tenant.calendar is None:
        raise NoCalendar("the tenant has no working calendar (set one with PUT /calendar)")
    return WorkingTime.of(tenant.calendar, own)


def working_time_for(tenant: Tenant, which: CalendarOf | None, item: Deal) -> WorkingTime:
    """The calendar ``which`` names for ``item``: a deal with no responsible user counts the tenant's."""
    if which == "responsible_user" and item.responsible_id:
        return user_time(tenant, item.responsible_id)
    return tenant_time(tenant)


def local_label(moment: datetime, working: WorkingTime) -> str:
    """``Mon 09:00 Europe/Warsaw``: a moment as the calendar's people read it."""
    return f"{moment.astimezone(working.zone):%a %Y-%m-%d %H:%M} {working.zone.key}"


def unavailable(tenant: Tenant, user_id: str, moment: datetime) -> str | None:
    """Why ``user_id`` cannot take a deal at ``moment`` (out of office, outside their working
    hours), or None. Without a tenant calendar only out-of-office days count, by the UTC date."""
    user = tenant.user(user_id)
    own = user.calendar if user is not None else None
    if tenant.calendar is None:
        today = moment.date()
        away = own is not None and any(a.start <= today <= a.end for a in own.out_of_office)
        return "out of office" if away else None
    working = WorkingTime.of(tenant.calendar, own)
    today = moment.astimezone(working.zone).date()
    if own is not None and any(a.start <= today <= a.end for a in own.out_of_office):
        return "out of office"
    if not working.is_working(moment):
        return f"outside working hours (now {local_label(moment, working)})"
    return None
