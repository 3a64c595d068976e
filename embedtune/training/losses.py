"""Training datasets and their losses for `training.loss`, each wrapped in MatryoshkaLoss.

- `mnrl`: CachedMultipleNegativesRankingLoss on one row per query (`training_columns`: anchor, positive and
  the mined negative, or `training.mnrl_negatives` of the teacher's checked negatives).
  With `training.in_batch_guide: base`, CachedGISTEmbedLoss at the same scale instead: negatives the frozen
  base model scores above the query's positive are masked (GISTEmbed, Solatorio 2024).
- `margin_mse`: MarginMSELoss on the teacher's margins (`distillation_columns`: one row per query with its
  k teacher-checked negatives; rows from `embedtune.teacher.labels`).
- `distill_kl`: DistillKLDivLoss on the same rows (`listwise_labels`: the teacher's logits over the
  positive and its negatives), or with `teacher.listwise_candidates: all` over each pair's unchecked
  candidates (`listwise_rows`), relevant ones included (RocketQAv2-style listwise distillation).
- `mnrl+<other>`: both, their datasets taking turns (sentence-transformers' multi-dataset training).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError
from embedtune.config import ModelConfig, TrainingConfig

MNRL_SCALE = 20.0  # MNRL's logit scale (1 / temperature); the guided loss uses the same

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def training_columns(pairs: Sequence[dict[str, Any]], use_negatives: bool, seed: int = 42,
                     negatives_per_query: int = 1) -> dict[str, list[str]]:
    """anchor/positive[/negative] columns, one row per query (pair id). A pair whose mining found no safe
    negative gets another pair's positive instead (an easy negative), so the hard negatives of the others
    are not lost.

    With `negatives_per_query` k > 1 (`training.mnrl_negatives`), the columns are negative_1..negative_k:
    a query's distinct negatives from its rows (the teacher gives a pair one row per checked negative),
    topped up with other pairs' positives. With k = 1, each query's first row gives its one `negative`.
    """
    groups: dict[Any, list[dict[str, Any]]] = {}
    for pair in pairs:
        groups.setdefault(pair.get("id", id(pair)), []).append(pair)
    firsts = [group[0] for group in groups.values()]
    columns = {"anchor": [p["query"] for p in firsts], "positive": [p["positive"] for p in firsts]}
    if not use_negatives or not any(p.get("negative") for p in pairs) or len(set(columns["positive"])) < 2:
        return columns
    rng = random.Random(seed)
    names = ["negative"] if negatives_per_query == 1 else [f"negative_{i + 1}" for i in range(negatives_per_query)]
    for name in names:
        columns[name] = []
    for group in groups.values():
        positive = group[0]["positive"]
        found = list(dict.fromkeys(row["negative"] for row in group if row.get("negative") and row["negative"] != positive))
        for i, name in enumerate(names):
            negative = found[i] if i < len(found) else None
            while not negative or negative == positive:
                negative = rng.choice(firsts)["positive"]
            columns[name].append(negative)
    return columns


def distillation_columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """One row per query for MarginMSELoss: anchor, positive, negative_1..negative_k and `label`, the list of
    the teacher's k margins (`embedtune.teacher.labels` gives a pair one row per negative).

    The query and its positive are encoded once for all k negatives (k = the most negatives any query
    kept); a query the teacher left fewer negatives repeats its own in turn. Rows without a negative or
    label are skipped. With one negative per query the columns are anchor/positive/negative_1/label.
    """
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("negative") and row.get("label") is not None:
            grouped.setdefault(row.get("id", id(row)), []).append(row)
    k = max((len(group) for group in grouped.values()), default=0)
    columns: dict[str, list[Any]] = {"anchor": [], "positive": [],
                                     **{f"negative_{i + 1}": [] for i in range(k)}, "label": []}
    for group in grouped.values():
        columns["anchor"].append(group[0]["query"])
        columns["positive"].append(group[0]["positive"])
        labels = []
        for i in range(k):
            row = group[i % len(group)]
            columns[f"negative_{i + 1}"].append(row["negative"])
            labels.append(float(row["label"]))
        columns["label"].append(labels)
    return columns


def listed(row: dict[str, Any]) -> list[tuple[str, float]]:
    """A row's (passage, label) list from `teacher.listwise_candidates: all` (empty when it has none); the
    columns may come back from a parquet artifact as arrays."""
    texts = row.get("listwise_negatives")
    if texts is None:
        return []
    return [(str(text), float(label)) for text, label in zip(texts, row["listwise_labels"])]


def listwise_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as `distillation_columns` reads them, from each pair's listed candidates (`teacher.listwise_candidates:
    all`: unchecked, each with its label) instead of its checked negatives.

        >>> listwise_rows([{"id": 1, "query": "q", "positive": "p", "listwise_negatives": ["n1", "n2"],
        ...                 "listwise_labels": [0.2, -0.1]}])[1]
        {'id': 1, 'query': 'q', 'positive': 'p', 'negative': 'n2', 'label': -0.1}
    """
    return [{"id": row.get("id"), "query": row["query"], "positive": row["positive"], "negative": text, "label": label}
            for row in rows for text, label in listed(row)]


def one_row_per_query(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each pair id: teacher labelling gives a pair several rows (one per negative)."""
    seen: set[Any] = set()
    out = []
    for row in rows:
        key = row.get("id", id(row))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def frozen_copy(model: SentenceTransformer) -> SentenceTransformer:
    """A copy of `model` as it is now, in eval mode and without gradients: the guide of `in_batch_guide: base`."""
    import copy

    guide = copy.deepcopy(model)
    guide.eval()
    for parameter in guide.parameters():
        parameter.requires_grad_(False)
    return guide


def scaled_dot_score(a: Any, b: Any, scale: float = 1.0) -> Any:
    """`scale` x the row-wise dot product (cosine for normalised embeddings): MarginMSELoss's similarity
    under `training.margin_mse_scale`."""
    from sentence_transformers.util import pairwise_dot_score

    return scale * pairwise_dot_score(a, b)


def build_datasets_and_losses(model: SentenceTransformer, train: Sequence[dict[str, Any]], model_config: ModelConfig,
                              config: TrainingConfig, batch_size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Named datasets and their losses (each wrapped in MatryoshkaLoss) for `config.loss`.

    mnrl: CachedMultipleNegativesRankingLoss on one row per query (GradCache: large in-batch negatives at
    fixed memory). margin_mse: MarginMSELoss on every teacher-labelled row. distill_kl: DistillKLDivLoss on the
    same rows, one per query (`listwise_labels`). Both: the two datasets take turns batch by batch
    (sentence-transformers' multi-dataset training)."""
    from datasets import Dataset
    from sentence_transformers.losses import (
        CachedGISTEmbedLoss,
        CachedMultipleNegativesRankingLoss,
        DistillKLDivLoss,
        MarginMSELoss,
        MatryoshkaLoss,
    )

    datasets: dict[str, Any] = {}
    losses: dict[str, Any] = {}
    if "mnrl" in config.loss:
        datasets["mnrl"] = Dataset.from_dict(
            training_columns(train, config.use_negatives, config.seed, config.mnrl_negatives))
        mini_batch_size = min(config.mini_batch_size, batch_size)
        if config.in_batch_guide == "base":  # GISTEmbed: the base's view masks likely false negatives
            inner = CachedGISTEmbedLoss(model, frozen_copy(model), temperature=1 / MNRL_SCALE,
                                        mini_batch_size=mini_batch_size, contrast_anchors=False, contrast_positives=False)
        else:
            inner = CachedMultipleNegativesRankingLoss(model, scale=MNRL_SCALE, mini_batch_size=mini_batch_size)
        losses["mnrl"] = MatryoshkaLoss(model, inner, matryoshka_dims=model_config.matryoshka_dims)
    if "margin_mse" in config.loss:
        columns = distillation_columns(train)
        if len(columns["label"]) < 2:
            raise EmbedtuneError(f"training.loss {config.loss} needs teacher-labelled rows; found "
                                 f"{len(columns['label'])} (is teacher.kind set, and did it keep any negative?)")
        scale = config.margin_mse_scale  # both sides scaled: the squared error weighs scale**2
        columns["label"] = [[scale * margin for margin in margins] for margins in columns["label"]]
        datasets["margin_mse"] = Dataset.from_dict(columns)
        similarity = functools.partial(scaled_dot_score, scale=scale)
        losses["margin_mse"] = MatryoshkaLoss(model, MarginMSELoss(model, similarity_fct=similarity),
                                              matryoshka_dims=model_config.matryoshka_dims)
    if "distill_kl" in config.loss:
        columns = distillation_columns(listwise_rows(train) if any(listed(row) for row in train) else train)
        if len(columns["label"]) < 2:
            raise EmbedtuneError(f"training.loss {config.loss} needs teacher-labelled rows; found "
                                 f"{len(columns['label'])} (is teacher.kind set, and did it keep any negative?)")
        columns["label"] = listwise_labels(columns["label"], config.distill_kl_scale)
        datasets["distill_kl"] = Dataset.from_dict(columns)
        similarity = functools.partial(scaled_dot_score, scale=config.distill_kl_scale)
        losses["distill_kl"] = MatryoshkaLoss(model, DistillKLDivLoss(model, similarity_fct=similarity),
                                              matryoshka_dims=model_config.matryoshka_dims)
    return datasets, losses


def listwise_labels(margins: Sequence[Sequence[float]], scale: float) -> list[list[float]]:
    """Teacher logits over (positive, negative_1..k) for DistillKLDivLoss, from the margins score(q, pos) -
    score(q, neg_i) in the student's cosine units: [0, -m_1, ..., -m_k] x `scale` (a softmax only sees
    differences, so the positive's own score is not needed).

        >>> listwise_labels([[0.1, 0.2]], scale=20.0)
        [[0.0, -2.0, -4.0]]
    """
    return [[0.0, *(-scale * margin for margin in row)] for row in margins]
