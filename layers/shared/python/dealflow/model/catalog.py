"""Every kind of automation, as one type: what a run carries and what storage holds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from dealflow.model.automation import Rule, Trigger, Tunnel
from dealflow.model.process import BusinessProcess

Automation = Annotated[Rule | Tunnel | Trigger | BusinessProcess, Field(discriminator="kind")]
