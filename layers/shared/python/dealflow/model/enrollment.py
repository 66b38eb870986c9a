"""Who may enter a run: re-enrollment (``always``, ``off``, ``after`` a cool-down) and a per-deal
frequency cap, decided when a run would start (``dealflow.engine.enrollment``). Goals and exits,
which end a run under way, are conditions and live with them (``dealflow.model.automation``).

``{"reenroll": "after", "cooldown": {"days": 30}, "frequency_cap": {"runs": 2, "per": {"days": 7}}}``
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from dealflow.model.base import Model


class Window(Model):
    """A length of time: ``{"days": 7}``, ``{"hours": 12}``; at least a minute, at most ten years."""

    days: int = Field(default=0, ge=0, le=3650)
    hours: int = Field(default=0, ge=0, le=87_600)
    minutes: int = Field(default=0, ge=0, le=5_256_000)

    @property
    def length(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)

    @model_validator(mode="after")
    def _sensible(self) -> Window:
        if self.length < timedelta(minutes=1):
            raise ValueError("must be at least one minute")
        if self.length > timedelta(days=3650):
            raise ValueError("must be at most 3650 days")
        return self

    def describe(self) -> str:
        """``7 days``, ``1 day 12 hours``: as the not-started entries say it."""
        parts = [(self.days, "day"), (self.hours, "hour"), (self.minutes, "minute")]
        return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)


class FrequencyCap(Model):
    """At most ``runs`` runs per deal in any window of ``per``."""

    runs: int = Field(ge=1, le=1000)
    per: Window


class Enrollment(Model):
    """Whether a deal that already ran the automation may start it again: ``always`` (the default,
    as before), ``off`` (once per deal, ever) or ``after`` a ``cooldown`` since its last run; and a
    ``frequency_cap`` per deal. Enforced when the run would start, by a conditional write per
    (automation, deal)."""

    reenroll: Literal["always", "off", "after"] = "always"
    cooldown: Window | None = Field(default=None, description="With reenroll 'after': the time since the last run")
    frequency_cap: FrequencyCap | None = None

    @model_validator(mode="after")
    def _cooldown_fits(self) -> Enrollment:
        if self.reenroll == "after" and self.cooldown is None:
            raise ValueError("cooldown: required when reenroll is 'after'")
        if self.reenroll != "after" and self.cooldown is not None:
            raise ValueError(f"cooldown: only with reenroll 'after' (not '{self.reenroll}')")
        return self

    @property
    def limits(self) -> bool:
        """Whether it limits anything at all (``always`` without a cap does not)."""
        return self.reenroll != "always" or self.frequency_cap is not None

    @property
    def remembered(self) -> timedelta | None:
        """How long a start matters to the next decision; None: for ever (re-enrollment off)."""
        if self.reenroll == "off":
            return None
        spans = [w.length for w in (self.cooldown, self.frequency_cap.per if self.frequency_cap else None) if w]
        return max(spans, default=timedelta(0))
