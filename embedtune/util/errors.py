"""Walking and describing exceptions, for messages a user reads.

- `error_chain(error)` yields the error, then its cause or context, and so on (each link once, so a
  cycle in `__cause__`/`__context__` ends the walk): find the `EmbedtuneError` a library wrapped, or a
  connection error under an HTTP client's own exception.
- `failed_request(error)` is the URL and the reason of an HTTP request that got no answer (requests'
  ConnectionError or Timeout, retries exhausted included), recognised by type: which server went away.
- `describe_error(error)` is one short line: class name, the HTTP status when the error carries one
  (`status_code`, as openai's and httpx's errors do) and the first 200 characters of the message with
  whitespace collapsed. It may contain secrets from the message: pass it through
  `embedtune.util.redact.redact` before it is logged.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then `__cause__` (or, without one, `__context__`) link by link; every link once.

    Args:
        error: the exception caught.

    Returns:
        An iterator over the chain, outermost first.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_error(error: BaseException) -> str:
    """One line naming the error, e.g. `APIStatusError HTTP 401: Incorrect API key provided`.

    Args:
        error: the exception to describe (only this link, not its chain).

    Returns:
        `<class name>[ HTTP <status>]: <message, whitespace collapsed, at most 200 characters>`.
    """
    status = getattr(error, "status_code", None)
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}{f' HTTP {status}' if status else ''}: {text}"


def failed_request(error: BaseException) -> tuple[str, str] | None:
    """The URL and the reason of an HTTP request made with `requests` that got no answer.

    Args:
        error: one link of an exception chain (only this link is tested; walk `error_chain` to find it).

    Returns:
        `(url, reason)` when `error` is requests' `ConnectionError` or `Timeout` (also after urllib3's retries
        were exhausted) and carries its request: `reason` is the operating system's words for the socket
        error underneath (`Connection refused`, `Connection reset by peer`), `timed out`, or the class name of
        the deepest error. None for anything else, and when `requests` was never imported.
    """
    exceptions = sys.modules.get("requests.exceptions")
    if exceptions is None or not isinstance(error, (exceptions.ConnectionError, exceptions.Timeout)):
        return None
    url = getattr(getattr(error, "request", None), "url", None)
    if not url:
        return None
    deepest = error
    for link in error_chain(error):
        deepest = link
        if isinstance(link, OSError) and not isinstance(link, exceptions.RequestException) and link.strerror:
            return str(url), str(link.strerror)
    if isinstance(error, exceptions.Timeout) or isinstance(deepest, TimeoutError):
        return str(url), "timed out"
    return str(url), type(deepest).__name__
