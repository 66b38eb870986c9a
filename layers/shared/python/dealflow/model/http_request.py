"""The ``http_request`` action: call another system from a run.

Its URL, headers and body are templates rendered with the deal; header values that are secrets
(an API token) are named, never written here: ``secret_headers`` maps a header to the name of an
SSM parameter under the tenant's path (``<prefix>/<tenant>/http/headers/<name>``), read by the
runner when it sends. Every request is signed with the tenant's outgoing signing secret and
carries an ``Idempotency-Key`` (README, "Calling other systems"). ``save_response`` puts the
answer's status and chosen JSON fields into deal fields or process variables.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from dealflow.model.base import Model
from dealflow.model.bounds import Key
from dealflow.model.failures import AMBIGUOUS_HELP, ActionBase, AmbiguousPolicy, unset
from dealflow.model.texts import TemplateText

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
BODYLESS_METHODS = frozenset({"GET", "DELETE"})
MAX_TIMEOUT_SECONDS = 30  # a step waits for the answer inside one invocation of the runner
MAX_HEADERS = 20
MAX_BODY_ENTRIES = 50
MAX_SAVED_VALUES = 20

# The headers Dealflow sets itself: signed, keyed and measured as sent, so an automation may not
# set them (a ``Host`` of its choosing would also send the request somewhere the guard never saw).
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "idempotency-key",
        "x-dealflow-signature",
        "x-dealflow-timestamp",
    }
)

HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]
# An SSM parameter's last part: no slashes, so a name cannot climb out of the tenant's path.
SecretName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# ``data.items.0.id``: object keys, and list positions as numbers.
JsonPath = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class SaveTarget(Model):
    """Where a value of the answer goes: ``{"field": "external_id"}`` (a deal field) or
    ``{"var": "quote_id"}`` (a process variable, seen by later steps as ``var.quote_id``)."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    var: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> SaveTarget:
        if (self.field is None) == (self.var is None):
            raise ValueError("give either field or var")
        return self


class SaveResponse(Model):
    """``{"status": {"var": "crm_status"}, "values": {"data.id": {"field": "external_id"}}}``: the
    answer's HTTP status, and values picked from its JSON body by dotted path. A path the answer
    lacks saves nothing (the step says which were missing)."""

    status: SaveTarget | None = None
    values: dict[JsonPath, SaveTarget] = Field(default_factory=dict, max_length=MAX_SAVED_VALUES)

    @model_validator(mode="after")
    def _something(self) -> SaveResponse:
        if self.status is None and not self.values:
            raise ValueError("name the status or at least one value to save")
        return self


BodyType = Literal["text", "number", "integer", "boolean", "json"]


class TypedBodyValue(Model):
    """A JSON body value that is not text: ``{"template": "{{ deal.amount }}", "type": "number"}``
    sends ``12500.5``, not ``"12500.50"``. The rendered text is read as ``type`` when the request
    is sent — ``boolean`` takes true/false, yes/no, 1/0; ``json`` any JSON (``{{ deal.fields |
    tojson }}``); an empty text is null — and a text that is not one fails the action, naming the key."""

    template: TemplateText = Field(min_length=1, max_length=2000)
    type: BodyType = "text"


class HttpRequest(ActionBase):
    """Send one HTTP request. https only (plain http to 127.0.0.1 where the stack's
    ``HTTP_ALLOW_LOOPBACK`` setting allows it: locally and in tests); private, loopback,
    link-local and cloud-metadata addresses are refused after the name is resolved."""

    kind: Literal["http_request"] = "http_request"
    method: HttpMethod = "POST"
    url: TemplateText = Field(min_length=1, max_length=2000, description="https://… (a template)")
    headers: dict[HeaderName, TemplateText] = Field(default_factory=dict, max_length=MAX_HEADERS)
    secret_headers: dict[HeaderName, SecretName] = Field(
        default_factory=dict,
        max_length=MAX_HEADERS,
        description="Header → name of an SSM parameter at <prefix>/<tenant>/http/headers/<name>",
    )
    json_body: dict[Key, TemplateText | TypedBodyValue] | None = Field(
        default=None,
        max_length=MAX_BODY_ENTRIES,
        description="A JSON object: each value a template (sent as text) or {template, type} (number, integer, "
        "boolean, json)",
    )
    form_body: dict[Key, TemplateText] | None = Field(
        default=None, max_length=MAX_BODY_ENTRIES, description="A form (application/x-www-form-urlencoded)"
    )
    timeout_seconds: int = Field(default=10, ge=1, le=MAX_TIMEOUT_SECONDS)
    save_response: SaveResponse | None = None
    ambiguous: AmbiguousPolicy | None = Field(
        default=None,
        exclude_if=unset,
        description=AMBIGUOUS_HELP + "Default: retry (receivers drop repeats by their Idempotency-Key)",
    )

    @field_validator("url")
    @classmethod
    def _web_address(cls, url: str) -> str:
        # Whether the address is allowed is decided when it is sent (after rendering and
        # resolving); a URL that is plainly not a web address is refused now.
        if not url.strip().lower().startswith(("https://", "http://", "{{")):
            raise ValueError("url: must start with https:// (or be a template giving one)")
        return url

    @field_validator("headers", "secret_headers")
    @classmethod
    def _not_reserved(cls, headers: dict[str, str]) -> dict[str, str]:
        taken = sorted(h for h in headers if h.lower() in RESERVED_HEADERS)
        if taken:
            raise ValueError(f"{', '.join(taken)}: set by Dealflow itself, not by the automation")
        return headers

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequest:
        if self.json_body is not None and self.form_body is not None:
            raise ValueError("form_body: give json_body or form_body, not both")
        if self.method in BODYLESS_METHODS and (self.json_body is not None or self.form_body is not None):
            raise ValueError(f"method: a {self.method} request carries no body")
        both = {h.lower() for h in self.headers} & {h.lower() for h in self.secret_headers}
        if both:
            raise ValueError(f"secret_headers: {', '.join(sorted(both))} is also in headers")
        return self
