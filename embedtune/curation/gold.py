"""Collecting a gold set in Argilla: real queries in, human-judged relevant passages out.

1. `read_queries(path)`: real queries (search logs, support tickets): one per line, or JSONL with `query`/`text`
   (and optionally `id`).
2. `pool_candidates(...)`: each model (the base and the latest tuned one) retrieves its top passages per query;
   the pool is de-duplicated and put in a model-blind order (a hash of query and chunk id), so annotators cannot
   tell which model found what.
3. `push_gold(...)`: one Argilla record per query (id = the query id): the query, the numbered passages, and one
   question, "which passages answer it?". The candidates' chunk ids, documents and spans ride along in a hidden
   metadata property, so the pull needs nothing but Argilla.
4. `pull_gold(...)`: the submitted answers -> gold rows (`embedtune.evaluation.gold.COLUMNS`: doc + span + chunk
   id, so the set survives a change of chunking). A passage is relevant when most of the query's submitted
   responses mark it (a tie counts as "no"); a query nobody found a relevant passage for is left out and counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError
from embedtune.config import CurationConfig
from embedtune.curation.argilla import connect, find_workspace, not_configured_message, push_records, resolve_connection
from embedtune.evaluation.gold import query_id

if TYPE_CHECKING:
    import argilla as rg

logger = logging.getLogger(__name__)

RELEVANT_PASSAGES = "relevant_passages"
NONE = "none"  # the answer "no passage answers it" (the question is required, so it needs a label)
CANDIDATES = "candidates"
GOLD_GUIDELINES = """\
Each record is a **real search query** and a numbered list of **passages** from the documentation, found by
several retrieval models and shown in a random order. Mark **every passage that answers the query** (a person
searching with it would be glad to land there). Mark **none** if no passage answers it, and submit: that is an
answer too. Discard a query you cannot judge (nonsense, not about these documents).
"""


def read_queries(path: str | Path) -> list[tuple[str, str]]:
    """(id, query) pairs from a text file (one query per line; blank lines and `#` comments skipped) or JSONL
    (`query` or `text`, optional `id`); duplicates dropped. EmbedtuneError for a missing, empty or bad file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EmbedtuneError(f"queries file not found: {path} (one real query per line, or JSONL with 'query')")
    queries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        qid = None
        if path.suffix.lower() == ".jsonl":
            try:
                row = json.loads(text)
                text = str(row.get("query") or row.get("text") or "").strip()
                qid = str(row["id"]) if row.get("id") is not None else None
            except (json.JSONDecodeError, AttributeError):
                raise EmbedtuneError(f"{path}:{number} is not a JSON object with 'query' or 'text'") from None
            if not text:
                raise EmbedtuneError(f"{path}:{number} has no 'query' or 'text'")
        queries.setdefault(qid or query_id(text), " ".join(text.split()))
    if not queries:
        raise EmbedtuneError(f"{path} holds no queries")
    return list(queries.items())


def span_of(text: str, words: int = 12) -> str:
    """A quotable span from the middle of a chunk (away from the text it shares with its neighbours)."""
    tokens = text.split()
    start = max(0, (len(tokens) - words) // 2)
    return " ".join(tokens[start:start + words])


def pool_candidates(rankings: Mapping[str, Sequence[Sequence[str]]], query_ids: Sequence[str], k: int) -> dict[str, list[str]]:
    """query id -> chunk ids: the union of every model's top `k` (rankings: model -> per query, best first), in a
    model-blind order: sorted by a hash of query id and chunk id."""
    pooled = {}
    for index, qid in enumerate(query_ids):
        found = {chunk for ranking in rankings.values() for chunk in list(ranking[index])[:k]}
        pooled[qid] = sorted(found, key=lambda chunk: hashlib.sha256(f"{qid}\x1f{chunk}".encode()).hexdigest())
    return pooled


def gold_record(qid: str, query: str, candidates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One query's Argilla record dict: the query, the numbered passages, and the hidden candidate table."""
    passages = "\n\n---\n\n".join(
        f"**[{number}]** `{chunk['source']}`\n\n{chunk['text']}" for number, chunk in enumerate(candidates, start=1)
    )
    table = [
        f"{number}|{chunk['chunk_id']}|{chunk['source']}|{span_of(str(chunk['text']))}"
        for number, chunk in enumerate(candidates, start=1)
    ]
    return {"id": qid, "fields": {"query": query, "passages": passages}, "metadata": {CANDIDATES: table},
            "suggestions": [], "vectors": {}}


def _settings(client: rg.Argilla, config: CurationConfig) -> rg.Settings:
    import argilla as rg

    labels = [str(number) for number in range(1, 2 * config.gold_candidates + 1)] + [NONE]
    return rg.Settings(
        guidelines=GOLD_GUIDELINES,
        fields=[rg.TextField(name="query", title="Query", client=client),
                rg.TextField(name="passages", title="Passages", use_markdown=True, client=client)],
        questions=[rg.MultiLabelQuestion(name=RELEVANT_PASSAGES, title="Which passages answer the query?",
                                         labels=labels, required=True, client=client)],
        metadata=[rg.TermsMetadataProperty(name=CANDIDATES, title="Candidates", visible_for_annotators=False,
                                           client=client)],
        distribution=rg.TaskDistribution(min_submitted=config.min_submitted),
    )


def _gold_dataset(client: rg.Argilla, config: CurationConfig, create: bool) -> rg.Dataset | None:
    import argilla as rg

    workspace = find_workspace(client, config)
    for dataset in workspace.datasets:
        if dataset.name == config.gold_dataset:
            return dataset.get()
    if not create:
        return None
    logger.info("creating Argilla dataset '%s' in workspace '%s'", config.gold_dataset, workspace.name)
    return rg.Dataset(name=config.gold_dataset, workspace=workspace, settings=_settings(client, config),
                      client=client).create()


def _client(config: CurationConfig) -> tuple[rg.Argilla, str]:
    connection = resolve_connection(config)
    if connection is None:
        raise EmbedtuneError(not_configured_message(config))
    return connect(connection, config), connection.api_url


def push_gold(
    queries: Sequence[tuple[str, str]], chunks: Sequence[Mapping[str, Any]], rankings: Mapping[str, Sequence[Sequence[str]]],
    config: CurationConfig,
) -> dict[str, Any]:
    """One record per query with the pooled candidates of every model in `rankings` (model -> chunk ids per
    query, best first), upserted into `curation.gold_dataset`. Returns counts for the CLI."""
    client, api_url = _client(config)
    by_id = {str(chunk["chunk_id"]): chunk for chunk in chunks}
    pooled = pool_candidates(rankings, [qid for qid, _ in queries], config.gold_candidates)
    records = [gold_record(qid, query, [by_id[c] for c in pooled[qid]]) for qid, query in queries]
    dataset = _gold_dataset(client, config, create=True)
    counts = push_records(client, dataset, records, config.batch_size)
    sizes = [len(pooled[qid]) for qid, _ in queries]
    logger.info("pushed %d gold queries to Argilla '%s' (%.1f passages each)", len(records), dataset.name,
                sum(sizes) / len(sizes))
    return {"api_url": api_url, "dataset": dataset.name, "models": list(rankings),
            "passages_per_query": round(sum(sizes) / len(sizes), 1), **counts}


def _metadata(model: Any) -> dict[str, Any]:
    metadata = model.metadata or {}
    if isinstance(metadata, Mapping):
        return dict(metadata)
    return {item.name: item.value for item in metadata}


def judgments(qid: str, query: str, table: Sequence[str], responses: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """One record's gold rows and its outcome (`judged`, `none_relevant`, `discarded` or `pending`).
    `responses`: {"status", "values": {question: value}} per user; only submitted ones count."""
    submitted = [r for r in responses if r.get("status") == "submitted"]
    if not submitted:
        return [], "discarded" if any(r.get("status") == "discarded" for r in responses) else "pending"
    votes = Counter(str(n) for r in submitted for n in set((r.get("values") or {}).get(RELEVANT_PASSAGES) or []))
    candidates = {number: rest for number, _, rest in (entry.partition("|") for entry in table)}
    rows = []
    for number, count in sorted(votes.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0):
        if 2 * count > len(submitted) and number in candidates:  # "none" is no candidate
            chunk_id, source, span = candidates[number].split("|", 2)
            rows.append({"query_id": qid, "query": query, "doc": source, "span": span, "heading": None,
                         "chunk": chunk_id, "grade": 1, "where": f"argilla record {qid} passage {number}"})
    return rows, "judged" if rows else "none_relevant"


def pull_gold(config: CurationConfig, page_size: int = 500) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The gold rows judged in `curation.gold_dataset`, and counts per outcome. Needs an owner or admin key."""
    from argilla._exceptions import ForbiddenError

    client, api_url = _client(config)
    dataset = _gold_dataset(client, config, create=False)
    if dataset is None:
        raise EmbedtuneError(
            f"no Argilla dataset '{config.gold_dataset}' at {api_url}: push queries first (`python run.py curate gold push "
            "--queries FILE`)"
        )
    rows: list[dict[str, Any]] = []
    outcomes: Counter = Counter({name: 0 for name in ("judged", "none_relevant", "discarded", "pending")})
    offset = 0
    while True:
        try:
            page = client.api.records.list(dataset_id=dataset.id, offset=offset, limit=page_size,
                                           with_suggestions=False, with_responses=True)
        except ForbiddenError:
            raise EmbedtuneError("this Argilla API key may not read all responses: pulling needs an owner or admin key") from None
        for record in page:
            responses = [
                {"status": str(getattr(r.status, "value", r.status)),
                 "values": {name: (value or {}).get("value") for name, value in (r.values or {}).items()}}
                for r in record.responses or []
            ]
            found, outcome = judgments(str(record.external_id), str((record.fields or {}).get("query", "")),
                                       _metadata(record).get(CANDIDATES) or [], responses)
            rows.extend(found)
            outcomes[outcome] += 1
        if len(page) < page_size:
            break
        offset += page_size
    summary = {"api_url": api_url, "dataset": config.gold_dataset, "queries": len({r["query_id"] for r in rows}),
               "judgments": len(rows), "records": dict(outcomes)}
    logger.info("pulled gold set from Argilla '%s': %s", config.gold_dataset, summary["records"])
    if not rows:
        raise EmbedtuneError(
            f"no judged gold queries in Argilla dataset '{config.gold_dataset}' yet ({dict(outcomes)}): mark the "
            f"relevant passages at {api_url} and submit"
        )
    return rows, summary


def rank_chunks(
    models: Mapping[str, Any], queries: Sequence[str], chunks: Sequence[Mapping[str, Any]], k: int, batch_size: int = 64
) -> dict[str, list[list[str]]]:
    """model name -> the top `k` chunk ids per query, best first (each model with its own prompts)."""
    from embedtune.models.encoding import encode, model_prompts, top_k

    ids, texts = [str(c["chunk_id"]) for c in chunks], [str(c["text"]) for c in chunks]
    rankings = {}
    for name, model in models.items():
        query_prompt, document_prompt = model_prompts(model)
        indices, _ = top_k(encode(model, list(queries), query_prompt, batch_size), encode(model, texts, document_prompt, batch_size), k)
        rankings[name] = [[ids[i] for i in row] for row in indices]
    return rankings
