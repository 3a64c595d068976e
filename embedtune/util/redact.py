"""Keeping credentials out of messages, logs and artifacts.

- `redact(text, secrets)` replaces every occurrence of each known secret (an API key, a password read
  from the environment) with `***`.
- `redact_url(text)` hides the user information of every URL in `text`:
  `https://user:pw@host:8080/x` becomes `https://***@host:8080/x`; a URL without credentials is left as
  it is. It works on a bare URL and on a message that contains URLs alike.

Redact what you *know* is secret with `redact`; `redact_url` is for URLs whose credentials come from
configuration the code never sees separately (a ZenML store URL, a tracking URI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# scheme://userinfo@ ; the userinfo runs to the *last* "@" before the path, as urllib.parse.urlsplit
# reads it (a password may contain "@").
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*)@")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of every non-empty secret replaced by `***`.

    Args:
        text: a message about to be logged, raised or stored.
        secrets: the values to hide; empty strings and None are ignored.

    Returns:
        The redacted text.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def _mask_userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if not userinfo.replace(":", "", 1):  # "@host" or ":@host": no user name or password to hide
        return match.group(0)
    return f"{match.group('scheme')}{MASK}@"


def redact_url(text: str) -> str:
    """`text` with the `user:password@` part of every URL in it replaced by `***@`.

    Args:
        text: one URL, or a message containing URLs.

    Returns:
        The same text; host, port, path and query of each URL are kept as written.
    """
    return _URL_USERINFO.sub(_mask_userinfo, text)
