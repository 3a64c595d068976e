"""Running a distilabel LLM over the prompts: `DistilabelQueryGenerator`, its run modes and failure
handling. Backends (`embedtune.generation.backends`) only build the LLM and pass it here.

A prompt is one row: one query (`prompt_mode: per_query`, row id `<chunk>::<i>`) or all of a chunk's
queries (`per_chunk`, row id `<chunk>::all<n>`, answer parsed by `parse_chunk_output`).

Contract: `generate(chunks, queries_per_chunk)` returns one `GeneratedQuery` per (chunk, i), chunk-major,
styles from `style_for(i, config.query_styles)`; a row whose call failed or whose answer does not parse
has `query=None` (and `raw`, if any), and `filter_pairs` counts it as `parse_failure`. `usage()` then
reports requests, answers, parse failures, call errors by class, tokens, cost and time. Every answer is
journalled (`embedtune.generation.journal`) as soon as its batch returns, so a killed run resumes.

- "direct" mode (every backend's default): the LLM is called in this process, batch by batch. An async
  LLM (OpenAI) sends a batch's requests concurrently and a failed request fails only its row; the
  client retries 429/5xx/timeouts with backoff first. A failed row is not journalled, so a re-run
  retries only it. A rejected key (401/403), an unknown model (404) or an unreachable endpoint stops
  the run at once, and so do `MAX_FAILED_BATCHES` wholly failed batches in a row, with one clear
  `EmbedtuneError` (secrets redacted).
- "pipeline" mode (`EMBEDTUNE_DISTILABEL_MODE=pipeline`): the rows not yet journalled go through a
  distilabel `Pipeline` (`embedtune.generation.distilabel_pipeline`), and are journalled afterwards.
  llama.cpp must stay direct: its OpenMP threads hang in a worker forked from a process where torch
  already started OpenMP. Off the main thread a Pipeline cannot run, so direct mode is used there too.
- "ray" mode (`generation.engine: ray`, whatever the backend's default or the env var): the same as
  pipeline mode on a Ray cluster (`embedtune.generation.ray_engine`), in `generation.ray.replicas`
  copies; llama.cpp too (Ray workers are not forked). It must run in the main thread.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# llama.cpp's OpenMP threads spin-wait by default; on a small machine that starves the other thread.
# Must be set before `llama_cpp` is imported: the llama.cpp backend imports this module first, and
# distilabel's worker processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import embedtune.generation.journal as answer_store
from embedtune import EmbedtuneError, logger
from embedtune.generation.base import GeneratedQuery, QueryGenerator, style_for
from embedtune.generation.distilabel_pipeline import run_pipeline
from embedtune.generation.examples import load_example_queries
from embedtune.generation.journal import journal_line, journal_path, read_journal
from embedtune.generation.parsing import queries_from_answer
from embedtune.generation.prompts import (
    build_chunk_messages,
    build_messages,
    multi_query_schema,
    prompt_version,
    query_keys,
)
from embedtune.util.errors import describe_error, error_chain
from embedtune.util.redact import redact

if TYPE_CHECKING:
    from embedtune.config import GenerationConfig

MODE_ENV = "EMBEDTUNE_DISTILABEL_MODE"
MAX_FAILED_BATCHES = 3  # consecutive batches whose every call failed (after the client's retries): stop


def _fatal_reason(error: BaseException) -> str | None:
    """Why retrying the remaining rows is pointless, or None for a failure of this row only
    (timeouts, 429 and 5xx that outlived the client's retries, a malformed response)."""
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return f"the endpoint rejected the API key (HTTP {status}); check the key in the configured env var"
    if status == 404:
        return "the endpoint or model was not found (HTTP 404); check generation.openai.base_url and model"
    for link in error_chain(error):
        if isinstance(link, ConnectionRefusedError) or type(link).__name__ in ("ConnectError", "ConnectTimeout"):
            return "cannot connect to the endpoint; is the server running and the base_url right?"
    return None


class DistilabelQueryGenerator(QueryGenerator):
    """Any distilabel LLM as a `QueryGenerator`; the factories in `embedtune.generation.backends` build one.

    Args:
        config: the `generation` config (styles, corpus description, seed, cache_dir).
        llm: a distilabel LLM, not yet loaded.
        generation_kwargs: passed to every call (max_new_tokens, temperature, ...); part of the run key.
        generator_name: `<backend>:<model>`, stored in every row.
        batch_size: rows per call (an async LLM sends them concurrently).
        default_mode: "direct" or "pipeline" when `EMBEDTUNE_DISTILABEL_MODE` is not set.
        price_per_1k: USD per 1000 (prompt, completion) tokens, for `usage()["cost_usd"]`.
    """

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
        self._resumed = self._reused = 0
        self.per_chunk = config.prompt_mode == "per_chunk"
        self.examples = load_example_queries(config.example_queries)  # a bad file fails before any work
        self.prompt_version = prompt_version(config.prompt_mode, self.examples)
        self._call_kwargs = generation_kwargs

    # -- rows ------------------------------------------------------------------------------------
    def build_rows(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> list[dict[str, Any]]:
        rows = []
        if self.per_chunk:
            styles = [style_for(index, self.config.query_styles) for index in range(queries_per_chunk)]
            for chunk in chunks:
                messages = build_chunk_messages(
                    chunk, queries_per_chunk, self.config.corpus_description, self.hard_negative,
                    self.max_passage_chars, self.config.query_styles, self.examples,
                )
                rows.append({"row_id": f"{chunk['chunk_id']}::all{queries_per_chunk}", "styles": styles,
                             "keys": query_keys(styles), "messages": messages})
            return rows
        for chunk in chunks:  # chunk-major: the queries of one chunk share the passage in the KV cache
            for index in range(queries_per_chunk):
                messages = build_messages(chunk, index, self.config.corpus_description, self.hard_negative,
                                          self.max_passage_chars, self.config.query_styles, self.examples)
                rows.append({"row_id": f"{chunk['chunk_id']}::{index}",
                             "style": style_for(index, self.config.query_styles), "messages": messages})
        return rows

    def _settings_key(self) -> str:
        """What every answer of a run depends on besides its prompt (JSON)."""
        return json.dumps([self.name, self.cache_salt, self.prompt_version, self._call_kwargs, self.config.seed],
                          sort_keys=True, default=str)

    def _run_key(self, rows: list[dict[str, Any]]) -> str:
        digest = hashlib.sha256()
        digest.update(self._settings_key().encode())
        for row in rows:
            digest.update(json.dumps([row["row_id"], row["messages"]], sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def _cache_dir(self) -> Path:
        return answer_store.cache_dir_for(self.config.cache_dir)

    def _mode(self) -> str:
        """"ray" for `generation.engine: ray`; else `EMBEDTUNE_DISTILABEL_MODE` or the backend's default."""
        if self.config.engine == "ray":
            if threading.current_thread() is not threading.main_thread():
                raise EmbedtuneError("generation.engine: ray runs distilabel's Ray pipeline, which needs the main "
                                     "thread; run the step in the main thread or set generation.engine: local")
            return "ray"
        mode = os.environ.get(MODE_ENV, self.default_mode).strip().lower()
        if mode not in ("pipeline", "direct"):
            raise EmbedtuneError(f"{MODE_ENV} must be 'pipeline' or 'direct', not '{mode}'")
        if mode == "pipeline" and threading.current_thread() is not threading.main_thread():
            logger.info("not in the main thread: calling the distilabel LLM in-process instead of a Pipeline")
            mode = "direct"
        return mode

    def _resume(self, rows: list[dict[str, Any]], run_key: str) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
        """(the run's journal, the answers it holds: rows finished by an interrupted run, the rows to ask)."""
        journal = journal_path(self._cache_dir(), run_key)
        journal.parent.mkdir(parents=True, exist_ok=True)
        results = read_journal(journal)
        todo = [row for row in rows if row["row_id"] not in results]
        self._resumed = len(rows) - len(todo)
        if self._resumed:
            logger.info("resuming: %d of %d answers already in %s", self._resumed, len(rows), journal)
        if todo and self.config.reuse_answers:  # answers of earlier runs to the same prompts
            self._reused, self._stored = answer_store.reuse_answers(self._cache_dir(), self._settings_key(), rows,
                                                                    results, journal)
            todo = [row for row in todo if row["row_id"] not in results]
        return journal, results, todo

    # -- pipeline mode ---------------------------------------------------------------------------
    def _run_pipeline(self, rows: list[dict[str, Any]], run_key: str, mode: str) -> dict[str, tuple[Any, int, int]]:
        """Rows not yet in the journal through a distilabel Pipeline (whose own cache covers an interrupted
        pipeline), on Ray in mode "ray"; every answer is journalled afterwards, so a re-run skips it."""
        journal, results, todo = self._resume(rows, run_key)
        if not todo:
            return results
        self.llm.generation_kwargs = dict(self._call_kwargs)  # distilabel keeps them on the LLM
        ray = self.config.ray if mode == "ray" else None
        results.update(run_pipeline(self.llm, todo, self.batch_size, self._cache_dir(), run_key, journal, ray=ray))
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
                    self.llm.agenerate(input=row["messages"], num_generations=1, **self._call_kwargs)
                    for row in batch
                ]
                return await asyncio.gather(*calls, return_exceptions=True)

            return self.llm.event_loop.run_until_complete(gather())
        try:
            return list(
                self.llm.generate_outputs(
                    inputs=[row["messages"] for row in batch], num_generations=1, **self._call_kwargs
                )
            )
        except Exception as error:  # noqa: BLE001 - a failed call is failed rows, not a failed run
            return [error] * len(batch)

    def _run_direct(self, rows: list[dict[str, Any]], run_key: str) -> dict[str, tuple[Any, int, int]]:
        journal, results, todo = self._resume(rows, run_key)
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
                            out.write(journal_line(row["row_id"], generations[0], prompt_tokens, completion_tokens))
                    out.flush()
                    os.fsync(out.fileno())
                    progress.update(len(batch))
                    self._errors.update(type(error).__name__ for error in errors)
                    if errors:
                        logger.warning("%d of %d LLM calls failed (%s); those rows count as failures", len(errors),
                                       len(batch), redact(describe_error(errors[-1]), self.secrets))
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
            redact(
                f"{self.name}{endpoint} gave no answer: {why} ({describe_error(error)}). "
                f"{kept} of {total} answers are kept in {journal}; fix the cause and re-run to resume",
                self.secrets,
            )
        )

    def _kwargs_for(self, queries_per_chunk: int) -> dict[str, Any]:
        """The generation kwargs of this run's prompts: per chunk, room for every query's tokens and,
        where the backend constrains the answer with a JSON schema (llama.cpp), the per-chunk schema."""
        if not self.per_chunk:
            return self.generation_kwargs
        kwargs = copy.deepcopy(self.generation_kwargs)
        answers = queries_per_chunk + (1 if self.hard_negative else 0)
        if "max_new_tokens" in kwargs:
            kwargs["max_new_tokens"] = int(kwargs["max_new_tokens"]) * answers
        response_format = (kwargs.get("extra_generation_kwargs") or {}).get("response_format") or {}
        if "schema" in response_format:
            styles = [style_for(index, self.config.query_styles) for index in range(queries_per_chunk)]
            response_format["schema"] = multi_query_schema(query_keys(styles), self.hard_negative)
        return kwargs

    # -- the contract ----------------------------------------------------------------------------
    def stored_share(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> float:
        self._call_kwargs = self._kwargs_for(queries_per_chunk)  # part of every answer's key
        rows = self.build_rows(chunks, queries_per_chunk) if self.config.reuse_answers else []
        return answer_store.count_stored(self._cache_dir(), self._settings_key(), rows) / len(rows) if rows else 0.0

    def generate(self, chunks: Sequence[dict[str, Any]], queries_per_chunk: int) -> list[GeneratedQuery]:
        started = time.perf_counter()
        rows = self.build_rows(chunks, queries_per_chunk)
        self._usage = {}
        self._errors = Counter()
        self._resumed = self._reused = 0
        self._stored: set[str] = set()
        if not rows:
            return []
        if self._check is not None:
            self._check()
        self._call_kwargs = self._kwargs_for(queries_per_chunk)
        run_key = self._run_key(rows)
        mode = self._mode()
        logger.info("generating %d queries for %d chunks in %d prompts with %s (%s mode)",
                    len(chunks) * queries_per_chunk, len(chunks), len(rows), self.name, mode)
        results = self._run_direct(rows, run_key) if mode == "direct" else self._run_pipeline(rows, run_key, mode)
        if self.config.reuse_answers:
            answer_store.store_answers(self._cache_dir(), self._settings_key(), rows, results, self._stored,
                                       self.config.answer_store_mb)

        queries: list[GeneratedQuery] = []
        prompt_total = completion_total = parsed = answered = unparseable = 0
        for row in rows:
            raw, prompt_tokens, completion_tokens = results.get(row["row_id"], (None, 0, 0))
            if raw is not None:
                answered += 1
            rows_of_answer = queries_from_answer(
                row, raw, prompt_tokens, completion_tokens, self.name, self.prompt_version, self.hard_negative
            )
            parsed += sum(query.query is not None for query in rows_of_answer)
            if raw is not None:
                unparseable += sum(query.query is None for query in rows_of_answer)
            prompt_total += prompt_tokens
            completion_total += completion_tokens
            queries.extend(rows_of_answer)
        seconds = time.perf_counter() - started
        prompt_price, completion_price = self.price_per_1k
        self._usage = {
            "generator": self.name,
            "mode": mode,
            "prompt_mode": self.config.prompt_mode,
            "prompt_version": self.prompt_version,
            "parallel": int(getattr(self.llm, "parallel", 1) or 1),  # prompts decoded together (llama.cpp)
            "requests": len(rows),
            "queries": len(queries),
            "answered": answered,
            "parsed": parsed,
            "failed": len(queries) - parsed,
            "unanswered": len(rows) - answered,  # the call failed or returned no content
            "unparseable": unparseable,  # an answer came back but held no usable query
            "call_errors": dict(self._errors),  # exception class -> rows, after the client's retries
            "resumed_answers": self._resumed,  # taken from the journal of an earlier, interrupted run
            "reused_answers": self._reused,  # answers an earlier run gave to the same prompts (answer store)
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

