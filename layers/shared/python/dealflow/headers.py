"""Text bound for a message header is data, never structure.

An e-mail's subject, a sender's display name and address, an SNS message attribute: each is one
line, whatever its text came from — a template, a deal's title typed into a web form, a constant, a
user's name, configuration. A CR or LF there (or NEL, U+2028, U+2029, any other control character)
could start a header of its own (``Bcc:``) or break the message. The engine cleans what it renders,
so test mode shows what will be sent; the AWS adapters clean again, as every path passes them.
"""

from __future__ import annotations

import re
from email.utils import formataddr

# C0 and C1 controls (CR, LF, NEL U+0085, tab, ...), the line and paragraph separators, and lone
# surrogates (which no mail encodes).
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")
_NAMED_ADDRESS = re.compile(r"(?s)(.*)<([^<>]*)>\s*")


def header_text(value: str) -> str:
    """``value`` as one header line: each run of control characters becomes one space."""
    return _BREAKS.sub(" ", value).strip()


def address(value: str) -> str:
    """An e-mail address for a header; ValueError when it holds a control character (an address
    never does: this one was built to inject a header, and is not sent to at all)."""
    if _BREAKS.search(value):
        raise ValueError(f"the e-mail address {header_text(value)!r} holds a control character")
    return value.strip()


def mailbox(value: str) -> str:
    """A sender as ``address`` or ``Display Name <address>``; the display name on one line, quoted
    where it needs to be."""
    named = _NAMED_ADDRESS.fullmatch(value)
    if named is None:
        return address(value)
    name = header_text(named.group(1)).strip('"').strip()
    return formataddr((name, address(named.group(2)))) if name else address(named.group(2))
