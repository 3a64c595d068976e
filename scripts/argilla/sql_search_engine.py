"""An argilla-server 2.8.0 search engine that needs no Elasticsearch/OpenSearch: Argilla's own SQL database
(SQLite by default) is the index.

Registered as ``embedtune-sql``; the launcher (``server.py``) imports this module in the server process and sets
``ARGILLA_SEARCH_ENGINE=embedtune-sql``. Argilla's database is already the source of truth, so every write hook is
a no-op. Reads:

- plain paging (no text query, filter or sort): one SQL ``ORDER BY inserted_at LIMIT/OFFSET`` and a count;
- progress and per-user progress: SQL ``GROUP BY`` counts;
- text queries, filters (record / metadata / suggestion / response scopes, terms and ranges, the "pending"
  response status), sorting, metadata metrics and vector similarity: the dataset's records are loaded in one
  query (only the columns needed) and matched in Python.

The Python path is O(records) per request: fine for curation datasets of a few thousand records on one machine,
not for millions (use the official Docker image with Elasticsearch there). It is written against argilla-server's
internal, unversioned search API: keep ``argilla-server==2.8.0`` pinned.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any
from uuid import UUID

from argilla_server.database import AsyncSessionLocal
from argilla_server.enums import MetadataPropertyType, SimilarityOrder, SortOrder
from argilla_server.models import Question, Record, Response, Suggestion, Vector
from argilla_server.search_engine import (
    AndFilter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from sqlalchemy import func, select

ENGINE_NAME = "embedtune-sql"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class _Doc:
    """What the matchers need of one record, loaded in bulk."""

    __slots__ = (
        "fields",
        "id",
        "inserted_at",
        "metadata",
        "responses",
        "status",
        "suggestions",
        "updated_at",
        "vectors",
    )

    def __init__(self, row: Any) -> None:
        self.id: UUID = row.id
        self.fields: dict = row.fields or {}
        self.status = _plain(row.status)
        self.metadata: dict = row.metadata_ or {}
        self.inserted_at = row.inserted_at
        self.updated_at = row.updated_at
        self.responses: list[dict] = []
        self.suggestions: dict[str, dict] = {}
        self.vectors: dict[str, list[float]] = {}


async def _load_docs(dataset_id: UUID, vector_settings_id: UUID | None = None) -> list[_Doc]:
    async with AsyncSessionLocal() as db:
        rows = await db.execute(
            select(Record.id, Record.fields, Record.status, Record.metadata_, Record.inserted_at, Record.updated_at)
            .where(Record.dataset_id == dataset_id)
            .order_by(Record.inserted_at.asc(), Record.id.asc())
        )
        docs = {row.id: _Doc(row) for row in rows}
        responses = await db.execute(
            select(Response.record_id, Response.user_id, Response.status, Response.values)
            .join(Record, Record.id == Response.record_id)
            .where(Record.dataset_id == dataset_id)
        )
        for record_id, user_id, status, values in responses:
            answers = {name: (value or {}).get("value") for name, value in (values or {}).items()}
            docs[record_id].responses.append({"user_id": user_id, "status": _plain(status), "values": answers})
        suggestions = await db.execute(
            select(
                Suggestion.record_id,
                Question.name,
                Suggestion.value,
                Suggestion.score,
                Suggestion.agent,
                Suggestion.type,
            )
            .join(Record, Record.id == Suggestion.record_id)
            .join(Question, Question.id == Suggestion.question_id)
            .where(Record.dataset_id == dataset_id)
        )
        for record_id, question, value, score, agent, kind in suggestions:
            docs[record_id].suggestions[question] = {
                "value": value,
                "score": score,
                "agent": agent,
                "type": _plain(kind),
            }
        if vector_settings_id is not None:
            vectors = await db.execute(
                select(Vector.record_id, Vector.value)
                .join(Record, Record.id == Vector.record_id)
                .where(Record.dataset_id == dataset_id, Vector.vector_settings_id == vector_settings_id)
            )
            for record_id, value in vectors:
                docs[record_id].vectors[str(vector_settings_id)] = value
        return list(docs.values())


def _scope_values(doc: _Doc, scope: Any) -> list[Any]:
    if isinstance(scope, RecordFilterScope):
        return [_plain(getattr(doc, scope.property, None))]
    if isinstance(scope, MetadataFilterScope):
        return [doc.metadata.get(scope.metadata_property)]
    if isinstance(scope, SuggestionFilterScope):
        return [doc.suggestions.get(scope.question, {}).get(scope.property)]
    if isinstance(scope, ResponseFilterScope):
        responses = [r for r in doc.responses if scope.user is None or r["user_id"] == scope.user.id]
        if scope.question:
            return [r["values"].get(scope.question) for r in responses]
        return [r.get(scope.property) for r in responses]
    raise ValueError(f"unsupported filter scope {scope!r}")


def _flatten(values: list[Any]) -> list[Any]:
    return [item for value in values for item in (value if isinstance(value, list) else [value]) if item is not None]


def matches(doc: _Doc, condition: Any) -> bool:
    if isinstance(condition, AndFilter):
        return all(matches(doc, part) for part in condition.filters)
    values = _scope_values(doc, condition.scope)
    if isinstance(condition, TermsFilter):
        wanted = {str(_plain(value)) for value in condition.values}
        scope = condition.scope
        if isinstance(scope, ResponseFilterScope) and not scope.question and "pending" in wanted and not values:
            return True  # pending = no response (from that user, when a user is given)
        return any(str(_plain(value)) in wanted for value in _flatten(values))
    if isinstance(condition, RangeFilter):
        return any(
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (condition.ge is None or value >= condition.ge)
            and (condition.le is None or value <= condition.le)
            for value in _flatten(values)
        )
    raise ValueError(f"unsupported filter {condition!r}")


def text_matches(doc: _Doc, query: TextQuery | str | None) -> bool:
    if query is None:
        return True
    query = TextQuery(q=query) if isinstance(query, str) else query
    texts = [doc.fields.get(query.field)] if query.field else list(doc.fields.values())
    haystack = " ".join(str(text) for text in texts if text is not None).lower()
    return all(term in haystack for term in query.q.lower().split())


def _sort_key(doc: _Doc, scope: Any) -> Any:
    values = [v for v in _flatten(_scope_values(doc, scope)) if isinstance(v, (int, float, str))]
    if not values:
        return None
    if all(isinstance(v, (int, float)) for v in values):
        return sum(values) / len(values)  # several responses: their mean, as Elasticsearch's "avg" mode
    return str(values[0])


def sort_docs(docs: list[_Doc], sort: list[Any] | None) -> list[_Doc]:
    for order in reversed(sort or []):  # stable sorts, last key first
        keyed = [(_sort_key(doc, order.scope), doc) for doc in docs]
        present = [item for item in keyed if item[0] is not None]
        missing = [doc for key, doc in keyed if key is None]
        present.sort(key=lambda item: item[0], reverse=_plain(order.order) == SortOrder.desc.value)
        docs = [doc for _, doc in present] + missing
    return docs


def _cosine(a: list[float], b: list[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b)) / norm if norm else 0.0


@SearchEngine.register(engine_name=ENGINE_NAME)
class SqlSearchEngine(SearchEngine):
    @classmethod
    async def new_instance(cls) -> SqlSearchEngine:
        return cls()

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"distribution": ENGINE_NAME, "version": "1"}

    # Write side: the SQL database already holds everything.
    async def create_index(self, dataset) -> None: ...
    async def delete_index(self, dataset) -> None: ...
    async def configure_metadata_property(self, dataset, metadata_property) -> None: ...
    async def configure_index_vectors(self, vector_settings) -> None: ...
    async def index_records(self, dataset, records) -> None: ...
    async def partial_record_update(self, record, **update) -> None: ...
    async def delete_records(self, dataset, records) -> None: ...
    async def update_record_response(self, response) -> None: ...
    async def delete_record_response(self, response) -> None: ...
    async def update_record_suggestion(self, suggestion) -> None: ...
    async def delete_record_suggestion(self, suggestion) -> None: ...

    # Read side.
    async def search(
        self, dataset, query=None, filter=None, sort=None, offset: int = 0, limit: int = 100, **_: Any
    ) -> SearchResponses:  # the UI's endpoints also pass user_id
        if query is None and filter is None and not sort:
            return await self._page(dataset.id, offset, limit)
        docs = [
            doc
            for doc in await _load_docs(dataset.id)
            if text_matches(doc, query) and (filter is None or matches(doc, filter))
        ]
        docs = sort_docs(docs, sort)
        page = docs[offset : offset + limit]
        return SearchResponses(items=[SearchResponseItem(record_id=doc.id, score=1.0) for doc in page], total=len(docs))

    @staticmethod
    async def _page(dataset_id: UUID, offset: int, limit: int) -> SearchResponses:
        async with AsyncSessionLocal() as db:
            total = await db.scalar(select(func.count(Record.id)).where(Record.dataset_id == dataset_id))
            ids = (
                await db.scalars(
                    select(Record.id)
                    .where(Record.dataset_id == dataset_id)
                    .order_by(Record.inserted_at.asc(), Record.id.asc())
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return SearchResponses(items=[SearchResponseItem(record_id=i, score=1.0) for i in ids], total=total or 0)

    async def similarity_search(
        self,
        dataset,
        vector_settings,
        value=None,
        record=None,
        query=None,
        filter=None,
        max_results: int = 100,
        order=SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        target = value or record.vector_value_by_vector_settings(vector_settings)
        if _plain(order) == SimilarityOrder.least_similar.value:
            target = [-x for x in target]
        key = str(vector_settings.id)
        scored = []
        for doc in await _load_docs(dataset.id, vector_settings.id):
            vector = doc.vectors.get(key)
            if not vector or (record is not None and doc.id == record.id):
                continue
            if not text_matches(doc, query) or (filter is not None and not matches(doc, filter)):
                continue
            score = (1 + _cosine(target, vector)) / 2  # Elasticsearch's cosine scale
            if threshold is None or score >= threshold:
                scored.append((score, doc.id))
        scored.sort(key=lambda item: -item[0])
        items = [SearchResponseItem(record_id=i, score=s) for s, i in scored[:max_results]]
        return SearchResponses(items=items, total=len(items))

    async def get_dataset_progress(self, dataset) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = (
                await db.execute(
                    select(Record.status, func.count(Record.id))
                    .where(Record.dataset_id == dataset.id)
                    .group_by(Record.status)
                )
            ).all()
        return {"total": sum(n for _, n in rows), **{_plain(status): n for status, n in rows}}

    async def get_dataset_user_progress(self, dataset, user) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = (
                await db.execute(
                    select(Response.status, func.count(Response.id))
                    .join(Record, Record.id == Response.record_id)
                    .where(Record.dataset_id == dataset.id, Response.user_id == user.id)
                    .group_by(Response.status)
                )
            ).all()
        return {"total": sum(n for _, n in rows), **{_plain(status): n for status, n in rows}}

    async def compute_metrics_for(self, metadata_property):
        async with AsyncSessionLocal() as db:
            rows = await db.scalars(select(Record.metadata_).where(Record.dataset_id == metadata_property.dataset_id))
            values = [(m or {}).get(metadata_property.name) for m in rows.all()]
        values = [v for v in values if v is not None]
        if metadata_property.type == MetadataPropertyType.terms:
            counts: dict[str, int] = {}
            for term in (str(v) for v in _flatten(values)):
                counts[term] = counts.get(term, 0) + 1
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            return TermsMetrics(
                total=sum(counts.values()), values=[TermsMetrics.TermCount(term=t, count=c) for t, c in ranked]
            )
        numbers = [v for v in values if isinstance(v, (int, float))]
        metrics = (
            IntegerMetadataMetrics if metadata_property.type == MetadataPropertyType.integer else FloatMetadataMetrics
        )
        return metrics(min=min(numbers) if numbers else None, max=max(numbers) if numbers else None)
