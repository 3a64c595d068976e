"""Gold sets: the file format, mapping judgments onto chunks (doc, span, heading), graded gains, the refusal of a
set that maps to nothing, the small-set rule and the leakage guard."""

from __future__ import annotations

import json

import pytest
import yaml

from embedtune import EmbedtuneError
from embedtune.evaluation.gold import entry_rows, gold_report, map_gold, query_id, read_gold, slug, write_gold

GUIDE = """# Promotion

Intro paragraph about versions and stages of the model. It is long enough to fill the first chunk.

## The promotion rule

The tuned model is promoted only if its NDCG@10 gain over the base is above `min_ndcg_gain` and the
**95% confidence interval** of the gain lies above zero.

### Incumbent

It must also beat the incumbent version, re-evaluated on the same queries.

```bash
# Not a heading: a shell comment inside a code block
python run.py run
```

## Stages

Staging first, production by hand. Archived versions stay in the store.
"""


def chunked(source: str, text: str, size: int = 90, overlap: int = 25, doc_id: str | None = None) -> list[dict]:
    """Overlapping character windows, stripped, as `chunk_documents` rows."""
    rows, start, position = [], 0, 0
    while start < len(text):
        piece = text[start:start + size].strip()
        if piece:
            rows.append({"chunk_id": f"{source}-{position}", "doc_id": doc_id or f"id-{source}", "source": source,
                         "title": "", "text": piece, "n_tokens": len(piece.split()), "position": position})
            position += 1
        if start + size >= len(text):
            break
        start += size - overlap
    return rows


CHUNKS = chunked("promotion.md", GUIDE) + chunked("guide/quickstart.md", "Run make run. " * 12)


def chunks_with(needle: str, chunks=CHUNKS) -> set[str]:
    return {chunk["chunk_id"] for chunk in chunks if needle in chunk["text"]}


def one(entry: dict) -> dict[str, int]:
    """The qrels of one query entry mapped onto CHUNKS."""
    mapping = map_gold(entry_rows(entry, "test"), CHUNKS)
    assert not mapping.unmapped, mapping.unmapped
    return next(iter(mapping.benchmark.qrels.values()))


# -- file format ----------------------------------------------------------------------------------------------


def test_yaml_list_queries_mapping_and_jsonl_read_the_same_judgments(tmp_path):
    entries = [
        {"id": "q1", "query": "when is a model promoted", "doc": "promotion.md", "span": "above zero", "grade": 2},
        {"query": "how do I start", "relevant": ["guide/quickstart.md", {"doc": "promotion.md", "heading": "Stages"}]},
    ]
    (tmp_path / "list.yaml").write_text(yaml.safe_dump(entries), encoding="utf-8")
    (tmp_path / "mapping.yml").write_text(yaml.safe_dump({"queries": entries}), encoding="utf-8")
    (tmp_path / "lines.jsonl").write_text("# a comment\n\n" + "\n".join(json.dumps(e) for e in entries), encoding="utf-8")
    read = [read_gold(tmp_path / name) for name in ("list.yaml", "mapping.yml", "lines.jsonl")]
    strip = [[{k: v for k, v in row.items() if k != "where"} for row in rows] for rows in read]
    assert strip[0] == strip[1] == strip[2]
    rows = read[0]
    assert [(r["query_id"], r["doc"], r["span"], r["heading"], r["grade"]) for r in rows] == [
        ("q1", "promotion.md", "above zero", None, 2),
        (query_id("how do I start"), "guide/quickstart.md", None, None, 1),
        (query_id("how do I start"), "promotion.md", None, "Stages", 1),
    ]
    assert read[2][0]["where"].endswith("lines.jsonl:3"), "JSONL lines are named by their line number"


def test_an_id_given_nowhere_is_a_stable_hash_of_the_normalised_query():
    assert query_id("How do I  start") == query_id("how do i start") != query_id("how do I stop")


def test_a_doc_anchor_is_a_heading_and_a_numeric_tail_is_a_record_id():
    assert entry_rows({"query": "q", "doc": "promotion.md#the-promotion-rule"}, "x")[0]["heading"] == "the-promotion-rule"
    row = entry_rows({"query": "q", "doc": "corpus.jsonl#42"}, "x")[0]
    assert row["doc"] == "corpus.jsonl#42" and row["heading"] is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"doc": "a.md"}, "no 'query' text"),
        ({"query": "q"}, "names no relevant passage"),
        ({"query": "q", "doc": "a.md", "grade": -1}, "'grade' must be a whole number >= 0"),
        ({"query": "q", "doc": "a.md", "grade": 1.5}, "'grade' must be a whole number"),
        ({"query": "q", "doc": "a.md", "passage": "x"}, "unknown key(s) passage"),
        ({"query": "q", "relevant": [{"span": "only a span"}]}, "needs 'doc'"),
        ({"query": ["a", "list"], "doc": "a.md"}, "'query' must be text"),
        ("just a string", "expected a mapping"),
    ],
)
def test_malformed_entries_are_one_clear_error_naming_the_place(entry, message):
    with pytest.raises(EmbedtuneError, match="^gold.yaml: query 3: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        entry_rows(entry, "gold.yaml: query 3")


def test_malformed_files_name_the_file_and_line(tmp_path):
    bad_json = tmp_path / "gold.jsonl"
    bad_json.write_text('{"query": "a", "doc": "x.md"}\n{not json\n', encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"gold.jsonl:2 is not valid JSON"):
        read_gold(bad_json)
    bad_yaml = tmp_path / "gold.yaml"
    bad_yaml.write_text("- query: a\n  doc: [unclosed\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"malformed gold file .*gold.yaml at line"):
        read_gold(bad_yaml)
    not_a_list = tmp_path / "dict.yaml"
    not_a_list.write_text("query: a\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match="expected a list of queries"):
        read_gold(not_a_list)
    with pytest.raises(EmbedtuneError, match="gold set not found"):
        read_gold(tmp_path / "missing.yaml")
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump([{"id": "a", "query": "one", "doc": "x"}, {"id": "a", "query": "two", "doc": "x"}]))
    with pytest.raises(EmbedtuneError, match="id 'a' is used by two different queries"):
        read_gold(twice)


def test_write_gold_reads_back_to_the_same_judgments(tmp_path):
    rows = entry_rows({"id": "q", "query": "when", "relevant": [{"doc": "a.md", "span": "s", "grade": 2}, "b.md"]}, "w")
    path = write_gold(rows, tmp_path / "out" / "gold.yaml")
    again = read_gold(path)
    assert [{k: v for k, v in r.items() if k != "where"} for r in again] == [
        {k: v for k, v in r.items() if k != "where"} for r in rows
    ]


# -- mapping onto chunks -------------------------------------------------------------------------------------


def test_a_document_without_span_or_heading_makes_all_its_chunks_relevant():
    qrels = one({"query": "q", "doc": "promotion.md"})
    assert set(qrels) == {c["chunk_id"] for c in CHUNKS if c["source"] == "promotion.md"}


def test_document_paths_match_relative_to_the_corpus_by_id_and_without_extension():
    for doc in ("docs/guide/quickstart.md", "quickstart.md", "./guide/quickstart.md", "guide/quickstart", "id-guide/quickstart.md"):
        assert set(one({"query": "q", "doc": doc})) == chunks_with("make run"), doc


def test_a_span_pins_the_chunks_that_contain_it_ignoring_case_and_markdown():
    qrels = one({"query": "q", "doc": "promotion.md", "span": "95% Confidence Interval of the gain"})
    assert set(qrels) == chunks_with("**95% confidence interval** of the gain") != set()
    chunks = chunked("a.md", "one two three. The confidence interval of the gain lies above zero. Four five six.", 44, 30)
    whole = {c["chunk_id"] for c in chunks if "confidence interval of the gain" in c["text"]}
    part = {c["chunk_id"] for c in chunks if "confidence interval" in c["text"]} - whole
    mapping = map_gold(entry_rows({"query": "q", "doc": "a.md", "span": "confidence interval of the gain"}, "x"), chunks)
    assert whole and part and set(mapping.benchmark.qrels[query_id("q")]) == whole, "part of the span is not enough"
    assert set(qrels) < {c["chunk_id"] for c in CHUNKS if c["source"] == "promotion.md"}


def test_a_span_cut_by_a_chunk_boundary_marks_the_chunks_it_overlaps():
    chunks = chunked("a.md", "alpha beta gamma delta epsilon zeta eta theta", size=24, overlap=4)
    mapping = map_gold(entry_rows({"query": "q", "doc": "a.md", "span": "gamma delta epsilon zeta"}, "x"), chunks)
    assert not any("gamma delta epsilon zeta" in c["text"] for c in chunks)
    hits = set(next(iter(mapping.benchmark.qrels.values())))
    assert hits == {c["chunk_id"] for c in chunks if "delta" in c["text"] or "zeta" in c["text"] or "gamma" in c["text"]}


def test_a_heading_pins_its_section_with_subsections_and_ignores_code_comments():
    rule = set(one({"query": "q", "doc": "promotion.md", "heading": "The promotion rule"}))
    assert chunks_with("above zero") <= rule and chunks_with("re-evaluated") <= rule, "subsection included"
    assert "promotion.md-0" not in rule and chunks_with("Intro paragraph") == {"promotion.md-0"}
    stages = set(one({"query": "q", "doc": "promotion.md#stages"}))  # the anchor form
    assert chunks_with("Archived versions") <= stages and not chunks_with("re-evaluated") & stages
    comment = map_gold(entry_rows({"query": "q", "doc": "promotion.md", "heading": "Not a heading"}, "x")
                       + entry_rows({"query": "r", "doc": "promotion.md"}, "y"), CHUNKS)
    assert comment.unmapped and comment.unmapped[0]["reason"].startswith("no heading 'Not a heading'")


def test_setext_and_restructuredtext_headings_pin_sections_as_chunk_heading_paths_find_them():
    text = "Setup\n=====\n\nIntro words about setup and nothing else.\n\nLinux\n-----\n\nUse apt on the server.\n"
    for source in ("setup.md", "setup.rst"):
        chunks = chunked(source, text, size=40, overlap=10)
        linux = map_gold(entry_rows({"query": "q", "doc": source, "heading": "Linux"}, "x"), chunks)
        assert not linux.unmapped, linux.unmapped
        hits = set(next(iter(linux.benchmark.qrels.values())))
        assert chunks_with("apt on", chunks) <= hits and not chunks_with("Intro words", chunks) & hits


def test_unmappable_judgments_are_reported_with_their_reason_and_the_rest_still_maps():
    rows = [
        *entry_rows({"id": "ok", "query": "good", "doc": "promotion.md", "span": "above zero"}, "g: query 1"),
        *entry_rows({"id": "nodoc", "query": "a", "doc": "missing.md"}, "g: query 2"),
        *entry_rows({"id": "nospan", "query": "b", "doc": "promotion.md", "span": "never written"}, "g: query 3"),
        *entry_rows({"id": "nohead", "query": "c", "doc": "promotion.md", "heading": "Not a heading"}, "g: query 4"),
        *entry_rows({"id": "half", "query": "d", "relevant": ["missing.md", "guide/quickstart.md"]}, "g: query 5"),
    ]
    mapping = map_gold(rows, CHUNKS + chunked("x/other.md", "text") + chunked("y/other.md", "text"))
    assert set(mapping.benchmark.qrels) == {"ok", "half"} and mapping.queries_in_file == 5 and mapping.dropped_queries == 3
    reasons = {item["where"]: item["reason"] for item in mapping.unmapped}
    assert reasons["g: query 2"] == "no document 'missing.md' in the corpus"
    assert reasons["g: query 3"].startswith("span 'never written' not found in promotion.md")
    assert "no heading 'Not a heading' in promotion.md (headings: 'Promotion', 'The promotion rule'" in reasons["g: query 4"]
    assert len(mapping.unmapped) == 4
    ambiguous = map_gold(rows[:1] + entry_rows({"query": "e", "doc": "other.md"}, "g: query 6"),
                         CHUNKS + chunked("x/other.md", "text") + chunked("y/other.md", "text"))
    assert "document 'other.md' is ambiguous: x/other.md, y/other.md" in ambiguous.unmapped[0]["reason"]


def test_a_gold_set_that_maps_to_nothing_is_refused():
    rows = entry_rows({"query": "a", "doc": "missing.md"}, "gold.yaml: query 1")
    with pytest.raises(EmbedtuneError, match=r"maps to no chunk .*1 unmappable; first: gold.yaml: query 1: no document"):
        map_gold(rows, CHUNKS)
    zero = entry_rows({"query": "a", "doc": "promotion.md", "grade": 0}, "x")
    with pytest.raises(EmbedtuneError, match="maps to no chunk"):
        map_gold(zero, CHUNKS)


def test_graded_judgments_keep_the_highest_grade_per_chunk_and_grade_zero_is_not_relevant():
    qrels = one({"query": "q", "relevant": [
        {"doc": "promotion.md", "grade": 1},
        {"doc": "promotion.md", "span": "above zero", "grade": 3},
        {"doc": "guide/quickstart.md", "grade": 0},
    ]})
    assert {qrels[c] for c in chunks_with("above zero")} == {3}
    assert set(qrels.values()) == {1, 3} and not chunks_with("make run") & set(qrels)


def test_graded_gains_rank_the_better_passage_first_higher():
    from embedtune.evaluation.metrics import query_metrics

    relevant = {"best": 3, "ok": 1}
    best_first = query_metrics(["best", "ok", "x"], relevant)["ndcg@10"]
    ok_first = query_metrics(["ok", "best", "x"], relevant)["ndcg@10"]
    assert best_first == pytest.approx(1.0) and ok_first < best_first
    binary = query_metrics(["ok", "best", "x"], {"best": 1, "ok": 1})["ndcg@10"]
    assert binary == pytest.approx(1.0), "with equal grades the order of two relevant passages does not matter"


def test_a_beir_folder_is_accepted_and_maps_by_document_id(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": i, "text": f"doc {i}"}) for i in ("d1", "d2")))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "find d2"}))
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t2\n")
    rows = read_gold(folder, "dev")
    assert [(r["query_id"], r["query"], r["doc"], r["grade"]) for r in rows] == [("q1", "find d2", "d2", 2)]
    chunks = chunked("corpus.jsonl#d1", "doc d1") + chunked("corpus.jsonl#d2", "doc d2")
    assert map_gold(rows, chunks).benchmark.qrels == {"q1": {"corpus.jsonl#d2-0": 2}}


# -- the small-set rule and the decision basis ------------------------------------------------------------------


def _result(base: float, tuned: float, gain: float, low: float, n: int) -> dict:
    return {"n_queries": n, "n_corpus": 10, "models": {"base": {"64": {"ndcg@10": base}}, "tuned": {"64": {"ndcg@10": tuned}}},
            "gains": {"tuned": {"64": {"ndcg@10": {"gain": gain, "ci_low": low, "ci_high": gain + 0.05}}}}}


def _mapping(n: int):
    rows = [row for i in range(n) for row in entry_rows({"id": f"q{i}", "query": f"q {i}", "doc": "promotion.md"}, "x")]
    return map_gold(rows, CHUNKS)


def test_a_gold_set_below_the_minimum_is_reported_too_small_and_promotion_falls_back_to_synthetic():
    from embedtune.config import PromotionConfig
    from embedtune.evaluation.promotion import decide, decision_basis

    synthetic_better = _result(0.5, 0.6, 0.1, 0.05, 100)
    small = {**synthetic_better, "gold": gold_report(_result(0.5, 0.4, -0.1, -0.2, 12), _mapping(12), "g.yaml", 20)}
    assert small["gold"]["too_small"] is True and small["gold"]["n_queries"] == 12
    basis, _, words = decision_basis(small)
    assert basis == "synthetic" and "only 12 queries, fewer than evaluation.gold_min_queries=20: too small to decide" in words
    promoted, reason = decide(small, PromotionConfig())
    assert promoted is True and reason.endswith(words) and "100 held-out synthetic queries" in reason

    enough = {**synthetic_better, "gold": gold_report(_result(0.5, 0.4, -0.1, -0.2, 20), _mapping(20), "g.yaml", 20)}
    assert decision_basis(enough)[0] == "gold"
    promoted, reason = decide(enough, PromotionConfig())
    assert promoted is False and reason.endswith("decided on 20 gold queries") and "-0.1000" in reason

    none_at_all = decide(synthetic_better, PromotionConfig())[1]
    assert "no gold set: set evaluation.gold to decide on real queries" in none_at_all


# -- the leakage guard --------------------------------------------------------------------------------------


def test_a_config_whose_few_shot_examples_are_the_gold_file_is_rejected(tmp_path):
    from embedtune.config import parse_parameters

    gold = tmp_path / "gold" / "guide.yaml"
    parameters = {"evaluation": {"gold": str(gold)}, "ingest": {"corpus": str(tmp_path / "docs")}}
    with pytest.raises(EmbedtuneError, match=r"generation.example_queries .* is the gold set \(evaluation.gold\)"):
        parse_parameters({**parameters, "generation": {"example_queries": str(gold)}})
    beir = tmp_path / "beir"
    with pytest.raises(EmbedtuneError, match="is the gold set"):
        parse_parameters({"evaluation": {"gold": str(beir)}, "generation": {"example_queries": str(beir / "queries.jsonl")}})
    parse_parameters({**parameters, "generation": {"example_queries": str(tmp_path / "logs.txt")}})  # other examples: fine


def test_real_queries_to_train_on_are_never_the_gold_set(tmp_path):
    from embedtune.config import parse_parameters

    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"query": "how do I rotate keys", "doc": "guide.md", "grade": 2}\n')
    teacher = {"kind": "hybrid", "real_queries": str(gold)}
    with pytest.raises(EmbedtuneError, match=r"teacher.real_queries .* is the gold set \(evaluation.gold\)"):
        parse_parameters({"evaluation": {"gold": str(gold)}, "teacher": teacher})
    with pytest.raises(EmbedtuneError, match="teacher.real_queries needs a teacher"):
        parse_parameters({"teacher": {"real_queries": str(tmp_path / "log.txt")}})
    # another file holding a gold query: refused before any step runs, by the pipeline
    from pipelines.training import _real_queries

    log = tmp_path / "log.txt"
    log.write_text("retry policy\nhow do I  rotate keys\n")
    config = parse_parameters({"evaluation": {"gold": str(gold)}, "ingest": {"corpus": str(tmp_path / "docs")},
                               "teacher": {**teacher, "real_queries": str(log)}})
    with pytest.raises(EmbedtuneError, match=r"1 of teacher.real_queries .* are gold queries .*'how do I rotate keys'"):
        _real_queries(config)
    log.write_text("retry policy\n")
    fingerprint = _real_queries(config)  # the file's: an edited file is labelled again
    log.write_text("retry policy\nbackoff\n")
    assert fingerprint and _real_queries(config) != fingerprint
    missing = config.model_copy(update={"teacher": config.teacher.model_copy(update={"real_queries": str(tmp_path / "no")})})
    with pytest.raises(EmbedtuneError, match="teacher.real_queries: cannot read"):
        _real_queries(missing)


def test_a_gold_file_the_corpus_would_ingest_is_rejected_unless_excluded(tmp_path):
    from embedtune.config import EvaluationConfig, GenerationConfig, IngestConfig, gold_leak

    corpus = tmp_path / "docs"

    def leak(gold, **ingest):
        return gold_leak(EvaluationConfig(gold=str(gold)), IngestConfig(corpus=str(corpus), **ingest), GenerationConfig())

    assert "is inside the corpus" in leak(corpus / "gold" / "q.jsonl") and "move it out" in leak(corpus / "gold" / "q.jsonl")
    assert leak(corpus / "gold" / "q.jsonl", exclude=["gold/*"]) is None
    assert leak(corpus / "gold.yaml") is None, "YAML is not an ingested extension"
    assert leak(tmp_path / "data" / "gold.jsonl") is None
    (corpus / "beir").mkdir(parents=True)
    assert "inside the corpus" in leak(corpus / "beir")
    assert gold_leak(EvaluationConfig(gold=str(corpus / "q.jsonl")), None, GenerationConfig()) is None


def test_slugs_are_github_anchors():
    assert slug("The promotion rule") == "the-promotion-rule"
    assert slug("`evaluate`: base vs tuned (CI)") == "evaluate-base-vs-tuned-ci"


# -- the default demo's gold set ---------------------------------------------------------------------------------


def test_the_default_gold_set_is_hand_written_outside_the_corpus_and_maps_fully_onto_the_guide():
    """configs/default.yaml's gold set: at least 40 queries, every judgment (page + span or heading) found in this
    run's chunks of docs/; if a page is edited so that a quoted span disappears, this test names the line."""
    from pathlib import Path

    from embedtune.config import load_run_config
    from embedtune.data.chunking import chunk_documents
    from embedtune.data.ingest import load_documents
    from embedtune.models.loading import load_tokenizer

    root = Path(__file__).resolve().parents[3]
    config, _ = load_run_config(root / "configs" / "default.yaml")
    gold_path = root / config.evaluation.gold
    corpus = root / config.ingest.corpus
    assert gold_path.is_file() and corpus not in gold_path.parents
    rows = read_gold(gold_path)
    queries = {row["query_id"] for row in rows}
    assert len(queries) >= 40 and len(queries) >= config.evaluation.gold_min_queries
    assert all(row["span"] or row["heading"] for row in rows), "every judgment pins its passage"
    config.ingest.corpus = str(corpus)
    documents = load_documents(config.ingest).documents
    chunks = chunk_documents(documents, load_tokenizer(config.model.base_model), config.chunking)
    mapping = map_gold(rows, chunks)
    assert mapping.unmapped == [] and len(mapping.benchmark.queries) == len(queries)
    sizes = [len(judged) for judged in mapping.benchmark.qrels.values()]
    assert max(sizes) <= 8, "spans and headings pin a few chunks, not whole pages"


def test_a_gold_set_that_declares_another_corpus_is_not_used_for_this_one(tmp_path, monkeypatch):
    from embedtune.evaluation.gold import declared_corpus, other_corpus

    monkeypatch.chdir(tmp_path)
    (tmp_path / "gold.yaml").write_text(yaml.safe_dump({"corpus": "docs", "queries": [{"query": "q", "doc": "a.md"}]}))
    assert declared_corpus("gold.yaml") == "docs" and len(read_gold("gold.yaml")) == 1
    assert other_corpus("gold.yaml", "docs") is None and other_corpus("gold.yaml", str(tmp_path / "docs")) is None
    why = other_corpus("gold.yaml", "~/team-wiki")
    assert why and "judges the corpus 'docs', not this run's corpus '~/team-wiki': not used" in why
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump([{"query": "q", "doc": "a.md"}]))
    assert declared_corpus("plain.yaml") is None and other_corpus("plain.yaml", "anything") is None
