"""Who enters a run and when it ends early: re-enrollment (``always``, ``off``, ``after`` a
cool-down) and a per-deal frequency cap, decided when a run would start
(``dealflow.engine.enrollment``); a goal and exit criteria, which end a run under way
(``dealflow.engine.goals``).

``{"enrollment": {"reenroll": "after", "cooldown": {"days": 30}, "frequency_cap": {"runs": 2, "per":
{"days": 7}}}, "goal": {"name": "won", "condition": {…}}, "exits": [{"when": "lost"}]}``

"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from dealflow.model.base import Model
from dealflow.model.conditions import AllOf, Clause, Condition
from dealflow.model.failures import unset


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


def _about_the_deal(condition: Any, at: str) -> None:
    """A goal or an exit judges the deal as it is: ``changed*`` would judge the change that
    started the run, which never changes while it runs."""
    if isinstance(condition, Clause):
        if condition.op in ("changed", "changed_from", "changed_to"):
            raise ValueError(
                f"{at}.op: '{condition.op}' judges the change that started the run; "
                "goals and exits judge the deal as it is"
            )
        return
    key, inner = ("all", condition.all) if isinstance(condition, AllOf) else ("any", condition.any)
    for i, part in enumerate(inner):
        _about_the_deal(part, f"{at}.{key}.{i}")


class Goal(Model):
    """When ``condition`` holds — before any step, or when a wait ends — the run ends ``goal_met``."""

    name: str = Field(default="goal", min_length=1, max_length=200)
    condition: Condition

    @model_validator(mode="after")
    def _deal_as_it_is(self) -> Goal:
        _about_the_deal(self.condition, "condition")
        return self


class ExitCriterion(Model):
    """When the run ends ``exited``: the deal ``left_stage`` (the one it was in when the run
    started), was ``won`` or ``lost`` (its stage's semantic), or ``condition`` holds."""

    when: Literal["left_stage", "won", "lost", "condition"]
    name: str | None = Field(default=None, max_length=200, description="How the run log names it")
    condition: Condition | None = None

    @model_validator(mode="after")
    def _condition_fits(self) -> ExitCriterion:
        if (self.when == "condition") != (self.condition is not None):
            raise ValueError("condition: required for when 'condition', and only for it")
        if self.condition is not None:
            _about_the_deal(self.condition, "condition")
        return self

    @property
    def label(self) -> str:
        return self.name or self.when.replace("_", " ")


class Enrolled(Model):
    """Who enters a run and when it ends early: enrollment rules checked when a run would start,
    a goal and exit criteria checked before every step and when every wait ends. Left out of
    stored JSON when unset, so automation saved before is unchanged, byte for byte."""

    enrollment: Enrollment | None = Field(
        default=None, exclude_if=unset, description="Re-enrollment (always, off, after a cool-down) and a frequency cap"
    )
    goal: Goal | None = Field(default=None, exclude_if=unset, description="The run ends 'goal_met' when it holds")
    exits: list[ExitCriterion] = Field(
        default_factory=list, exclude_if=unset, max_length=20, description="The run ends 'exited' when one holds"
    )

    def _goal_needs_a_wait(self, waits: bool) -> None:
        if waits:
            return
        if self.goal is not None:
            raise ValueError(
                "goal: only for automation that waits (a delay): without one nothing runs long enough to reach it"
            )
        if self.exits:
            raise ValueError(
                "exits: only for automation that waits (a delay): without one nothing runs long enough to leave"
            )
