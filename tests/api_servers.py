"""Loopback servers that speak the embeddings APIs of OpenAI, Cohere (v2/embed), Gemini (batchEmbedContents)
and Voyage: their paths, auth headers, request fields, answer shapes and error bodies, as documented (see
the `source` of each client in embedtune/models/api/). A server checks what a real one would refuse:

- a wrong or missing key: 401 in the provider's error format (the message echoes the key, as some
  providers do, so tests can check the client redacts it);
- more texts in one request than the provider takes (`max_batch`): 400;
- a missing or unknown query/document type (Cohere `input_type`, Gemini `taskType`, Voyage `input_type`):
  400;
- and it answers with deterministic bag-of-words vectors of `dim` (or the requested dimensions).

`script` makes the first requests fail on purpose: `[(429, {"Retry-After": "7"})]`, `[(503, {})]`.

Example:
    >>> with serve("cohere") as server:
    ...     os.environ["EMBEDTUNE_COHERE_BASE_URL"] = server.url
    ...     api_embedder("cohere:embed-v4.0").encode(["a"], input_type="query")
    ...     server.requests[0]["body"]["input_type"]
    'search_query'
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from tests.loopback import JSONHandler

SECRET = "sk-test-embeddings-do-not-log-41d2"
DIM = 32

MAX_BATCH = {"openai": 2048, "cohere": 96, "gemini": 100, "voyage": 1000}


def bag_of_words(text: str, dim: int = DIM) -> list[float]:
    """A deterministic embedding: hashed word counts, so shared words mean similar vectors."""
    vector = np.zeros(dim)
    for word in text.lower().split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return vector.tolist()


def error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    """The error body each provider sends."""
    if provider == "cohere":
        return {"id": "err-1", "message": message}
    if provider == "voyage":
        return {"detail": message}
    if provider == "gemini":
        names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
        return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


class ApiServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, provider: str, key: str = SECRET, dim: int = DIM, max_batch: int | None = None,
                 script: list[tuple[int, dict[str, str]]] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.provider, self.key, self.dim = provider, key, dim
        self.max_batch = max_batch or MAX_BATCH[provider]
        self.script = list(script or [])
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL a client is given (OpenAI-style servers include /v1)."""
        root = f"http://127.0.0.1:{self.server_address[1]}"
        return f"{root}/v1" if self.provider == "openai" else root

    def texts(self, kind: str | None = None) -> list[str]:
        """Every text received (of one query/document type, as the provider names it), in order."""
        return [text for request in self.requests for text, sent in zip(request["texts"], request["types"])
                if kind is None or sent == kind]


class _Handler(JSONHandler):
    def do_POST(self) -> None:
        server: ApiServer = self.server  # type: ignore[assignment]
        provider = server.provider
        body = self.read_json()
        texts, types, dims = _unpack(provider, body)
        with server.lock:
            server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body, "texts": texts,
                                    "types": types, "dims": dims})
            scripted = server.script.pop(0) if server.script else None
        if scripted is not None:
            status, headers = scripted
            self.send_json(status, error_body(provider, status, "scripted failure"), headers)
            return
        sent_key = self.headers.get("x-goog-api-key") if provider == "gemini" else (
            (self.headers.get("Authorization") or "").removeprefix("Bearer "))
        if sent_key != server.key:
            self.send_json(401, error_body(provider, 401, f"Incorrect API key provided: {sent_key}"))
            return
        problem = _check(provider, self.path, body, texts, types, server.max_batch)
        if problem:
            self.send_json(400, error_body(provider, 400, problem))
            return
        dim = dims[0] if dims and dims[0] else server.dim
        vectors = [bag_of_words(text, dim) for text in texts]
        tokens = sum(len(text.split()) for text in texts)
        self.send_json(200, _answer(provider, body, vectors, tokens))


def _unpack(provider: str, body: dict[str, Any]) -> tuple[list[str], list[Any], list[Any]]:
    """(texts, query/document type of each, requested dimensions of each) from a request body."""
    if provider == "gemini":
        requests = body.get("requests") or []
        texts = [" ".join(p.get("text", "") for p in r.get("content", {}).get("parts", [])) for r in requests]
        return texts, [r.get("taskType") for r in requests], [r.get("outputDimensionality") for r in requests]
    if provider == "cohere":
        texts = list(body.get("texts") or [])
        return texts, [body.get("input_type")] * len(texts), [body.get("output_dimension")] * len(texts)
    texts = body.get("input") or []
    texts = [texts] if isinstance(texts, str) else list(texts)
    key = "output_dimension" if provider == "voyage" else "dimensions"
    return texts, [body.get("input_type")] * len(texts), [body.get(key)] * len(texts)


def _check(provider: str, path: str, body: dict[str, Any], texts: list[str], types: list[Any],
           max_batch: int) -> str:
    """What the real API would answer 400 to ("" when nothing)."""
    expected = {"openai": "/v1/embeddings", "cohere": "/v2/embed", "voyage": "/v1/embeddings"}.get(provider)
    if provider == "gemini":
        model = path.split("/models/", 1)[-1].split(":", 1)[0]
        if not path.endswith(":batchEmbedContents") or any(r.get("model") != f"models/{model}"
                                                              for r in body.get("requests", [])):
            return f"bad path or model: {path}"
    elif path != expected:
        return f"unknown path {path}"
    if not texts:
        return "no texts"
    if len(texts) > max_batch:
        return f"too many texts in one request: {len(texts)} > {max_batch}"
    if any(not text for text in texts):
        return "empty string in input"
    allowed = {"cohere": {"search_query", "search_document", "classification", "clustering"},
               "gemini": {"RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY"},
               "voyage": {None, "query", "document"}}.get(provider)
    if allowed is not None and any(kind not in allowed for kind in types):
        return f"invalid input type {types[0]!r}"
    if provider == "cohere" and body.get("embedding_types") != ["float"]:
        return "embedding_types must be ['float'] here"
    return ""


def _answer(provider: str, body: dict[str, Any], vectors: list[list[float]], tokens: int) -> dict[str, Any]:
    if provider == "gemini":
        return {"embeddings": [{"values": vector} for vector in vectors]}
    if provider == "cohere":
        return {"id": "emb-1", "embeddings": {"float": vectors}, "texts": body["texts"],
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                "response_type": "embeddings_by_type"}
    data = [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)]
    data.reverse()  # servers may answer out of order: `index` decides
    usage = {"total_tokens": tokens} if provider == "voyage" else {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.get("model"), "usage": usage}


@contextlib.contextmanager
def serve(provider: str, **kwargs: Any) -> Iterator[ApiServer]:
    """An `ApiServer` on a free loopback port for the duration of the block."""
    server = ApiServer(provider, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
