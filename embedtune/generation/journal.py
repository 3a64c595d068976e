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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """Where journals (and distilabel's pipeline cache) go when `generation.cache_dir` is not set."""
    return Path.home() / ".cache" / "embedtune" / "distilabel"


def journal_path(cache_dir: Path, run_key: str) -> Path:
    """The journal of run `run_key`: `<cache_dir>/direct/<run_key>.jsonl`."""
    return cache_dir / "direct" / f"{run_key}.jsonl"


def read_journal(journal: Path) -> dict[str, tuple[Any, int, int]]:
    """Answers an earlier (possibly killed) run finished; a torn last line is ignored.

    Returns:
        row_id -> (raw answer, prompt tokens, completion tokens); empty when there is no journal.
    """
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


def journal_line(row_id: str, raw: str, prompt_tokens: int, completion_tokens: int) -> str:
    """One journal record, newline-terminated."""
    record = {"row_id": row_id, "raw": raw, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    return json.dumps(record) + "\n"
