"""Gold queries: real questions with the passages that answer them, judged by people, mapped onto chunks.

A gold set names relevant passages the way a user knows them, not by chunk id (chunking changes them):

```yaml
# data/gold/guide.yaml (YAML: a list, or {corpus: docs, queries: [...]}; JSONL: one such object per line)
- query: how do I stop a bad model from being promoted?
  doc: promotion-and-versioning.md        # a path (relative to the corpus, or ending in its path) or doc id
  span: "must be above zero"               # optional: a quoted span that pins the passage
  heading: The promotion rule              # optional: the section (a heading or its #anchor slug)
  grade: 2                                 # optional graded relevance (default 1; 0 = judged not relevant)
- query: where is the report written
  relevant:                                # several judgments: strings (a doc) or mappings as above
    - {doc: "evaluation.md#the-report", grade: 2}
    - quickstart.md
```

A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) is accepted too; its corpus ids are matched
against the documents' ids (JSONL / Hugging Face sources end in `#<id>`).

Mapping (`map_gold`): a chunk is relevant when it belongs to a relevant document and, when a span is given,
contains it (or, for a span cut by a chunk boundary, overlaps it), and, when a heading is given, lies in that
section (headings are found as for chunks' heading paths: markdown, HTML and reStructuredText). A chunk matched by several judgments of a query gets the highest grade. Lines that map to nothing are
reported with the reason; a gold set that maps to nothing is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from embedtune import EmbedtuneError, logger
from embedtune.evaluation.benchmark import Benchmark, load_beir

COLUMNS = ("query_id", "query", "doc", "span", "heading", "chunk", "grade", "where")
_DOC_KEYS = ("doc", "document", "path", "source")
_JUDGMENT_KEYS = {*_DOC_KEYS, "span", "quote", "heading", "chunk", "chunk_id", "grade"}
_QUERY_KEYS = {"id", "_id", "query", "text", "relevant", *_JUDGMENT_KEYS}


def query_id(text: str) -> str:
    """The id of a query given without one: a stable hash of its text."""
    return "g-" + hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()[:12]


def slug(text: str) -> str:
    """A heading as its anchor (GitHub style): 'The promotion rule' -> 'the-promotion-rule'."""
    text = re.sub(r"[`*_\[\]()]", "", text.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).strip().replace(" ", "-")


# -- reading a gold file ---------------------------------------------------------------------------------


def _text(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise EmbedtuneError(f"{where}: '{key}' must be text, not {type(value).__name__}")
    return str(value).strip() or None


def _judgment(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = {"doc": raw}
    if not isinstance(raw, Mapping):
        raise EmbedtuneError(f"{where}: a relevant passage is a document path or a mapping with 'doc', not {raw!r}")
    unknown = set(raw) - _JUDGMENT_KEYS
    if unknown:
        raise EmbedtuneError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: doc, span, heading, chunk, grade)")
    doc = next((_text(raw[key], where, key) for key in _DOC_KEYS if raw.get(key) is not None), None)
    chunk = _text(raw.get("chunk", raw.get("chunk_id")), where, "chunk")
    if doc is None and chunk is None:
        raise EmbedtuneError(f"{where}: a relevant passage needs 'doc' (a document path or id)")
    heading = _text(raw.get("heading"), where, "heading")
    if doc and "#" in doc and heading is None and not doc.rsplit("#", 1)[1].isdigit():
        doc, heading = doc.rsplit("#", 1)  # `page.md#section-anchor`
    grade = raw.get("grade", 1)
    if not (isinstance(grade, int) and not isinstance(grade, bool) and grade >= 0 or str(grade).isdigit()):
        raise EmbedtuneError(f"{where}: 'grade' must be a whole number >= 0 (0 = not relevant), not {grade!r}")
    return {"doc": doc, "span": _text(raw.get("span", raw.get("quote")), where, "span"), "heading": heading,
            "chunk": chunk, "grade": int(grade)}


def entry_rows(entry: Any, where: str) -> list[dict[str, Any]]:
    """One query of a gold file (a mapping) as rows of COLUMNS, one per judgment; malformed: EmbedtuneError."""
    if not isinstance(entry, Mapping):
        raise EmbedtuneError(f"{where}: expected a mapping with 'query' and 'doc' (or 'relevant'), not {entry!r}")
    unknown = set(entry) - _QUERY_KEYS
    if unknown:
        raise EmbedtuneError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_QUERY_KEYS))})")
    text = _text(entry.get("query", entry.get("text")), where, "query")
    if not text:
        raise EmbedtuneError(f"{where}: no 'query' text")
    qid = _text(entry.get("id", entry.get("_id")), where, "id") or query_id(text)
    relevant = entry.get("relevant")
    judgments = relevant if isinstance(relevant, list) else [relevant] if relevant is not None else []
    if any(entry.get(key) is not None for key in _JUDGMENT_KEYS):
        judgments = [{key: entry[key] for key in _JUDGMENT_KEYS if key in entry}, *judgments]
    if not judgments:
        raise EmbedtuneError(f"{where}: query '{text[:60]}' names no relevant passage ('doc' or 'relevant')")
    return [{"query_id": qid, "query": text, **_judgment(raw, where), "where": where} for raw in judgments]


def _read_entries(path: Path) -> list[tuple[Any, str]]:
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise EmbedtuneError(f"gold file {path} is not UTF-8 text (byte {error.start})") from None
    if path.suffix.lower() == ".jsonl":
        entries = []
        for number, line in enumerate(content.splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    entries.append((json.loads(line), f"{path}:{number}"))
                except json.JSONDecodeError as error:
                    raise EmbedtuneError(f"{path}:{number} is not valid JSON ({error.msg})") from None
        return entries
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise EmbedtuneError(f"malformed gold file {path}{at}: {getattr(error, 'problem', error)}") from None
    if isinstance(data, Mapping) and "queries" in data:
        data = data["queries"]
    if not isinstance(data, list):
        raise EmbedtuneError(f"gold file {path}: expected a list of queries (or `queries:` with one)")
    return [(entry, f"{path}: query {number}") for number, entry in enumerate(data, start=1)]


def read_gold(path: str | Path, split: str = "test") -> list[dict[str, Any]]:
    """The judgments of a gold file (.yaml/.yml/.json/.jsonl) or BEIR folder, one row (COLUMNS) per judgment.

    Raises EmbedtuneError for a missing or malformed file (the message names the line), or one with no queries.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        benchmark = load_beir(path, split)
        rows = [
            {"query_id": qid, "query": benchmark.queries[qid], "doc": doc, "span": None, "heading": None,
             "chunk": None, "grade": grade, "where": f"{path}/qrels/{split}.tsv: {qid} {doc}"}
            for qid, judged in sorted(benchmark.qrels.items()) for doc, grade in sorted(judged.items())
        ]
    elif path.is_file():
        rows = [row for entry, where in _read_entries(path) for row in entry_rows(entry, where)]
    else:
        raise EmbedtuneError(f"gold set not found: {path} (evaluation.gold: a YAML/JSONL file or a BEIR folder)")
    texts: dict[str, str] = {}
    for row in rows:
        if texts.setdefault(row["query_id"], row["query"]) != row["query"]:
            raise EmbedtuneError(f"{row['where']}: id '{row['query_id']}' is used by two different queries")
    if not rows:
        raise EmbedtuneError(f"gold set {path} has no queries")
    return rows


def declared_corpus(path: str | Path) -> str | None:
    """The corpus a gold YAML file says it judges (`corpus:` beside `queries:`), or None when it says nothing."""
    path = Path(path).expanduser()
    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # read_gold reports it properly
    return str(data["corpus"]) if isinstance(data, Mapping) and data.get("corpus") else None


def other_corpus(gold: str, corpus: str) -> str | None:
    """Why the gold set at `gold` does not judge `corpus` (it declares another one), or None."""
    declared = declared_corpus(gold)
    if declared is None or Path(declared).expanduser().resolve() == Path(corpus).expanduser().resolve():
        return None
    return (
        f"the gold set {gold} (evaluation.gold) judges the corpus '{declared}', not this run's corpus '{corpus}': "
        "not used, promotion decides on the synthetic queries; write a gold set for your documents (docs/gold-sets.md)"
    )


def write_gold(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Rows (COLUMNS) as a gold YAML file that `read_gold` reads back: one entry per query."""
    entries: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = entries.setdefault(row["query_id"], {"id": row["query_id"], "query": row["query"], "relevant": []})
        judgment = {key: row.get(key) for key in ("doc", "span", "heading", "chunk", "grade") if row.get(key) is not None}
        entry["relevant"].append(judgment)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(list(entries.values()), sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    return path


# -- mapping judgments onto chunks ---------------------------------------------------------------------------


@dataclass
class _Document:
    """A document rebuilt from its chunks (they overlap), with each chunk's character range in it."""

    source: str
    text: str = ""
    ranges: list[tuple[str, int, int]] = field(default_factory=list)  # (chunk id, start, end)

    def add(self, chunk_id: str, text: str) -> None:
        start = len(self.text) + (2 if self.text else 0)
        head = text[0] if text else ""
        previous_start = self.ranges[-1][1] if self.ranges else 0
        position = self.text.find(head, previous_start + 1) if head else -1
        while position != -1:  # the longest tail of the text so far that this chunk starts with (the overlap)
            if text.startswith(self.text[position:]):
                start = position
                break
            position = self.text.find(head, position + 1)
        self.text = self.text[:start] + text if start < len(self.text) else f"{self.text}\n\n{text}" if self.text else text
        self.ranges.append((chunk_id, start, start + len(text)))

    def sections(self) -> list[tuple[int, str, str, int, int]]:
        """(level, heading text, slug, start, end) of each section, found as chunking finds the headings of
        chunks' heading paths (`embedtune.data.headings`: markdown ATX and setext outside code fences, HTML
        headings as ingested, reStructuredText titles in `.rst` sources)."""
        from embedtune.data.headings import heading_marks

        headings = [(level, title, start) for start, level, title in heading_marks(self.text, self.source)]
        result = []
        for index, (level, text, start) in enumerate(headings):
            end = next((s for lvl, _, s in headings[index + 1:] if lvl <= level), len(self.text))
            result.append((level, text, slug(text), start, end))
        return result

    def chunks_in(self, start: int, end: int, whole: bool = False) -> list[str]:
        if whole:
            return [cid for cid, a, b in self.ranges if a <= start and end <= b]
        return [cid for cid, a, b in self.ranges if a < end and start < b]


def _span_pattern(span: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", span)
    return re.compile(r"[\W_]+".join(re.escape(word) for word in words), re.IGNORECASE) if words else None


def _documents(chunks: Sequence[Mapping[str, Any]]) -> tuple[dict[str, _Document], dict[str, str]]:
    documents: dict[str, _Document] = {}
    ids: dict[str, str] = {}  # doc id -> source
    for chunk in sorted(chunks, key=lambda c: (str(c["source"]), int(c.get("position") or 0))):
        source = str(chunk["source"])
        documents.setdefault(source, _Document(source)).add(str(chunk["chunk_id"]), str(chunk["text"]))
        if chunk.get("doc_id"):
            ids[str(chunk["doc_id"])] = source
    return documents, ids


def _resolve(doc: str, documents: Mapping[str, _Document], ids: Mapping[str, str]) -> tuple[str | None, str]:
    """The source a gold `doc` names, or (None, why not)."""
    if doc in documents:
        return doc, ""
    if doc in ids:
        return ids[doc], ""
    wanted = PurePosixPath(doc.replace("\\", "/").lstrip("./"))
    matches = []
    for source in documents:
        path = PurePosixPath(source.replace("\\", "/"))
        tail_id = source.rsplit("#", 1)[1] if "#" in source else None
        if (
            tail_id == doc
            or wanted.parts[-len(path.parts):] == path.parts
            or path.parts[-len(wanted.parts):] == wanted.parts
            or (not wanted.suffix and path.with_suffix("").parts[-len(wanted.parts):] == wanted.parts)
        ):
            matches.append(source)
    if len(matches) == 1:
        return matches[0], ""
    if matches:
        return None, f"document '{doc}' is ambiguous: {', '.join(sorted(matches)[:5])}"
    return None, f"no document '{doc}' in the corpus"


def _judged_chunks(row: Mapping[str, Any], document: _Document) -> tuple[list[str], str]:
    start, end = 0, len(document.text)
    if row.get("heading"):
        wanted = slug(str(row["heading"]))
        section = next((s for s in document.sections() if s[2] == wanted), None)
        if section is None:
            names = ", ".join(f"'{s[1]}'" for s in document.sections()[:8])
            return [], f"no heading '{row['heading']}' in {document.source} (headings: {names or 'none'})"
        start, end = section[3], section[4]
    if row.get("span"):
        pattern = _span_pattern(str(row["span"]))
        matches = list(pattern.finditer(document.text, start, end)) if pattern else []
        if not matches:
            where = f" under '{row['heading']}'" if row.get("heading") else ""
            return [], f"span '{str(row['span'])[:60]}' not found in {document.source}{where}"
        found: list[str] = []
        for match in matches:
            hits = document.chunks_in(match.start(), match.end(), whole=True) or document.chunks_in(*match.span())
            found.extend(hit for hit in hits if hit not in found)
        return found, ""
    return document.chunks_in(start, end), ""


@dataclass
class GoldMapping:
    """Gold judgments on this run's chunks: the benchmark to evaluate, and what could not be mapped."""

    benchmark: Benchmark
    unmapped: list[dict[str, Any]]
    queries_in_file: int
    judgments: int

    @property
    def dropped_queries(self) -> int:
        return self.queries_in_file - len(self.benchmark.queries)


def map_gold(rows: Sequence[Mapping[str, Any]], chunks: Sequence[Mapping[str, Any]]) -> GoldMapping:
    """Judgments (rows of `read_gold`) onto `chunks`: every chunk is a candidate, the judged ones are relevant.

    Unmappable judgments are returned in `unmapped` (where, query, doc, reason) and logged; a query whose
    judgments all fail (or are all grade 0) is dropped. Raises EmbedtuneError when no query maps at all.
    """
    documents, ids = _documents(chunks)
    by_chunk = {str(chunk["chunk_id"]): str(chunk["source"]) for chunk in chunks}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    unmapped: list[dict[str, Any]] = []
    for row in rows:
        queries.setdefault(str(row["query_id"]), str(row["query"]))
        found, reason = [], ""
        if row.get("chunk") and str(row["chunk"]) in by_chunk:
            found = [str(row["chunk"])]
        elif row.get("doc"):
            source, reason = _resolve(str(row["doc"]), documents, ids)
            if source is not None:
                found, reason = _judged_chunks(row, documents[source])
        else:
            reason = f"no chunk '{row['chunk']}' in this run's chunks (and no 'doc' to fall back on)"
        if not found:
            unmapped.append({"where": row.get("where", ""), "query": row["query"], "doc": row.get("doc"), "reason": reason})
            continue
        if int(row.get("grade", 1)) > 0:
            judged = qrels.setdefault(str(row["query_id"]), {})
            for chunk_id in found:
                judged[chunk_id] = max(judged.get(chunk_id, 0), int(row.get("grade", 1)))
    for item in unmapped:
        logger.warning("gold: %s: %s", item["where"], item["reason"])
    if not qrels:
        first = f"; first: {unmapped[0]['where']}: {unmapped[0]['reason']}" if unmapped else ""
        raise EmbedtuneError(
            f"the gold set maps to no chunk of this corpus ({len(rows)} judgments, {len(unmapped)} unmappable{first}): "
            "check that its 'doc' paths name documents of ingest.corpus"
        )
    corpus = {str(chunk["chunk_id"]): str(chunk["text"]) for chunk in chunks}
    benchmark = Benchmark({qid: queries[qid] for qid in qrels}, corpus, qrels)
    return GoldMapping(benchmark, unmapped, len(queries), len(rows))


def gold_report(
    result: Mapping[str, Any], mapping: GoldMapping, source: str, min_queries: int
) -> dict[str, Any]:
    """The gold half of the evaluation report: `evaluate_models`' result on the gold benchmark plus where the
    set came from, what could not be mapped, and whether it is big enough to decide (`too_small`)."""
    n_queries = len(mapping.benchmark.queries)
    report = {
        **result,
        "source": source,
        "queries_in_file": mapping.queries_in_file,
        "dropped_queries": mapping.dropped_queries,
        "judgments": mapping.judgments,
        "relevant_chunks": sum(len(judged) for judged in mapping.benchmark.qrels.values()),
        "unmapped": mapping.unmapped[:50],
        "unmapped_count": len(mapping.unmapped),
        "min_queries": min_queries,
        "too_small": n_queries < min_queries,
    }
    if report["too_small"]:
        logger.warning(
            "gold set %s: %d queries map onto the corpus, fewer than evaluation.gold_min_queries=%d: reported, "
            "but too small to decide; promotion decides on the synthetic queries", source, n_queries, min_queries,
        )
    return report
