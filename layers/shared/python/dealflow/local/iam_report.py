"""What the IAM contract saw over a whole test session: calls judged per function, and grants of
template.yaml that no call used — candidates for narrowing a role.

Each closed ``MotoStack`` adds its contract to ``SESSION``. With pytest-xdist every worker saves
its share as a JSON file in one directory (``DEALFLOW_IAM_USAGE_DIR``, made by the controller) and
the controller merges them for the summary; ``tests/conftest.py`` holds the hooks.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dealflow.local.iam_policy import RUNTIME_SERVICES, Grant

if TYPE_CHECKING:
    from dealflow.local.iam import IamContract

USAGE_DIR_ENV = "DEALFLOW_IAM_USAGE_DIR"


@dataclass
class Usage:
    granted: set[Grant] = field(default_factory=set)
    used: set[Grant] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)

    def add(self, contract: IamContract) -> None:
        for role in contract.roles.values():
            self.granted.update(role.grants)
        self.used.update(contract.used)
        self.calls.update(contract.calls)

    def merge(self, other: Usage) -> None:
        self.granted |= other.granted
        self.used |= other.used
        self.calls.update(other.calls)

    def save(self, path: Path) -> None:
        data = {
            "granted": [asdict(g) for g in sorted(self.granted, key=_order)],
            "used": [asdict(g) for g in sorted(self.used, key=_order)],
            "calls": dict(self.calls),
        }
        path.write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Usage:
        usage = cls()
        for path in sorted(directory.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            usage.merge(
                cls(
                    granted={Grant(**g) for g in data["granted"]},
                    used={Grant(**g) for g in data["used"]},
                    calls=Counter(data["calls"]),
                )
            )
        return usage

    def unused(self) -> dict[str, list[Grant]]:
        """Allows no judged call needed, per function; the Lambda runtime's own (logs, X-Ray) left out."""
        found: dict[str, list[Grant]] = {}
        for grant in sorted(self.granted - self.used, key=_order):
            if grant.effect == "Allow" and grant.service not in RUNTIME_SERVICES:
                found.setdefault(grant.function, []).append(grant)
        return found

    def summary(self) -> list[str]:
        if not self.calls:
            return []
        judged = ", ".join(f"{function} {count}" for function, count in sorted(self.calls.items()))
        lines = [f"AWS calls judged against the roles in template.yaml: {judged}."]
        unused = self.unused()
        if unused:
            lines.append("Granted, but no call in the tests that ran needed it (narrow the role, or cover the path):")
            for function, grants in unused.items():
                lines += [f"  {function}: {g.describe()}" for g in grants]
        else:
            lines.append("Every granted action was used by some call.")
        return lines


def _order(grant: Grant) -> tuple[str, str, str, str]:
    return (grant.function, grant.action, grant.resource, grant.source)


SESSION = Usage()
