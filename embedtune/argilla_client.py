"""Argilla 2.8 SDK calls for curation: connection, dataset settings, batched upserts, reading reviews back.

The mapping (pairs <-> record dicts, reviews -> training rows) is plain data in `embedtune.curation`. The API key
comes from an environment variable (named by `curation.api_key_env`) or a ZenML secret, and never appears in
logs, errors, artifacts or reprs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError
from embedtune.config import CurationConfig, ModelConfig
from embedtune.curation import (
    CORRECTED_QUERY,
    GUIDELINES,
    NEGATIVE_IRRELEVANT,
    NO,
    RELEVANT,
    VECTOR,
    YES,
    Review,
    reduce_responses,
)

if TYPE_CHECKING:
    import argilla as rg

logger = logging.getLogger(__name__)

NEXT_STEP = "start it (`make argilla-up`) and run `python run.py curate push`"


class ArgillaUnavailable(EmbedtuneError):
    """Argilla is configured but cannot be reached."""


@dataclass(frozen=True)
class Connection:
    api_url: str
    api_key: str = field(repr=False)
    source: str = "environment"

    def __str__(self) -> str:
        return f"{self.api_url} (key from {self.source})"


def not_configured_message(config: CurationConfig) -> str:
    if not config.enabled:
        return "curation is disabled (curation.enabled: false)"
    return (
        f"Argilla is not configured: set ARGILLA_API_URL and {config.api_key_env} (or curation.secret_name, a ZenML "
        "secret with api_url and api_key); `make argilla-up` starts a local server"
    )


def _secret_values(name: str) -> dict[str, str]:
    from zenml.client import Client

    try:
        secret = Client().get_secret(name)
    except KeyError:
        raise EmbedtuneError(
            f"ZenML secret '{name}' (curation.secret_name) not found: create it with "
            f"`zenml secret create {name} --api_url=... --api_key=...`"
        ) from None
    return {key: str(value) for key, value in secret.secret_values.items() if value}


def resolve_connection(config: CurationConfig, environ: Mapping[str, str] | None = None) -> Connection | None:
    """URL: config, then env ARGILLA_API_URL, then the ZenML secret; key: env, then the secret. None: not configured."""
    if not config.enabled:
        return None
    environ = os.environ if environ is None else environ
    url = config.api_url or environ.get("ARGILLA_API_URL")
    key = environ.get(config.api_key_env)
    source = f"${config.api_key_env}"
    if (not url or not key) and config.secret_name:
        values = _secret_values(config.secret_name)
        url = url or values.get("api_url")
        if not key and values.get("api_key"):
            key, source = values["api_key"], f"ZenML secret '{config.secret_name}'"
    if not url or not key:
        return None
    return Connection(api_url=url.rstrip("/"), api_key=key, source=source)


def connect(connection: Connection, config: CurationConfig) -> rg.Argilla:
    """A logged-in client, or an EmbedtuneError saying what is wrong (unreachable, bad key) without the key."""
    import argilla as rg
    import httpx
    from argilla._exceptions import ArgillaCredentialsError, ArgillaError

    try:
        return rg.Argilla(api_url=connection.api_url, api_key=connection.api_key, timeout=config.timeout_s, retries=2)
    except ArgillaCredentialsError:
        raise EmbedtuneError(
            f"Argilla at {connection.api_url} rejected the API key from {connection.source}: check it "
            "(for `make argilla-up`: `export ARGILLA_API_KEY=$(cat .argilla/api_key)`)"
        ) from None
    except (httpx.HTTPError, ArgillaError, OSError) as error:
        raise ArgillaUnavailable(
            f"Argilla at {connection.api_url} is unreachable ({type(error).__name__}): {NEXT_STEP}"
        ) from None


def _workspace(client: rg.Argilla, config: CurationConfig) -> rg.Workspace:
    if config.workspace:
        workspace = client.workspaces(name=config.workspace)
        if workspace is None:
            raise EmbedtuneError(f"Argilla workspace '{config.workspace}' not found (curation.workspace)")
        return workspace
    workspaces = list(client.workspaces)  # the user's own (GET /me/workspaces)
    if not workspaces:
        raise EmbedtuneError("this Argilla user has no workspace: create one or set curation.workspace")
    return workspaces[0]


def dataset_settings(client: rg.Argilla, config: CurationConfig, vector_dimensions: int) -> rg.Settings:
    import argilla as rg

    yes_no = {YES: "yes", NO: "no"}
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[
            rg.TextField(name="query", title="Query", client=client),
            rg.TextField(name="positive", title="Passage (the query was written for it)", client=client),
            rg.TextField(
                name="negative", title="Hard negative (should NOT answer the query)", required=False, client=client
            ),
        ],
        questions=[
            rg.LabelQuestion(
                name=RELEVANT,
                title="Is the passage relevant to the query?",
                labels=yes_no,
                required=True,
                client=client,
            ),
            rg.LabelQuestion(
                name=NEGATIVE_IRRELEVANT,
                title="Is the negative really irrelevant?",
                labels=yes_no,
                required=False,
                client=client,
            ),
            rg.TextQuestion(name=CORRECTED_QUERY, title="Corrected query (optional)", required=False, client=client),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="source", title="Source document", client=client),
            rg.TermsMetadataProperty(name="chunk_id", title="Chunk id", client=client),
            rg.TermsMetadataProperty(name="negative_chunk_id", title="Negative chunk id", client=client),
            rg.TermsMetadataProperty(name="generator", title="Generator model", client=client),
            rg.TermsMetadataProperty(name="style", title="Query style", client=client),
            rg.FloatMetadataProperty(
                name="positive_score", title="Base model: query-passage similarity", client=client
            ),
            rg.FloatMetadataProperty(
                name="negative_score", title="Base model: query-negative similarity", client=client
            ),
            rg.IntegerMetadataProperty(name="query_tokens", title="Query tokens", client=client),
            rg.IntegerMetadataProperty(name="passage_tokens", title="Passage tokens", client=client),
        ],
        vectors=[
            rg.VectorField(
                name=VECTOR, dimensions=vector_dimensions, title="Query embedding (base model)", _client=client
            )
        ],
        distribution=rg.TaskDistribution(min_submitted=config.min_submitted),
    )


def find_dataset(client: rg.Argilla, config: CurationConfig) -> rg.Dataset | None:
    workspace = _workspace(client, config)
    for dataset in workspace.datasets:
        if dataset.name == config.dataset:
            return dataset.get()  # with its settings (fields, questions, vectors)
    return None


def ensure_dataset(client: rg.Argilla, config: CurationConfig, vector_dimensions: int) -> rg.Dataset:
    import argilla as rg

    dataset = find_dataset(client, config)
    if dataset is not None:
        existing = {vector.name: vector.dimensions for vector in dataset.settings.vectors}
        if existing.get(VECTOR) not in (None, vector_dimensions):
            raise EmbedtuneError(
                f"Argilla dataset '{config.dataset}' holds {existing[VECTOR]}-dim query embeddings but the base "
                f"model gives {vector_dimensions}: set curation.dataset to a new name"
            )
        return dataset
    workspace = _workspace(client, config)
    dataset = rg.Dataset(
        name=config.dataset,
        workspace=workspace,
        settings=dataset_settings(client, config, vector_dimensions),
        client=client,
    )
    logger.info("creating Argilla dataset '%s' in workspace '%s'", config.dataset, workspace.name)
    return dataset.create()


def _to_sdk_record(record: Mapping[str, Any], dataset: rg.Dataset) -> Any:
    import argilla as rg

    sdk_record = rg.Record(
        id=record["id"],
        fields=record["fields"],
        metadata=record["metadata"],
        vectors=record["vectors"] or None,
        suggestions=[rg.Suggestion(**suggestion) for suggestion in record["suggestions"]],
    )
    sdk_record.dataset = dataset
    return sdk_record.api_model()


def push_records(
    client: rg.Argilla, dataset: rg.Dataset, records: Sequence[Mapping[str, Any]], batch_size: int
) -> dict[str, Any]:
    """Upsert by record id, in batches, with a progress bar; counts of created and updated records.

    (The server's bulk endpoint does not return which ids were updates, so the counts come from the dataset's
    record total before and after.)"""
    from tqdm.auto import tqdm

    before = int(dataset.progress().get("total", 0))
    started = time.perf_counter()
    with tqdm(total=len(records), unit="record", desc=f"Pushing to Argilla '{dataset.name}'") as bar:
        for start in range(0, len(records), batch_size):
            batch = [_to_sdk_record(record, dataset) for record in records[start : start + batch_size]]
            client.api.records.bulk_upsert(dataset_id=dataset.id, records=batch)
            bar.update(len(batch))
    seconds = time.perf_counter() - started
    created = int(dataset.progress().get("total", 0)) - before
    updated = len(records) - created
    return {
        "records": len(records),
        "created": created,
        "updated": updated,
        "seconds": round(seconds, 2),
        "records_per_second": round(len(records) / seconds, 1) if seconds > 0 else None,
    }


def fetch_reviews(client: rg.Argilla, config: CurationConfig, page_size: int = 500) -> dict[str, Review]:
    """Every record's review, keyed by record id (= pair id). Needs an owner/admin key (annotators get 403)."""
    from argilla._exceptions import ArgillaError, ForbiddenError

    dataset = find_dataset(client, config)
    if dataset is None:
        raise EmbedtuneError(
            f"no Argilla dataset '{config.dataset}' at {client.api_url}: push the pairs first (`python run.py curate push`)"
        )
    try:
        usernames = {user.id: user.username for user in client.users}
    except ArgillaError:  # listing users is for owners; an admin's pull names annotators by id
        usernames = {}
    reviews: dict[str, Review] = {}
    offset = 0
    while True:
        try:
            page = client.api.records.list(
                dataset_id=dataset.id, offset=offset, limit=page_size, with_suggestions=False, with_responses=True
            )
        except ForbiddenError:
            raise EmbedtuneError(
                "this Argilla API key may not read all responses: pulling needs an owner or admin user's key"
            ) from None
        for model in page:
            responses = [
                {
                    "user": usernames.get(response.user_id, str(response.user_id)),
                    "status": str(response.status.value if hasattr(response.status, "value") else response.status),
                    "values": {name: (value or {}).get("value") for name, value in (response.values or {}).items()},
                }
                for response in model.responses or []
            ]
            reviews[str(model.external_id)] = reduce_responses(str(model.external_id), responses)
        if len(page) < page_size:
            return reviews
        offset += page_size


def progress(client: rg.Argilla, config: CurationConfig) -> list[dict[str, Any]]:
    """Per dataset: records total / completed / pending, and responses submitted / discarded / draft."""
    rows = []
    for dataset in client.datasets:
        summary = dataset.progress(with_users_distribution=True)
        responses = {"submitted": 0, "discarded": 0, "draft": 0}
        for user in summary.get("users", {}).values():
            for part in ("completed", "pending"):
                for status in responses:
                    responses[status] += int((user.get(part) or {}).get(status) or 0)
        rows.append(
            {
                "dataset": dataset.name,
                "workspace": dataset.workspace.name,
                "records": summary.get("total", 0),
                "completed": summary.get("completed", 0),
                "pending": summary.get("pending", 0),
                **responses,
                "configured": dataset.name == config.dataset,
            }
        )
    return rows


def _artifact_hint(artifact: str) -> str:
    return f"the pairs are safe in the ZenML artifact '{artifact}'"


def push_pairs(
    pairs: Sequence[Mapping[str, Any]],
    chunks: Sequence[Mapping[str, Any]],
    config: CurationConfig,
    model_config: ModelConfig,
) -> dict[str, Any]:
    """Push `training_triplets` rows to Argilla for review. Not configured: skipped (a warning says so)."""
    from embedtune.curation import pair_to_record
    from embedtune.models import load_embedder
    from embedtune.retrieval import encode

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
    model = load_embedder(model_config.base_model, model_config.max_seq_length)
    queries = [str(pair["query"]) for pair in pairs]
    vectors = encode(model, queries, model_config.query_prompt)
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
    from embedtune.curation import apply_reviews, unreviewed

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
