"""Changing automation safely: reference checks before a write (``checks``), the design-time loop
check (``loops``), copy, move and bulk changes (``moves``), export and import (``transfer``)."""
