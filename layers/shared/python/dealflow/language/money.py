"""Money's one rounding rule, for the amounts the engine stores and the ones templates display.

Half-up (``ROUND_HALF_UP``: 9.045 → 9.05, -9.045 → -9.05): the rule of invoices, of VAT (EU and
Polish rules round a half cent up) and of the calculator a sales rep checks a commission on.
Half-even (banker's rounding, Python's default) avoids a statistical bias over millions of sums,
which a CRM does not add up; its 9.045 → 9.04 only surprises people.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

ROUNDING = ROUND_HALF_UP
_METHODS = {"common": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}


def round_money(amount: Decimal, places: int = 2, method: str = "common") -> Decimal:
    """``amount`` to ``places`` decimal places (cents by default), half-up unless ``method`` says
    ``ceil`` or ``floor`` (the names of Jinja's ``round``)."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=_METHODS.get(method, ROUNDING))
