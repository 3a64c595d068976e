"""Shared plumbing of the loopback HTTP test servers (OpenAI-compatible chat/embeddings, fault injection)."""

from __future__ import annotations

import http.server
import json
from typing import Any


class JSONHandler(http.server.BaseHTTPRequestHandler):
    """Quiet request handler that reads and writes JSON bodies."""

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """`body` is JSON-encoded unless it is already bytes (to send malformed answers on purpose)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
