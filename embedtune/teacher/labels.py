"""Teacher-labelled training rows: false negatives dropped, soft margins for distillation.

`label_pairs(train, validation, chunks, model, config)` returns the training pairs with, per pair,
`negatives_per_query` teacher-checked hard negatives and their margins, plus a report.

Workflow:
1. Dense candidates: the base model's top `candidates` chunks per training query (never the positive or
   a chunk overlapping it), as GPL mines them.
2. The teacher (`build_teacher`): hybrid BM25 + base embedder (or `dense_model`, a larger local one) with
   its weight chosen on the *synthetic* validation queries (their positives are known), or a CrossEncoder.
   The report gives the teacher's and its dense half's NDCG@10 on those queries.
3. The teacher scores the positive and every candidate. A candidate it scores within
   `false_negative_margin` of the positive (or above) is probably an unlabelled positive: dropped.
4. The first `negatives_per_query` survivors (dense order: hardest first) become rows
   (query, positive, negative) with `label` = the teacher's margin score(q, pos) - score(q, neg),
   rescaled to the student's units (`label_scale`, or matched to the spread of the base model's own
   cosine margins on the same rows), the target of `MarginMSELoss`.
   A pair with no surviving candidate keeps one row without a negative (`label` None).
   With `listwise_candidates: all` a pair's first row also gets `listwise_negatives` and `listwise_labels`:
   its first `negatives_per_query` candidates *unchecked* and their labels (< 0 where the teacher ranks one
   above the positive): the list `distill_kl` distils (RocketQAv2-style, over unfiltered candidates).
   With `keep_pairs: base_misses` only the pairs the base model gets wrong (a candidate above the positive)
   and the teacher gets right (the positive above every candidate) become rows: where the student can learn
   something from its teacher (real queries are always kept).

`real_queries` (`teacher.real_queries`: a user's real search queries, no judgements) join the training
pairs after step 2: each one's positive is the passage the teacher ranks first among the base model's and
BM25's top `candidates` (`teacher_positives`), and it then goes through steps 1, 3 and 4 as any pair. The
student learns the teacher's answers to questions as the users phrase them, not only as the generator does.

    >>> rows, report = label_pairs(train, validation, chunks, model, TeacherConfig(kind="hybrid"))
    >>> report["teacher"], report["fusion_weight"], report["false_negatives_dropped"]
    ('hybrid(bm25 weight 0.40)', 0.4, 12)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embedtune import EmbedtuneError, logger
from embedtune.config import TeacherConfig
from embedtune.models.encoding import encode, model_prompts, top_k
from embedtune.teacher.fusion import DEFAULT_WEIGHTS, choose_weight
from embedtune.teacher.lexical import LexicalIndex
from embedtune.teacher.scoring import CrossEncoderTeacher, HybridTeacher, ScoreMemo, Teacher

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def _overlaps(candidate: dict[str, Any], positive: dict[str, Any]) -> bool:
    return candidate["doc_id"] == positive["doc_id"] and \
        abs(candidate.get("position", -9) - positive.get("position", 9)) <= 1


def dense_candidates(query_vectors: np.ndarray, corpus_vectors: np.ndarray, positives: Sequence[int],
                     chunks: Sequence[dict[str, Any]], depth: int) -> list[list[int]]:
    """Per query: the top `depth` corpus indices by cosine, without the positive or chunks overlapping it."""
    ranked, _ = top_k(query_vectors, corpus_vectors, min(depth + 3, len(chunks)))
    out = []
    for row, positive in zip(ranked, positives):
        chosen = [int(i) for i in row if int(i) != positive and not _overlaps(chunks[int(i)], chunks[positive])]
        out.append(chosen[:depth])
    return out


def _dense_half(config: TeacherConfig, texts: Sequence[str], validation_queries: Sequence[str],
                device: str, trust_remote_code: bool = False) -> tuple[np.ndarray, Callable[[Sequence[str]], np.ndarray], Callable[[], Any] | None]:
    """The hybrid's dense half when it is not the base model: `teacher.dense_model` (a local embedder, with its
    own prompts) or, with `kind: api`, `teacher.api_model` (its cost checked first). Returns the corpus
    vectors, a query encoder and, for the API, a callable giving its usage so far. A `dense_model` that runs
    code from its folder loads only with the run's opt-in (`model.trust_remote_code`), as the base model."""
    if config.kind == "api":
        from embedtune.models.api import ApiSettings, api_embedder

        embedder = api_embedder(str(config.api_model), ApiSettings(max_cost_usd=config.api_max_cost_usd))
        embedder.check_budget(list(validation_queries), texts)
        corpus_vectors = embedder.encode(texts, input_type="document")

        def encode_api(queries: Sequence[str]) -> np.ndarray:
            if not len(queries):
                return np.zeros((0, corpus_vectors.shape[1]), dtype=np.float32)
            return embedder.encode(queries, input_type="query")

        return corpus_vectors, encode_api, embedder.usage
    from embedtune.models.loading import load_embedder

    dense = load_embedder(str(config.dense_model), device=device, trust_remote_code=trust_remote_code)
    query_prompt, document_prompt = model_prompts(dense)
    logger.info("teacher: encoding %d passages with %s for the hybrid's dense half", len(texts), config.dense_model)
    corpus_vectors = encode(dense, texts, document_prompt)

    def encode_local(queries: Sequence[str]) -> np.ndarray:
        return encode(dense, queries, query_prompt)

    return corpus_vectors, encode_local, None


def teacher_positives(queries: Sequence[str], teacher: Teacher, query_vectors: np.ndarray,
                      corpus_vectors: np.ndarray, chunks: Sequence[dict[str, Any]], depth: int,
                      language: str = "english") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pairs for unjudged queries: each query's positive is the chunk the teacher scores highest among the
    union of the dense top `depth` and the BM25 top `depth` (the teacher's own first answer, as far as two
    cheap retrievers can find it). `teacher_gap` is its lead over the teacher's second choice.

    Args:
        queries: real queries (no relevance judgements).
        teacher: the teacher of `build_teacher`.
        query_vectors, corpus_vectors: the base model's (unit-normalised), for the dense candidates.
        chunks: the corpus, in `corpus_vectors`' order.
        depth: candidates per retriever (`teacher.candidates`).

    Returns:
        The pairs (`id` real-<n>, `query`, `positive`, `positive_id`, `doc_id`, `origin` "real_query") and
        a report: how many, and the median `teacher_gap`.
    """
    if not queries:
        return [], {}
    lexical = getattr(teacher, "lexical", None) or LexicalIndex([chunk["text"] for chunk in chunks], language)
    dense, _ = top_k(query_vectors, corpus_vectors, depth)
    pools = []
    for query, row in zip(queries, dense):
        bm25 = lexical.scores(query)
        top = np.argpartition(-bm25, min(depth, len(bm25)) - 1)[:depth]
        lexical_top = top[np.argsort(-bm25[top], kind="stable")]
        pools.append(list(dict.fromkeys([*map(int, row), *map(int, lexical_top)])))
    pairs, gaps = [], []
    for number, (query, pool, scores) in enumerate(zip(queries, pools, teacher.score(queries, pools))):
        order = np.argsort(-scores, kind="stable")
        chunk = chunks[pool[int(order[0])]]
        gap = float(scores[order[0]] - scores[order[1]]) if len(order) > 1 else 0.0
        gaps.append(gap)
        pairs.append({"id": f"real-{number}", "query": query, "positive": chunk["text"],
                      "positive_id": chunk["chunk_id"], "doc_id": chunk.get("doc_id"), "origin": "real_query",
                      "teacher_gap": round(gap, 4)})
    return pairs, {"real_queries": len(pairs), "real_query_median_gap": round(float(np.median(gaps)), 4)}


def build_teacher(model: SentenceTransformer, chunks: Sequence[dict[str, Any]], corpus_vectors: np.ndarray,
                  validation: Sequence[dict[str, Any]], config: TeacherConfig,
                  trust_remote_code: bool = False) -> tuple[Teacher, dict[str, Any]]:
    """The configured teacher and what was measured choosing it (NDCG@10 on the validation queries).
    `trust_remote_code`: the run's `model.trust_remote_code`, for a `dense_model` that needs it."""
    texts = [chunk["text"] for chunk in chunks]
    query_prompt, _ = model_prompts(model)
    index_of = {chunk["chunk_id"]: i for i, chunk in enumerate(chunks)}
    held_out = [p for p in validation if p.get("positive_id") in index_of]
    relevant = [{index_of[p["positive_id"]]} for p in held_out]
    report: dict[str, Any] = {"validation_queries": len(held_out)}
    if config.kind == "cross_encoder":
        teacher: Teacher = CrossEncoderTeacher(str(config.cross_encoder), texts, device=str(model.device))
        report["teacher"] = teacher.name
        return teacher, report

    def encode_queries(queries: Sequence[str]) -> np.ndarray:
        return encode(model, queries, query_prompt)

    usage = None
    if config.dense_model or config.kind == "api":  # the same hybrid, its dense half a stronger model than the base
        corpus_vectors, encode_queries, usage = _dense_half(config, texts, [p["query"] for p in held_out],
                                                            str(model.device), trust_remote_code)

    lexical = LexicalIndex(texts, config.language)
    weight = config.fusion_weight
    if weight is None:
        if not held_out:
            raise EmbedtuneError("teacher.fusion_weight is unset and there are no validation pairs to choose it "
                                 "on; set split.validation_fraction > 0 or teacher.fusion_weight")
        probe = HybridTeacher(texts, corpus_vectors, encode_queries, lexical, 0.0)
        dense, bm25 = probe.component_scores([p["query"] for p in held_out])
        weight, table = choose_weight(dense, bm25, relevant, DEFAULT_WEIGHTS, config.fusion_rule)
        report.update(fusion_table={f"{w:.1f}": round(v, 4) for w, v in table.items()},
                      dense_ndcg_at_10=round(table[0.0], 4), bm25_ndcg_at_10=round(table[1.0], 4),
                      teacher_ndcg_at_10=round(table[weight], 4))
    teacher = HybridTeacher(texts, corpus_vectors, encode_queries, lexical, weight)
    if config.kind == "api" or config.dense_model:
        teacher.name = f"hybrid({config.api_model or config.dense_model}, bm25 weight {weight:.2f})"
    if usage is not None:
        report["api_usage"] = usage()  # corpus and validation queries so far
    report.update(teacher=teacher.name, fusion_weight=weight)
    return teacher, report


def label_pairs(
    train: Sequence[dict[str, Any]],
    validation: Sequence[dict[str, Any]],
    chunks: Sequence[dict[str, Any]],
    model: SentenceTransformer,
    config: TeacherConfig,
    real_queries: Sequence[str] = (),
    *,
    trust_remote_code: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training rows with teacher-checked negatives and `label` margins; see the module docstring.
    `trust_remote_code`: the run's `model.trust_remote_code`, the one opt-in for a `dense_model` that needs it."""
    if not train and not real_queries:
        return [], {"teacher": config.kind, "rows": 0}
    index_of = {chunk["chunk_id"]: i for i, chunk in enumerate(chunks)}
    missing = [p["positive_id"] for p in train if p["positive_id"] not in index_of]
    if missing:
        raise EmbedtuneError(f"{len(missing)} training pair(s) point at chunks not in the corpus (e.g. {missing[0]})")
    query_prompt, document_prompt = model_prompts(model)
    # The base model's corpus vectors (encoded once: the embedding cache).
    corpus_vectors = encode(model, [chunk["text"] for chunk in chunks], document_prompt)
    # 2. The teacher (built first: real queries get its first answer as their positive and join the pairs).
    teacher, report = build_teacher(model, chunks, corpus_vectors, validation, config, trust_remote_code)
    query_vectors = encode(model, [p["query"] for p in train] + list(real_queries), query_prompt)  # one pass for both
    generated, remembered = len(train), ScoreMemo(teacher)  # real queries' pool scores serve again in step 3
    if real_queries:
        real, found = teacher_positives(real_queries, remembered, query_vectors[generated:], corpus_vectors, chunks,
                                        config.candidates, config.language)
        train = [*train, *real]
        report.update(found)
    # 1. Dense candidates from the base model.
    queries = [p["query"] for p in train]
    positives = [index_of[p["positive_id"]] for p in train]
    candidates = dense_candidates(query_vectors, corpus_vectors, positives, chunks, config.candidates)
    # 3. Teacher scores: the positive first, then the candidates.
    asked = [[positive, *chosen] for positive, chosen in zip(positives, candidates)]
    scored = teacher.score(queries[:generated], asked[:generated]) + \
        (remembered.score(queries[generated:], asked[generated:]) if real_queries else [])
    outcome: Counter = Counter()
    rows: list[dict[str, Any]] = []
    lists: dict[int, list[tuple[str, float]]] = {}  # listwise_candidates all: a pair's unchecked candidates
    for pair, positive, chosen, scores, vector in zip(train, positives, candidates, scored, query_vectors):
        pair = {"origin": "generated", **pair}  # every row says where its query came from ("source" is a document's)
        if config.keep_pairs == "base_misses" and pair["origin"] != "real_query" and \
                not _base_miss_teacher_hit(vector, corpus_vectors, positive, chosen, scores):
            outcome["pairs_left_out"] += 1
            continue
        if config.listwise_candidates == "all":
            lists[len(rows)] = [(chunks[index]["text"], float(scores[0]) - float(score))
                                for index, score in zip(chosen, scores[1:])][: config.negatives_per_query]
        threshold = scores[0] - config.false_negative_margin
        kept = [(index, float(score)) for index, score in zip(chosen, scores[1:]) if score < threshold]
        outcome["false_negatives_dropped"] += len(chosen) - len(kept)
        kept = kept[: config.negatives_per_query]
        if not kept:
            outcome["pairs_without_negative"] += 1
            rows.append({**pair, "negative": None, "negative_id": None, "label": None})
            continue
        for index, score in kept:
            rows.append({
                **pair, "negative": chunks[index]["text"], "negative_id": chunks[index]["chunk_id"],
                "teacher_margin": float(scores[0]) - score,
                "base_margin": float(vector @ corpus_vectors[positive] - vector @ corpus_vectors[index]),
            })
    # 4. Teacher margins in the student's units.
    labelled = [row for row in rows if "teacher_margin" in row]
    scale = config.label_scale or _matched_scale(labelled)
    for row in labelled:
        row["label"] = row["teacher_margin"] * scale
    for first, listed in lists.items():  # on the pair's first row; a label < 0: the teacher ranks it above the positive
        rows[first]["listwise_negatives"] = [text for text, _ in listed]
        rows[first]["listwise_labels"] = [margin * scale for _, margin in listed]
    report.update(
        rows=len(rows), labelled_rows=len(labelled), pairs=len(train) - outcome["pairs_left_out"],
        label_scale=round(scale, 6),
        false_negatives_dropped=outcome["false_negatives_dropped"],
        pairs_without_negative=outcome["pairs_without_negative"],
        **({"pairs_left_out": outcome["pairs_left_out"]} if config.keep_pairs != "all" else {}),
        teacher_agrees_with_base=round(float(np.mean([(r["teacher_margin"] > 0) == (r["base_margin"] > 0)
                                                      for r in labelled])), 4) if labelled else None,
    )
    logger.info("teacher %s: %d rows for %d pairs, %d false negatives dropped",
                report["teacher"], len(rows), len(train), outcome["false_negatives_dropped"])
    return rows, report


def _base_miss_teacher_hit(query_vector: np.ndarray, corpus_vectors: np.ndarray, positive: int,
                           chosen: Sequence[int], teacher_scores: np.ndarray) -> bool:
    """True when the base model ranks a mined candidate above the positive and the teacher does not."""
    if not len(chosen):
        return False
    base = corpus_vectors[[positive, *chosen]] @ query_vector
    return bool(base[1:].max() > base[0] and teacher_scores[0] > np.max(teacher_scores[1:]))


def _matched_scale(rows: Sequence[dict[str, Any]]) -> float:
    """Teacher margins rescaled to the spread of the base model's cosine margins on the same rows."""
    if len(rows) < 2:
        return 1.0
    teacher = np.std([row["teacher_margin"] for row in rows])
    base = np.std([row["base_margin"] for row in rows])
    return float(base / teacher) if teacher > 0 and base > 0 else 1.0

