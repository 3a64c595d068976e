"""A loopback OpenAI-compatible chat server that misbehaves on purpose, for reliability tests.

What it answers is decided per prompt, so concurrent requests stay deterministic: the last user
message may contain a marker `FAULT:<spec>` where spec is one of

    ok             a good JSON answer (also the default without a marker)
    429x<N>        HTTP 429 (Retry-After: 0) for the first N attempts at this prompt, then ok
    500x<N>        HTTP 500 for the first N attempts, then ok     (503x<N> likewise)
    500 / 503      always that status
    timeoutx<N>    sleep `slow_seconds` (longer than the client's timeout) N times, then ok
    timeout        always too slow
    malformed      HTTP 200 whose body is not JSON
    empty          HTTP 200, the message content is ""
    null           HTTP 200, the message content is null
    nochoices      HTTP 200, an empty `choices` list
    partial        HTTP 200, content cut off inside the JSON value
    garbage        HTTP 200, free text that is no query
    drop           the connection is closed without any response

`status` (e.g. 401) answers every request with that status regardless of markers, like an endpoint
rejecting the key. Every request is recorded (path, prompt, Authorization header, outcome); after
`max_requests` the server answers 503 without recording more, so a retry loop cannot run away.
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.loopback import JSONHandler

MARKER = re.compile(r"FAULT:([a-z0-9]+)")
GOOD_ANSWER = '{"query": "how does %s work"}'


@dataclass
class Request:
    path: str
    prompt: str
    auth: str | None
    outcome: str


@dataclass
class FaultState:
    status: int | None = None  # answer every request with this HTTP status (e.g. 401)
    slow_seconds: float = 3.0
    delay_seconds: float = 0.0  # added to every answer (to interrupt a run mid-way)
    max_requests: int = 200
    requests: list[Request] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)  # prompt -> attempts so far
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if outcome is None or r.outcome == outcome)

    def prompts(self, outcome: str | None = None) -> list[str]:
        with self.lock:
            return [r.prompt for r in self.requests if outcome is None or r.outcome == outcome]


def _decide(spec: str, attempt: int) -> str:
    """The outcome for the `attempt`-th (1-based) request of a prompt carrying `spec`."""
    match = re.fullmatch(r"(429|500|503|timeout)x(\d+)", spec)
    if match:
        return match.group(1) if attempt <= int(match.group(2)) else "ok"
    return spec


class _Handler(JSONHandler):
    server: FaultServer  # type: ignore[assignment]


    def _completion(self, model: str, content: Any, choices: bool = True) -> None:
        message = {"role": "assistant", "content": content}
        self.send_json(
            200,
            {
                "id": "chatcmpl-fault",
                "object": "chat.completion",
                "created": 1700000000,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}] if choices else [],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            },
        )

    def do_GET(self) -> None:  # /v1/models, as real servers have it
        self.send_json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", 0))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        messages = body.get("messages") or [{}]
        prompt = str(messages[-1].get("content", ""))
        marker = MARKER.search(prompt)
        with state.lock:
            if len(state.requests) >= state.max_requests:
                outcome = "over_limit"
            else:
                state.attempts[prompt] += 1
                outcome = str(state.status) if state.status else _decide(
                    marker.group(1) if marker else "ok", state.attempts[prompt]
                )
                state.requests.append(Request(self.path, prompt, self.headers.get("Authorization"), outcome))
        if state.delay_seconds:
            time.sleep(state.delay_seconds)
        model = str(body.get("model", "m"))
        if outcome == "over_limit":
            self.send_json(503, {"error": {"message": "fault server request limit reached"}})
        elif outcome.isdigit():
            status = int(outcome)
            headers = {"Retry-After": "0"} if status == 429 else {}
            self.send_json(status, {"error": {"message": f"fault server says {status}", "type": "fault"}}, headers)
        elif outcome == "timeout":
            time.sleep(state.slow_seconds)
            self._completion(model, GOOD_ANSWER % "slow")
        elif outcome == "malformed":
            self.send_json(200, b'{"id": "chatcmpl-fault", "choices": [{"message": ')
        elif outcome == "empty":
            self._completion(model, "")
        elif outcome == "null":
            self._completion(model, None)
        elif outcome == "nochoices":
            self._completion(model, None, choices=False)
        elif outcome == "partial":
            self._completion(model, '{"query": "how to disable cach')
        elif outcome == "garbage":
            self._completion(model, "I am sorry, I cannot help with that.\nHere are some thoughts instead.")
        elif outcome == "drop":
            self.close_connection = True
            self.connection.close()
        else:
            words = re.findall(r"[A-Za-z]{4,}", prompt.split("Passage:", 1)[-1])
            self._completion(model, GOOD_ANSWER % (words[0].lower() if words else "this"))


class FaultServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: FaultState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, dropped connection) is expected here; stay quiet."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@contextmanager
def fault_server(**options: Any) -> Iterator[tuple[FaultServer, FaultState]]:
    """Run a `FaultServer` on a free loopback port in a daemon thread for the `with` block."""
    server = FaultServer(FaultState(**options))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
