"""What a command refuses to do, said in words an operator can act on."""

from __future__ import annotations

from pydantic import ValidationError


class CliError(Exception):
    """Printed as ``dealflow: error: <message>``; the command exits 1."""


def problems(exc: ValidationError) -> str:
    """A model's validation errors as one line: ``email: value is not a valid email address; …``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
