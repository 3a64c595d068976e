"""The answer journal: every LLM answer of a run on disk as soon as its batch returns, so a killed run
resumes without asking (or paying) again for a finished row.

One file per run: `<cache_dir>/direct/<run key>.jsonl`, where `cache_dir` is `generation.cache_dir` or
`~/.cache/embedtune/distilabel`, and the run key (`DistilabelQueryGenerator._run_key`) hashes the
generator, endpoint, `PROMPT_VERSION`, generation kwargs, seed and every prompt. One JSON line per
answered row::

    {"row_id": "<chunk_id>::<i>", "raw": "<the answer>", "prompt_tokens": 120, "completion_tokens": 15}

The runner appends and fsyncs the lines of a batch; a row whose call failed is not written, so a re-run
asks only for it. A torn last line (a kill mid-write) is skipped on reading. Cached artifacts and old
journals depend on this layout: do not change it without changing `PROMPT_VERSION`.

The answer store, `<cache_dir>/answers.jsonl`, outlives runs: every answer of a finished generation
under its `answer_key` (the same settings as the run key, the row's query index and its messages, never
the chunk id). A later run whose corpus changed in places (an edited page, a new document, a fresh clone)
takes the answers of unchanged prompts from it (`generation.reuse_answers`) and asks only for the rest.
Delete the file to start afresh; a different seed, model or prompt version never matches. It is bounded
(`generation.answer_store_mb`): past the bound, the oldest answers go.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from embedtune import logger


def default_cache_dir() -> Path:
    """Where journals (and distilabel's pipeline cache) go when `generation.cache_dir` is not set."""
    return Path.home() / ".cache" / "embedtune" / "distilabel"


def cache_dir_for(cache_dir: str | None) -> Path:
    """`generation.cache_dir` as a folder: the configured one, else `default_cache_dir()`."""
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def journal_path(cache_dir: Path, run_key: str) -> Path:
    """The journal of run `run_key`: `<cache_dir>/direct/<run_key>.jsonl`."""
    return cache_dir / "direct" / f"{run_key}.jsonl"


def read_journal(journal: Path) -> dict[str, tuple[Any, int, int]]:
    """Answers an earlier (possibly killed) run finished; a torn last line is ignored.

    Returns:
        row_id -> (raw answer, prompt tokens, completion tokens); empty when there is no journal.
    """
    return _read_records(journal, "row_id")


def _read_records(path: Path, key: str) -> dict[str, tuple[Any, int, int]]:
    """record[key] -> (raw, prompt tokens, completion tokens) of every JSON line of `path` (none when it is
    missing); a torn or foreign line is skipped."""
    records: dict[str, tuple[Any, int, int]] = {}
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            records[item[key]] = (item["raw"], int(item["prompt_tokens"]), int(item["completion_tokens"]))
        except (ValueError, KeyError, TypeError):
            continue
    return records


def journal_line(row_id: str, raw: str, prompt_tokens: int, completion_tokens: int) -> str:
    """One journal record, newline-terminated."""
    record = {"row_id": row_id, "raw": raw, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    return json.dumps(record) + "\n"


ANSWERS_FILE = "answers.jsonl"


def answer_key(settings: str, row: dict[str, Any]) -> str:
    """What an answer depends on: `settings` (generator, prompt version, call kwargs, seed, as one JSON
    string), the row's query index (the part of its row id after `::`) and its messages."""
    index = str(row["row_id"]).rsplit("::", 1)[-1]
    payload = json.dumps([settings, index, row["messages"]], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def read_answers(cache_dir: Path) -> dict[str, tuple[Any, int, int]]:
    """The answer store (`answers.jsonl` in `cache_dir`): key -> (raw answer, prompt tokens, completion
    tokens); torn or foreign lines are skipped."""
    return _read_records(cache_dir / ANSWERS_FILE, "key")


def append_answers(cache_dir: Path, items: Iterable[tuple[str, Any, int, int]]) -> int:
    """Append (key, raw, prompt tokens, completion tokens) items to the answer store; returns how many."""
    lines = [json.dumps({"key": key, "raw": raw, "prompt_tokens": prompt, "completion_tokens": completion}) + "\n"
             for key, raw, prompt, completion in items]
    if lines:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with (cache_dir / ANSWERS_FILE).open("a", encoding="utf-8") as out:
            out.write("".join(lines))
    return len(lines)


def reuse_answers(cache_dir: Path, settings: str, rows: list[dict[str, Any]],
                  results: dict[str, tuple[Any, int, int]], journal: Path) -> tuple[int, set[str]]:
    """Fill `results` (and the run's `journal`) with the stored answers of rows it lacks.

    Returns:
        (how many answers were reused, the answer keys of `rows` the store already holds).
    """
    known = read_answers(cache_dir)
    keys = {row["row_id"]: answer_key(settings, row) for row in rows}
    reused = [row for row in rows if row["row_id"] not in results and keys[row["row_id"]] in known]
    if reused:
        with journal.open("a", encoding="utf-8") as out:
            for row in reused:
                results[row["row_id"]] = known[keys[row["row_id"]]]
                out.write(journal_line(row["row_id"], *results[row["row_id"]]))
        logger.info("reusing %d of %d answers to unchanged prompts from %s", len(reused), len(rows),
                    cache_dir / ANSWERS_FILE)
    return len(reused), set(keys.values()) & set(known)


def count_stored(cache_dir: Path, settings: str, rows: list[dict[str, Any]]) -> int:
    """How many of `rows` the answer store already answers under `settings` (what a run would reuse).

        >>> count_stored(Path("/nonexistent"), "[]", [{"row_id": "a#0::0", "messages": []}])
        0
    """
    known = read_answers(cache_dir)
    return sum(answer_key(settings, row) in known for row in rows) if known else 0


def store_answers(cache_dir: Path, settings: str, rows: list[dict[str, Any]],
                  results: dict[str, tuple[Any, int, int]], stored: set[str], max_mb: float | None = None) -> int:
    """Append every answer in `results` whose key is not in `stored` (updated) to the store, then keep it
    within `max_mb` megabytes (`bound_answers`)."""
    items = []
    for row in rows:
        key = answer_key(settings, row)
        raw, prompt_tokens, completion_tokens = results.get(row["row_id"], (None, 0, 0))
        if raw is not None and key not in stored:
            stored.add(key)
            items.append((key, raw, prompt_tokens, completion_tokens))
    added = append_answers(cache_dir, items)
    if max_mb is not None:
        bound_answers(cache_dir / ANSWERS_FILE, int(max_mb * 2**20))
    return added


def bound_answers(path: Path, max_bytes: int) -> int:
    """When the store is over `max_bytes`, keep its newest answers (the last lines) within 80% of it: older
    answers are the likeliest to belong to prompts nobody asks any more. The file is replaced whole.

    Returns:
        How many answers were dropped.
    """
    if not path.is_file() or path.stat().st_size <= max_bytes:
        return 0
    lines = path.read_bytes().splitlines(keepends=True)
    kept: list[bytes] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) > 0.8 * max_bytes:
            break
        kept.append(line)
        size += len(line)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_bytes(b"".join(reversed(kept)))
    os.replace(scratch, path)
    dropped = len(lines) - len(kept)
    logger.info("answer store over %.0f MB: dropped its %d oldest answers", max_bytes / 2**20, dropped)
    return dropped
