"""Keeping credentials out of messages, logs and artifacts.

- `redact(text, secrets)` replaces every occurrence of each known secret (an API key, a password read
  from the environment) with `***`.
- `redact_url(text)` hides the user information of every URL in `text`:
  `https://user:pw@host:8080/x` becomes `https://***@host:8080/x`; a URL without credentials is left as
  it is. It works on a bare URL and on a message that contains URLs alike.

Redact what you *know* is secret with `redact`; `redact_url` is for URLs whose credentials come from
configuration the code never sees separately (a ZenML store URL, a tracking URI).

- `fields_with_url_credentials(data)` names every string in a nested config (dotted paths) holding a
  URL with credentials: the CLI refuses those before a run, because ZenML stores run parameters.
- `register_secret(value)` adds a value (an API key read from the environment) to the ones every log
  record is cleaned of; `install_log_redaction()` makes every log record, from any library, pass its
  message through `redact_url` and `redact` with the registered secrets (once per process).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

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


def fields_with_url_credentials(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the strings in `data` (mappings and lists, nested) that hold a URL with
    credentials, e.g. `["generation.openai.base_url"]`; empty when there is none."""
    if isinstance(data, str):
        return [prefix or "(value)"] if redact_url(data) != data else []
    if isinstance(data, Mapping):
        items: Iterable[tuple[str, Any]] = ((f"{prefix}.{key}" if prefix else str(key), value) for key, value in data.items())
    elif isinstance(data, (list, tuple)):
        items = ((f"{prefix}[{index}]", value) for index, value in enumerate(data))
    else:
        return []
    return [path for key, value in items for path in fields_with_url_credentials(value, key)]


_REGISTERED: set[str] = set()


def register_secret(value: str | None) -> None:
    """Hide `value` from every log record from now on (values under 4 characters are ignored)."""
    if value and len(value) >= 4:
        _REGISTERED.add(value)


def clean(text: str) -> str:
    """`text` without URL credentials and without any registered secret."""
    return redact(redact_url(text), sorted(_REGISTERED, key=len, reverse=True))


def install_log_redaction() -> None:
    """Clean the message of every log record created from now on (all loggers: embedtune, ZenML,
    distilabel, httpx ...), so step logs and the console never show a URL password or a key."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "embedtune_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's own problem to report
            return record
        cleaned = clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return record

    factory.embedtune_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
