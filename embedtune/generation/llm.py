"""LLM query generation through distilabel: a local llama.cpp model or any OpenAI-compatible endpoint.

Layout of a run:
- pure functions build the chat prompt (`build_messages`) and parse the answer (`parse_llm_output`);
  they are unit-tested without any LLM.
- `DistilabelQueryGenerator` turns every (chunk, i) into one prompt row and calls the distilabel LLM on
  the rows in batches. Every backend defaults to "direct" mode: the distilabel LLM called in this
  process, every answer appended (and fsynced) to a journal `<cache_dir>/direct/<run key>.jsonl` as soon
  as its batch returns, so a killed run resumes without asking again for a finished row. An async LLM
  (OpenAI) sends a batch's requests concurrently and a failed request fails only its row; the client
  retries 429/5xx/timeouts with backoff first. A row whose call failed counts as a failure (and as
  `parse_failure` in `filter_pairs`) and is not journalled, so a re-run retries only it. A rejected key
  (401/403), an unknown model (404) or an unreachable endpoint stops the run at once, and so do
  `MAX_FAILED_BATCHES` wholly failed batches in a row, with one clear `EmbedtuneError` (keys redacted).
  "pipeline" mode (`EMBEDTUNE_DISTILABEL_MODE=pipeline`) runs the rows not yet journalled through a
  distilabel `Pipeline` (`LoadDataFromDicts >> ChatGeneration(llm)`, distilabel's cache on) and journals
  its answers afterwards; it is wrapped in `distilabel_run_context()`, which gives distilabel default
  signal handlers and a clean root logger (inside a ZenML step it hangs otherwise) and puts the
  caller's back afterwards. llama.cpp must stay direct: its OpenMP threads hang in a worker forked from
  a process where torch already started OpenMP. Off the main thread a Pipeline cannot run, so direct
  mode is used there too.
- backends `llamacpp`, `openai`, `transformers` and `vllm` register factories that build the LLM.

Prompts put everything shared first (system message with the rules and the corpus description, then
the passage) and the per-query style instruction last, so llama.cpp reuses its KV cache for the shared
prefix across chunks and for the whole passage between the queries of one chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

# llama.cpp's OpenMP threads spin-wait by default; on a small machine that starves the other thread.
# Must be set before `llama_cpp` is imported (here, or in distilabel's worker processes, which inherit it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from embedtune import EmbedtuneError, logger
from embedtune.generation.base import (
    DEFAULT_STYLES,
    GeneratedQuery,
    QueryGenerator,
    register_backend,
    style_for,
)

if TYPE_CHECKING:
    from embedtune.config import GenerationConfig

PROMPT_VERSION = "llm-v1"
MAX_QUERY_CHARS = 120
MODE_ENV = "EMBEDTUNE_DISTILABEL_MODE"
MAX_FAILED_BATCHES = 3  # consecutive batches whose every call failed (after the client's retries): stop

# ----------------------------------------------------------------------------------------------------
# Prompt building (pure)
# ----------------------------------------------------------------------------------------------------

SYSTEM_TEMPLATE = (
    "You write search queries for a retrieval benchmark over {corpus}.\n"
    "You are shown one passage from the corpus. Write the query a real user would type into the "
    "search box of {corpus} when this passage is the answer they need.\n"
    "Rules:\n"
    "- Use your own words; never copy a phrase of more than four words from the passage.\n"
    "- Be specific to this passage (name the feature, command, or concept), not generic.\n"
    "- At most {max_chars} characters; English; no quotes around the query.\n"
    "- Answer with JSON only: {schema_hint}"
)

STYLE_INSTRUCTIONS = {
    "question": (
        "Write one natural-language question (a full sentence ending with '?') that this passage answers. "
        "Ask it the way a user who has not read the passage would: short, in your own words."
    ),
    "keyword": (
        "Write one short keyword search (3 to 6 words, no commas, no question mark, not a sentence), "
        "the way people type into a search box, for which this passage is the best result."
    ),
    "claim": (
        "Write one short factual claim (a declarative sentence, not a question) that this passage supports "
        "or contradicts, the way someone checking a statement would search for the evidence. State it in "
        "your own words, as a finding, without saying 'the study' or 'this passage'."
    ),
}

VARIANT_HINT = " This is variant {n} of this style: focus on a different detail of the passage than the main topic."


def query_schema(hard_negative: bool = False, max_chars: int = MAX_QUERY_CHARS) -> dict[str, Any]:
    """JSON schema of the answer; llama.cpp turns it into a grammar so the output always parses."""
    properties: dict[str, Any] = {"query": {"type": "string", "minLength": 3, "maxLength": max_chars}}
    required = ["query"]
    if hard_negative:
        properties["hard_negative"] = {"type": "string", "minLength": 3, "maxLength": max_chars}
        required.append("hard_negative")
    return {"type": "object", "properties": properties, "required": required}


def build_system_prompt(corpus_description: str, hard_negative: bool = False) -> str:
    schema_hint = '{"query": "..."}'
    if hard_negative:
        schema_hint = (
            '{"query": "...", "hard_negative": "..."} where hard_negative is a query on a related topic '
            "of the same corpus that this passage does NOT answer."
        )
    corpus = corpus_description.strip() or "technical documentation"
    return SYSTEM_TEMPLATE.format(corpus=corpus, max_chars=MAX_QUERY_CHARS, schema_hint=schema_hint)


def build_messages(
    chunk: dict[str, Any],
    index: int,
    corpus_description: str,
    hard_negative: bool = False,
    max_passage_chars: int = 4000,
    styles: Sequence[str] = DEFAULT_STYLES,
) -> list[dict[str, str]]:
    """Chat messages for query `index` of `chunk`: shared system prompt, passage, then the style."""
    style = style_for(index, styles)
    text = " ".join(str(chunk.get("text") or "").split())
    if len(text) > max_passage_chars:
        text = text[:max_passage_chars].rsplit(" ", 1)[0] + " ..."
    title = " ".join(str(chunk.get("title") or "").split())
    passage = (f"Document: {title}\n" if title else "") + f"Passage:\n{text}"
    instruction = STYLE_INSTRUCTIONS[style]
    rounds = index // len(styles)
    if rounds:
        instruction += VARIANT_HINT.format(n=rounds + 1)
    return [
        {"role": "system", "content": build_system_prompt(corpus_description, hard_negative)},
        {"role": "user", "content": f"{passage}\n\n{instruction}"},
    ]


# ----------------------------------------------------------------------------------------------------
# Output parsing (pure)
# ----------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_QUERY_KEYS = ("query", "search_query", "question", "keywords", "q")
_NEGATIVE_KEYS = ("hard_negative", "negative", "hard_negative_query")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_LABEL = re.compile(r"^(?:search\s+)?(?:query|question|keywords?)\s*[:\-]\s*", re.IGNORECASE)


def clean_query(value: Any) -> str | None:
    """Normalise one query string; None when nothing usable remains."""
    if not isinstance(value, str):
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = " ".join(value)  # {"keywords": ["a", "b"]}
        else:
            return None
    text = " ".join(value.split())
    text = _LABEL.sub("", text)
    for _ in range(3):
        stripped = text.strip().strip(_QUOTES).strip()
        if stripped == text:
            break
        text = stripped
    if not any(ch.isalnum() for ch in text):
        return None
    return text


def _json_candidates(text: str) -> Iterator[str]:
    yield text
    for match in _FENCE.finditer(text):
        yield match.group(1).strip()
    start = text.find("{")
    end = text.rfind("}")
    if start != -1 and end > start:
        yield text[start : end + 1]


def _from_object(obj: Any) -> tuple[str | None, str | None] | None:
    if isinstance(obj, list):
        obj = obj[0] if obj else None
    if isinstance(obj, str):
        return clean_query(obj), None
    if not isinstance(obj, dict):
        return None
    lowered = {str(k).lower(): v for k, v in obj.items()}
    query = next((clean_query(lowered[k]) for k in _QUERY_KEYS if k in lowered), None)
    negative = next((clean_query(lowered[k]) for k in _NEGATIVE_KEYS if k in lowered), None)
    return query, negative


def _string_field(text: str, keys: Sequence[str]) -> str | None:
    """A complete `"key": "value"` pair in otherwise broken JSON (truncated, trailing junk)."""
    for key in keys:
        match = re.search(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)"', text, re.IGNORECASE)
        if match:
            try:
                return clean_query(json.loads(f'"{match.group(1)}"'))
            except ValueError:
                return clean_query(match.group(1))
    return None


def parse_llm_output(raw: Any) -> tuple[str | None, str | None]:
    """(query, hard_negative) from an LLM answer; (None, None) for anything unusable. Never raises."""
    if not isinstance(raw, str):
        return None, None
    text = raw.strip()
    if not text:
        return None, None
    for candidate in _json_candidates(text):
        try:
            parsed = _from_object(json.loads(candidate))
        except ValueError:
            continue
        if parsed is not None:
            return parsed
    # Partial JSON: accept a field only if its string value is complete (closing quote present).
    query = _string_field(text, _QUERY_KEYS)
    if query is not None:
        return query, _string_field(text, _NEGATIVE_KEYS)
    # A single labelled line ("Query: ...") is unambiguous; other free text is treated as garbage.
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and _LABEL.match(lines[0].strip().strip(_QUOTES)):
        return clean_query(lines[0]), None
    return None, None


# ----------------------------------------------------------------------------------------------------
# Running distilabel
# ----------------------------------------------------------------------------------------------------


@contextmanager
def distilabel_run_context() -> Iterator[None]:
    """Default signal handlers and a bare root logger while distilabel runs; the caller's afterwards.

    ZenML installs a SIGTERM handler (and root log handlers) that distilabel's worker processes inherit;
    their shutdown then never completes. distilabel also clears the root logger's handlers.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    in_main = threading.current_thread() is threading.main_thread()
    saved_signals: dict[int, Any] = {}
    if in_main:
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        for signum, handler in defaults.items():
            saved_signals[signum] = signal.getsignal(signum)
            signal.signal(signum, handler)
    root.handlers = []
    try:
        yield
    finally:
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "embedtune" / "distilabel"


def _stats(metadata: Any, step_name: str) -> tuple[int, int]:
    if not isinstance(metadata, dict):
        return 0, 0
    stats = metadata.get(f"statistics_{step_name}") or {}

    def first(value: Any) -> int:
        if isinstance(value, list):
            value = value[0] if value else 0
        try:
            return int(value or 0)
        except (TypeError, ValueError):
            return 0

    return first(stats.get("input_tokens")), first(stats.get("output_tokens"))


def _error_chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _describe_error(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}{f' HTTP {status}' if status else ''}: {text}"


def _fatal_reason(error: BaseException) -> str | None:
    """Why retrying the remaining rows is pointless, or None for a failure of this row only
    (timeouts, 429 and 5xx that outlived the client's retries, a malformed response)."""
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return f"the endpoint rejected the API key (HTTP {status}); check the key in the configured env var"
    if status == 404:
        return "the endpoint or model was not found (HTTP 404); check generation.openai.base_url and model"
    for link in _error_chain(error):
        if isinstance(link, ConnectionRefusedError) or type(link).__name__ in ("ConnectError", "ConnectTimeout"):
            return "cannot connect to the endpoint; is the server running and the base_url right?"
    return None


class DistilabelQueryGenerator(QueryGenerator):
    """Any distilabel LLM as a `QueryGenerator`; the backends below only build the LLM."""

    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        config: GenerationConfig,
        llm: Any,
        generation_kwargs: dict[str, Any],
        generator_name: str,
        batch_size: int = 8,
        hard_negative: bool = False,
        price_per_1k: tuple[float, float] = (0.0, 0.0),
        max_passage_chars: int = 4000,
        check: Any = None,
        cache_salt: str = "",
        default_mode: str = "pipeline",
        endpoint: str = "",
        secrets: Sequence[str] = (),
        key_env: str = "",
    ):
        self.config = config
        self.default_mode = default_mode
        self.llm = llm
        self.generation_kwargs = generation_kwargs
        self.name = generator_name
        self.batch_size = max(1, batch_size)
        self.hard_negative = hard_negative
        self.price_per_1k = price_per_1k
        self.max_passage_chars = max_passage_chars
        self._check = check  # raises EmbedtuneError before a run if the backend cannot work
        self.cache_salt = cache_salt  # what else makes a cached answer invalid (e.g. the endpoint)
        self.endpoint = endpoint  # shown in error messages (never a key)
        self.secrets = [secret for secret in secrets if secret]  # redacted from every message
        self.key_env = key_env  # the *name* of the env var holding the key, for error messages
        self._usage: dict[str, Any] = {}
        self._errors: Counter = Counter()
        self._resumed = 0

    # -- rows ------------------------------------------------------------------------------------
    def build_rows(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> list[dict[str, Any]]:
        rows = []
        for chunk in chunks:  # chunk-major: the queries of one chunk share the passage in the KV cache
            for index in range(queries_per_chunk):
                rows.append(
                    {
                        "row_id": f"{chunk['chunk_id']}::{index}",
                        "style": style_for(index, self.config.query_styles),
                        "messages": build_messages(
                            chunk,
                            index,
                            self.config.corpus_description,
                            self.hard_negative,
                            self.max_passage_chars,
                            self.config.query_styles,
                        ),
                    }
                )
        return rows

    def _run_key(self, rows: list[dict[str, Any]]) -> str:
        digest = hashlib.sha256()
        digest.update(
            json.dumps(
                [self.name, self.cache_salt, PROMPT_VERSION, self.generation_kwargs, self.config.seed],
                sort_keys=True,
                default=str,
            ).encode()
        )
        for row in rows:
            digest.update(json.dumps([row["row_id"], row["messages"]], sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def _cache_dir(self) -> Path:
        return Path(self.config.cache_dir).expanduser() if self.config.cache_dir else _default_cache_dir()

    def _mode(self) -> str:
        mode = os.environ.get(MODE_ENV, self.default_mode).strip().lower()
        if mode not in ("pipeline", "direct"):
            raise EmbedtuneError(f"{MODE_ENV} must be 'pipeline' or 'direct', not '{mode}'")
        if mode == "pipeline" and threading.current_thread() is not threading.main_thread():
            logger.info("not in the main thread: calling the distilabel LLM in-process instead of a Pipeline")
            mode = "direct"
        return mode

    # -- the journal of finished answers ---------------------------------------------------------
    def _journal_path(self, run_key: str) -> Path:
        return self._cache_dir() / "direct" / f"{run_key}.jsonl"

    @staticmethod
    def _read_journal(journal: Path) -> dict[str, tuple[Any, int, int]]:
        """Answers an earlier (possibly killed) run finished; a torn last line is ignored."""
        results: dict[str, tuple[Any, int, int]] = {}
        if not journal.is_file():
            return results
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
                results[item["row_id"]] = (item["raw"], int(item["prompt_tokens"]), int(item["completion_tokens"]))
            except (ValueError, KeyError, TypeError):
                continue
        return results

    @staticmethod
    def _journal_line(row_id: str, raw: str, prompt_tokens: int, completion_tokens: int) -> str:
        record = {"row_id": row_id, "raw": raw, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        return json.dumps(record) + "\n"

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- pipeline mode ---------------------------------------------------------------------------
    def _run_pipeline(self, rows: list[dict[str, Any]], run_key: str) -> dict[str, tuple[Any, int, int]]:
        """Rows not yet in the journal through a distilabel Pipeline (whose own cache covers an
        interrupted pipeline); every answer is journalled afterwards, so a re-run skips it."""
        from distilabel.pipeline import Pipeline
        from distilabel.steps import LoadDataFromDicts
        from distilabel.steps.tasks import ChatGeneration

        journal = self._journal_path(run_key)
        journal.parent.mkdir(parents=True, exist_ok=True)
        results = self._read_journal(journal)
        self._resumed = len([row for row in rows if row["row_id"] in results])
        todo = [row for row in rows if row["row_id"] not in results]
        if not todo:
            return results
        step_name = "generate_queries"
        self.llm.generation_kwargs = dict(self.generation_kwargs)  # distilabel keeps them on the LLM
        # Named after what is left to do: re-run after a kill, the same rows meet distilabel's cache of
        # their finished batches; once the journal holds the answers that cache is dropped (below), so
        # a row that failed is asked again next time instead of being served its cached failure.
        todo_key = hashlib.sha256("\n".join(row["row_id"] for row in todo).encode()).hexdigest()[:8]
        name = f"embedtune-queries-{run_key}-{todo_key}"
        with Pipeline(
            name=name,
            description="embedtune synthetic query generation",
            cache_dir=self._cache_dir(),
        ) as pipeline:
            load = LoadDataFromDicts(name="load_chunks", data=todo, batch_size=self.batch_size)
            task = ChatGeneration(
                name=step_name,
                llm=self.llm,
                input_batch_size=self.batch_size,
            )
            load >> task
        with distilabel_run_context():
            distiset = pipeline.run(use_cache=True)
        if distiset is None:
            return results
        with journal.open("a", encoding="utf-8") as out:
            for config_name in distiset:
                for split in distiset[config_name].values():
                    for record in split:
                        prompt_tokens, completion_tokens = _stats(record.get("distilabel_metadata"), step_name)
                        raw = record.get("generation")
                        results[record["row_id"]] = (raw, prompt_tokens, completion_tokens)
                        if isinstance(raw, str):
                            out.write(self._journal_line(record["row_id"], raw, prompt_tokens, completion_tokens))
        shutil.rmtree(self._cache_dir() / name, ignore_errors=True)
        return results

    # -- direct mode -----------------------------------------------------------------------------
    def _call_batch(self, batch: list[dict[str, Any]]) -> list[Any]:
        """One output dict or one exception per row. An async LLM (OpenAI) sends the rows
        concurrently and a failed request fails only its own row; other LLMs fail as a batch."""
        from distilabel.models.llms.base import AsyncLLM

        if isinstance(self.llm, AsyncLLM):
            import asyncio

            async def gather() -> list[Any]:
                calls = [
                    self.llm.agenerate(input=row["messages"], num_generations=1, **self.generation_kwargs)
                    for row in batch
                ]
                return await asyncio.gather(*calls, return_exceptions=True)

            return self.llm.event_loop.run_until_complete(gather())
        try:
            return list(
                self.llm.generate_outputs(
                    inputs=[row["messages"] for row in batch], num_generations=1, **self.generation_kwargs
                )
            )
        except Exception as error:  # noqa: BLE001 - a failed call is failed rows, not a failed run
            return [error] * len(batch)

    def _run_direct(self, rows: list[dict[str, Any]], run_key: str) -> dict[str, tuple[Any, int, int]]:
        journal = self._journal_path(run_key)
        journal.parent.mkdir(parents=True, exist_ok=True)
        results = self._read_journal(journal)  # resume: rows finished by an interrupted run
        self._resumed = len([row for row in rows if row["row_id"] in results])
        todo = [row for row in rows if row["row_id"] not in results]
        if self._resumed:
            logger.info("resuming: %d of %d answers already in %s", self._resumed, len(rows), journal)
        if not todo:
            return results
        self.llm.load()
        failed_batches = 0
        try:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(todo), desc=f"generating queries ({self.name})", unit="query")
            with journal.open("a", encoding="utf-8") as out, progress:
                for start in range(0, len(todo), self.batch_size):
                    batch = todo[start : start + self.batch_size]
                    outputs = self._call_batch(batch)
                    errors = [output for output in outputs if isinstance(output, BaseException)]
                    for row, output in zip(batch, outputs):
                        if isinstance(output, BaseException):
                            results[row["row_id"]] = (None, 0, 0)
                            continue
                        generations = output.get("generations") or [None]
                        stats = output.get("statistics") or {}
                        prompt_tokens = int((stats.get("input_tokens") or [0])[0] or 0)
                        completion_tokens = int((stats.get("output_tokens") or [0])[0] or 0)
                        results[row["row_id"]] = (generations[0], prompt_tokens, completion_tokens)
                        if isinstance(generations[0], str):  # no content at all is retried on resume
                            out.write(self._journal_line(row["row_id"], generations[0], prompt_tokens, completion_tokens))
                    out.flush()
                    os.fsync(out.fileno())
                    progress.update(len(batch))
                    for error in errors:
                        self._errors[type(error).__name__] += 1
                    if errors:
                        logger.warning(
                            "%d of %d LLM calls failed (%s); those rows count as failures",
                            len(errors), len(batch), self._redact(_describe_error(errors[-1])),
                        )
                        fatal_error = next((error for error in errors if _fatal_reason(error)), None)
                        failed_batches = failed_batches + 1 if len(errors) == len(batch) else 0
                        if fatal_error is not None or failed_batches >= MAX_FAILED_BATCHES:
                            reason = _fatal_reason(fatal_error) if fatal_error is not None else None
                            raise self._give_up(reason, fatal_error or errors[-1], journal, results, len(rows))
                    else:
                        failed_batches = 0
        finally:
            try:
                self.llm.unload()
            except Exception as error:  # noqa: BLE001 - unloading is best effort
                logger.debug("could not unload the LLM: %s", error)
        return results

    def _give_up(
        self, fatal: str | None, error: BaseException, journal: Path, results: dict[str, Any], total: int
    ) -> EmbedtuneError:
        kept = sum(1 for raw, _, _ in results.values() if isinstance(raw, str))
        why = fatal or f"{MAX_FAILED_BATCHES} batches in a row failed after retries"
        if self.key_env:
            why = why.replace("the configured env var", f"${self.key_env}")
        endpoint = f" at {self.endpoint}" if self.endpoint else ""
        return EmbedtuneError(
            self._redact(
                f"{self.name}{endpoint} gave no answer: {why} ({_describe_error(error)}). "
                f"{kept} of {total} answers are kept in {journal}; fix the cause and re-run to resume"
            )
        )

    # -- the contract ----------------------------------------------------------------------------
    def generate(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> list[GeneratedQuery]:
        started = time.perf_counter()
        rows = self.build_rows(chunks, queries_per_chunk)
        self._usage = {}
        self._errors = Counter()
        self._resumed = 0
        if not rows:
            return []
        if self._check is not None:
            self._check()
        run_key = self._run_key(rows)
        mode = self._mode()
        logger.info("generating %d queries for %d chunks with %s (%s mode)", len(rows), len(chunks), self.name, mode)
        results = self._run_pipeline(rows, run_key) if mode == "pipeline" else self._run_direct(rows, run_key)

        queries: list[GeneratedQuery] = []
        prompt_total = completion_total = parsed = answered = 0
        for row in rows:
            raw, prompt_tokens, completion_tokens = results.get(row["row_id"], (None, 0, 0))
            if raw is not None:
                answered += 1
            query, negative = parse_llm_output(raw)
            parsed += query is not None
            prompt_total += prompt_tokens
            completion_total += completion_tokens
            queries.append(
                GeneratedQuery(
                    chunk_id=row["row_id"].rsplit("::", 1)[0],
                    query=query,
                    style=row["style"],
                    generator=self.name,
                    prompt_version=PROMPT_VERSION,
                    llm_negative=negative if self.hard_negative else None,
                    raw=raw if isinstance(raw, str) else "",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            )
        seconds = time.perf_counter() - started
        prompt_price, completion_price = self.price_per_1k
        self._usage = {
            "generator": self.name,
            "mode": mode,
            "requests": len(rows),
            "answered": answered,
            "parsed": parsed,
            "failed": len(rows) - parsed,
            "unanswered": len(rows) - answered,  # the call failed or returned no content
            "unparseable": answered - parsed,  # an answer came back but held no usable query
            "call_errors": dict(self._errors),  # exception class -> rows, after the client's retries
            "resumed_answers": self._resumed,  # taken from the journal of an earlier, interrupted run
            "prompt_tokens": prompt_total,
            "completion_tokens": completion_total,
            "cost_usd": round(prompt_total / 1000 * prompt_price + completion_total / 1000 * completion_price, 6),
            "seconds": round(seconds, 2),
            "seconds_per_chunk": round(seconds / max(1, len(chunks)), 2),
        }
        if answered == 0:
            errors = ", ".join(f"{n} {name}" for name, n in self._errors.items()) or "no content"
            raise EmbedtuneError(
                f"{self.name} returned no answer for any of {len(rows)} prompts ({errors}); "
                "see the log above for the error (model path, endpoint, API key, or server down)"
            )
        if answered < len(rows):
            logger.warning(
                "%d of %d prompts got no answer (%s); they count as parse_failure in filter_pairs, and a "
                "re-run retries only them", len(rows) - answered, len(rows), dict(self._errors) or "no content",
            )
        logger.info("generation usage: %s", self._usage)
        return queries

    def usage(self) -> dict[str, Any]:
        return dict(self._usage)


# ----------------------------------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------------------------------


@register_backend("llamacpp")
def make_llamacpp(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """The local offline backend: llama.cpp with JSON-schema constrained output."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    try:
        import llama_cpp  # noqa: F401  (checked here so the error names the fix; env var already set)
    except ImportError as error:
        raise EmbedtuneError(
            f"the llamacpp backend needs llama-cpp-python ({error}); run `make install` or "
            '`CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python==0.3.36`'
        ) from error
    from distilabel.models.llms import LlamaCppLLM

    from embedtune.generation.gguf import DEFAULT_MODEL, packaged_model_path

    options = config.llamacpp
    if options.model_path:
        model_path = Path(options.model_path).expanduser()
        if not model_path.is_file():
            raise EmbedtuneError(f"generation.llamacpp.model_path does not exist: {model_path}")
        model_name = model_path.stem.lower()
    else:
        model_path = packaged_model_path()
        model_name = DEFAULT_MODEL.name
    threads = options.n_threads or max(1, os.cpu_count() or 1)
    llm = LlamaCppLLM(
        model_path=str(model_path),
        n_gpu_layers=options.n_gpu_layers,
        n_ctx=options.n_ctx,
        n_batch=min(512, options.n_ctx),
        seed=config.seed,
        verbose=False,
        extra_kwargs={"n_threads": threads, "n_threads_batch": threads},
    )
    generation_kwargs = {
        "max_new_tokens": options.max_new_tokens,
        "temperature": options.temperature,
        "top_p": 0.9,
        "extra_generation_kwargs": {
            "response_format": {"type": "json_object", "schema": query_schema(hard_negative)},
            "repeat_penalty": 1.1,
        },
    }
    # Leave room for the prompt scaffolding (~250 tokens) and the answer; ~3.5 characters per token.
    max_passage_chars = max(500, int((options.n_ctx - 300 - options.max_new_tokens) * 3.5))
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"llamacpp:{model_name}",
        batch_size=8,
        hard_negative=hard_negative,
        max_passage_chars=max_passage_chars,
        # In-process: llama.cpp's OpenMP threads hang in a worker forked from a process whose OpenMP
        # runtime torch already started (seen when generation follows training in one process).
        default_mode="direct",
    )


@register_backend("openai")
def make_openai(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """Any OpenAI-compatible endpoint. The openai client retries 429/408/409/5xx and connection errors
    with exponential backoff (honouring Retry-After) up to `max_retries`."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    try:
        import openai  # noqa: F401
    except ImportError as error:
        raise EmbedtuneError(
            f"the openai backend needs the openai client ({error}); run `make install` or `pip install openai`"
        ) from error
    from distilabel.models.llms import OpenAILLM
    from pydantic import SecretStr

    options = config.openai
    key = os.environ.get(options.api_key_env)
    if not key:
        if options.base_url:  # local servers (vLLM, Ollama, llama.cpp server) accept any key
            key = "not-needed"
            logger.info("$%s is not set; sending a placeholder key to %s", options.api_key_env, options.base_url)
        else:
            raise EmbedtuneError(
                f"the openai backend reads its API key from ${options.api_key_env}, which is not set; "
                "export it, or set generation.openai.api_key_env / base_url"
            )
    llm_kwargs: dict[str, Any] = {
        "model": options.model,
        "api_key": SecretStr(key),
        "max_retries": options.max_retries,
        "timeout": max(1, math.ceil(options.timeout_s)),
    }
    if options.base_url:
        llm_kwargs["base_url"] = options.base_url
    llm = OpenAILLM(**llm_kwargs)
    generation_kwargs = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature}
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"openai:{options.model}",
        batch_size=options.max_concurrency,  # one batch is sent concurrently by distilabel's AsyncLLM
        hard_negative=hard_negative,
        price_per_1k=(options.price_per_1k_prompt_tokens, options.price_per_1k_completion_tokens),
        cache_salt=options.base_url or "",
        # Direct: each request fails alone, and every answer is journalled as it arrives, so a killed
        # run resumes without paying twice; EMBEDTUNE_DISTILABEL_MODE=pipeline uses a distilabel Pipeline.
        default_mode="direct",
        endpoint=options.base_url or "https://api.openai.com/v1",
        secrets=[key],
        key_env=options.api_key_env,
    )


def _local_model(config: GenerationConfig, backend: str) -> str:
    model = config.local_model.model
    if not model:
        raise EmbedtuneError(
            f"the {backend} backend needs generation.local_model.model: a local path or cached hub id of an "
            "instruct model (offline, a hub id must already be in the Hugging Face cache)"
        )
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


@register_backend("transformers")
def make_transformers(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """A Hugging Face causal LM in-process through distilabel's TransformersLLM (GPU when present)."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    from distilabel.models.llms import TransformersLLM

    options = config.local_model
    model = _local_model(config, "transformers")
    llm = TransformersLLM(
        model=model,
        device=options.device,
        torch_dtype=options.torch_dtype,
        chat_template=options.chat_template,
        token=None,
    )
    generation_kwargs = {
        "max_new_tokens": options.max_new_tokens,
        "temperature": max(options.temperature, 1e-5),
        "top_p": 0.9,
        "do_sample": options.temperature > 0,
    }
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"transformers:{Path(model).name}",
        batch_size=8,
        hard_negative=hard_negative,
        default_mode="direct",  # one model in this process; no forked workers
    )


@register_backend("vllm")
def make_vllm(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """vLLM in-process on GPUs through distilabel's vLLM class (install vllm yourself on a GPU machine)."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        raise EmbedtuneError(
            f"the vllm backend needs the vllm package on a CUDA machine ({error}); `pip install vllm` there, "
            "or serve the model with `vllm serve` and use `generation.backend: openai` with `openai.base_url`"
        ) from None
    from distilabel.models.llms import vLLM

    options = config.local_model
    model = _local_model(config, "vllm")
    llm = vLLM(
        model=model,
        chat_template=options.chat_template,
        extra_kwargs={"tensor_parallel_size": options.tensor_parallel_size},
    )
    generation_kwargs = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature, "top_p": 0.9}
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"vllm:{Path(model).name}",
        batch_size=64,  # vLLM batches internally; large batches keep the GPU busy
        hard_negative=hard_negative,
        default_mode="direct",
    )
