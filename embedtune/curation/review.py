"""The review round trip, as the steps and `curate` use it: push pairs, pull reviews, report progress.

1. `push_pairs`: training triplets -> Argilla records (with the base model's query vectors), skipped with a
   warning when Argilla is not configured.
2. `curate_pairs`: the reviewers' answers -> training rows (accepted, corrected; rejected dropped).
3. `status`: completed / pending records and submitted / discarded responses per dataset.
The Argilla client calls are in `embedtune.curation.argilla`, the record format in `embedtune.curation.records`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from embedtune import EmbedtuneError
from embedtune.config import CurationConfig, ModelConfig
from embedtune.curation.argilla import (
    ArgillaUnavailable,
    connect,
    ensure_dataset,
    fetch_reviews,
    not_configured_message,
    progress,
    push_records,
    resolve_connection,
)

logger = logging.getLogger(__name__)


def _artifact_hint(artifact: str) -> str:
    return f"the pairs are safe in the ZenML artifact '{artifact}'"


def push_pairs(
    pairs: Sequence[Mapping[str, Any]],
    chunks: Sequence[Mapping[str, Any]],
    config: CurationConfig,
    model_config: ModelConfig,
) -> dict[str, Any]:
    """Push `training_triplets` rows to Argilla for review. Not configured: skipped (a warning says so)."""
    from embedtune.curation.records import pair_to_record
    from embedtune.models.encoding import encode, model_prompts
    from embedtune.models.loading import load_base_model

    connection = resolve_connection(config)
    if connection is None:
        message = not_configured_message(config)
        logger.warning("%s: skipping the push; the pairs stay unreviewed", message)
        return {"status": "skipped", "reason": message, "records": 0}
    try:
        client = connect(connection, config)
    except ArgillaUnavailable as error:
        raise ArgillaUnavailable(f"{error}; {_artifact_hint('training_triplets')}") from None
    if not pairs:
        logger.warning("no pairs to push")
        return {"status": "empty", "records": 0, "api_url": connection.api_url, "dataset": config.dataset}
    model = load_base_model(model_config)
    queries = [str(pair["query"]) for pair in pairs]
    vectors = encode(model, queries, model_prompts(model)[0])
    tokenizer = model.tokenizer
    token_counts = [len(ids) for ids in tokenizer(queries, add_special_tokens=False)["input_ids"]]
    chunk_by_id = {chunk["chunk_id"]: chunk for chunk in chunks}
    scorer = f"{Path(model_config.base_model).name} cosine"
    records = [
        pair_to_record(
            pair, chunk_by_id.get(pair.get("positive_id")), tokens, vector.tolist(), config.relevance_threshold, scorer
        )
        for pair, tokens, vector in zip(pairs, token_counts, vectors)
    ]
    dataset = ensure_dataset(client, config, int(vectors.shape[1]))
    counts = push_records(client, dataset, records, config.batch_size)
    logger.info(
        "pushed %d pairs to Argilla dataset '%s' at %s: %d new, %d updated (%.1f records/s)",
        counts["records"],
        dataset.name,
        connection.api_url,
        counts["created"],
        counts["updated"],
        counts["records_per_second"] or 0.0,
    )
    return {
        "status": "pushed",
        "api_url": connection.api_url,
        "dataset": dataset.name,
        "workspace": dataset.workspace.name,
        **counts,
    }


def curate_pairs(
    pairs: Sequence[Mapping[str, Any]], config: CurationConfig
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pairs after human review, and the counts of every decision. Not configured: unreviewed, with a warning."""
    from embedtune.curation.records import apply_reviews, unreviewed

    connection = resolve_connection(config)
    if connection is None:
        message = not_configured_message(config)
        logger.warning("%s: training on the %d UNREVIEWED pairs", message, len(pairs))
        return unreviewed(pairs), {"reviewed": False, "reason": message, "pairs": len(pairs)}
    try:
        client = connect(connection, config)
    except ArgillaUnavailable as error:
        raise ArgillaUnavailable(
            f"{error}; {_artifact_hint('training_triplets')} (`python run.py finetune` without --curated trains "
            "on them unreviewed)"
        ) from None
    reviews = fetch_reviews(client, config)
    rows, counts = apply_reviews(pairs, reviews, config.include_pending)
    metadata = {
        "reviewed": True,
        "api_url": connection.api_url,
        "dataset": config.dataset,
        "include_pending": config.include_pending,
        "pairs_in": len(pairs),
        "pairs_out": len(rows),
        "records_in_argilla": len(reviews),
        "decisions": dict(counts),
    }
    logger.info(
        "curated pairs from Argilla '%s': %d of %d kept; %s", config.dataset, len(rows), len(pairs), dict(counts)
    )
    if not rows:
        raise EmbedtuneError(
            f"no reviewed pairs to train on in Argilla dataset '{config.dataset}' ({dict(counts)}): submit reviews "
            f"at {connection.api_url}, or set curation.include_pending: true to also train on unreviewed pairs"
        )
    return rows, metadata


def format_progress(rows: Sequence[Mapping[str, Any]], api_url: str) -> str:
    if not rows:
        return f"no datasets at {api_url} (push some: python run.py curate push)"
    columns = ("records", "completed", "pending", "submitted", "discarded", "draft")
    lines = [f"Argilla at {api_url}", f"{'dataset':<28} " + " ".join(f"{name:>9}" for name in columns)]
    for row in rows:
        name = f"{row['workspace']}/{row['dataset']}" + (" *" if row["configured"] else "")
        lines.append(f"{name:<28} " + " ".join(f"{row[column]:>9}" for column in columns))
    lines.append("(* = curation.dataset; submitted/discarded/draft count responses, completed/pending count records)")
    return "\n".join(lines)


def status(config: CurationConfig) -> str:
    connection = resolve_connection(config)
    if connection is None:
        raise EmbedtuneError(not_configured_message(config))
    return format_progress(progress(connect(connection, config), config), connection.api_url)
