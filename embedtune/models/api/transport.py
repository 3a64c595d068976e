"""JSON over HTTPS for the API embedders: retries with backoff on 408/409/429/5xx, honouring Retry-After.

Standard library only (`urllib`), so no provider SDK is needed. Every message that leaves this module
(log line or exception) has the key redacted (`embedtune.util.redact.redact`), whatever the server echoes.

- 401 / 403: `ApiAuthError`, one line naming the environment variable that holds the key; never retried.
- other 4xx (400 "batch too large", 404 unknown model, 422): `ApiRequestError` with the server's message;
  never retried (sending the same request again cannot help).
- 408 / 409 / 429 / 5xx and connection errors / timeouts: retried up to `max_retries` times, waiting what
  `Retry-After` (seconds or an HTTP date) or `retry-after-ms` asks for (capped at `max_wait_s`), else an
  exponential backoff with jitter; after the last one, `ApiRetriesExhausted`.

Example:
    >>> body = post_json(Endpoint("https://api.example.com/v1/embeddings", {"Authorization": "Bearer ..."}),
    ...                  {"model": "m", "input": ["a"]}, RetryPolicy(max_retries=3), provider="openai:m",
    ...                  key_env="OPENAI_API_KEY", secrets=[key])  # doctest: +SKIP
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from embedtune import EmbedtuneError, logger
from embedtune.util.redact import redact, redact_url

RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class ApiError(EmbedtuneError):
    """An API embedder could not embed: its message is one line for the user (no key in it)."""

    status: int | None = None


class ApiAuthError(ApiError):
    """401 / 403: the key is missing, wrong or lacks access."""


class ApiRequestError(ApiError):
    """A 4xx other than 401/403/408/409/429: the request itself is wrong (too large, unknown model)."""


class ApiRetriesExhausted(ApiError):
    """Still failing (429, 5xx, timeouts) after every retry."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    timeout_s: float = 60.0
    backoff_s: float = 1.0  # first wait without Retry-After; doubles each retry, with +-25% jitter
    max_wait_s: float = 120.0  # the longest single wait (a longer Retry-After is cut to this)


def retry_after_seconds(headers: Mapping[str, str] | Any, now: float | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def server_message(raw: bytes) -> str:
    """The error message inside a provider's error body (OpenAI/Gemini `error.message`, Cohere `message`,
    Voyage `detail`), else the start of the body; one line."""
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    message: Any = body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error
        elif isinstance(error, str):
            message = error
        else:
            message = body.get("message") or body.get("detail") or body
    return " ".join(str(message).split())[:300]


def _opener(url: str) -> urllib.request.OpenerDirector:
    """Loopback servers (tests, a local vLLM/TEI/Ollama) are reached directly, never through a proxy."""
    host = urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def post_json(
    endpoint: Endpoint,
    body: Mapping[str, Any],
    policy: RetryPolicy,
    provider: str,
    key_env: str,
    secrets: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> dict[str, Any]:
    """POST `body` as JSON and return the JSON answer, retrying what can succeed on a second try.

    Args:
        endpoint: the URL and headers (the key goes in a header, never in a log line).
        body: the request, JSON-serialisable.
        policy: retries, timeout and waits.
        provider: `provider:model`, for messages.
        key_env: the environment variable holding the key, named in the 401/403 message.
        secrets: values to redact from every message (the key).
        sleep: how to wait (tests pass a recorder).
        on_retry: called with (attempt, seconds waited, why) before each retry.

    Raises:
        ApiAuthError, ApiRequestError, ApiRetriesExhausted: one line each, the key redacted.
    """
    secrets = [s for s in secrets if s]
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", **endpoint.headers}
    opener = _opener(endpoint.url)
    where = redact(redact_url(endpoint.url.split("?", 1)[0]), secrets)
    last = ""
    for attempt in range(policy.max_retries + 1):
        request = urllib.request.Request(endpoint.url, data=data, headers=headers, method="POST")
        wait: float | None = None
        try:
            with opener.open(request, timeout=policy.timeout_s) as response:
                raw = response.read()
            try:
                return json.loads(raw)
            except ValueError:
                last = f"an answer that is not JSON: {raw[:120]!r}"
        except urllib.error.HTTPError as error:
            raw = error.read() if error.fp is not None else b""
            message = redact(server_message(raw), secrets)
            status = error.code
            if status in (401, 403):
                failure: ApiError = ApiAuthError(
                    f"{provider}: the API refused the key in ${key_env} ({status} at {where}): {message}"
                )
                failure.status = status
                raise failure from None
            if status not in RETRIED_STATUSES:
                failure = ApiRequestError(f"{provider}: the API rejected the request ({status} at {where}): {message}")
                failure.status = status
                raise failure from None
            last = f"{status}: {message}"
            wait = retry_after_seconds(error.headers)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            last = redact(f"{type(error).__name__}: {reason}", secrets)
        if attempt == policy.max_retries:
            break
        if wait is None:
            wait = policy.backoff_s * (2**attempt) * random.uniform(0.75, 1.25)
        wait = min(wait, policy.max_wait_s)
        logger.warning("%s: %s; retry %d of %d in %.1fs", provider, last, attempt + 1, policy.max_retries, wait)
        if on_retry is not None:
            on_retry(attempt + 1, wait, last)
        sleep(wait)
    raise ApiRetriesExhausted(
        f"{provider}: failed after retries ({policy.max_retries} retries at {where}; last: {last})"
    )
