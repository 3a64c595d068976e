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
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError
from embedtune.config import CurationConfig
from embedtune.curation.records import (
    CORRECTED_QUERY,
    GUIDELINES,
    HEADINGS,
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


def find_workspace(client: rg.Argilla, config: CurationConfig) -> rg.Workspace:
    """`curation.workspace` by name, else the user's first workspace; a clear error when there is none."""
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
            _headings_property(client),
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


def _headings_property(client: rg.Argilla) -> rg.TermsMetadataProperty:
    import argilla as rg

    return rg.TermsMetadataProperty(name=HEADINGS, title="Section (the passage's heading path)", client=client)


def add_headings_property(client: rg.Argilla, dataset: rg.Dataset) -> None:
    """Give a dataset created before records carried heading paths its `headings` metadata property (Argilla
    lets metadata properties, unlike fields, be added to a published dataset). If the server refuses, a
    warning says so and records are pushed without it (`record_metadata`)."""
    from argilla._exceptions import ArgillaError

    if HEADINGS in {prop.name for prop in dataset.settings.metadata}:
        return
    prop = _headings_property(client)
    try:
        prop.dataset = dataset
        prop.create()
        dataset.settings.metadata.add(prop)
        logger.info("added the '%s' metadata property to Argilla dataset '%s'", HEADINGS, dataset.name)
    except ArgillaError as error:
        logger.warning(
            "Argilla dataset '%s' has no '%s' metadata property and could not get one (%s): records are pushed "
            "without their heading paths", dataset.name, HEADINGS, type(error).__name__,
        )


def record_metadata(metadata: Mapping[str, Any], dataset: rg.Dataset) -> dict[str, Any]:
    """`metadata` without the keys `dataset` defines no property for (unless it allows extra metadata), so a
    dataset created by an older embedtune accepts records carrying newer metadata."""
    if dataset.settings.allow_extra_metadata:
        return dict(metadata)
    known = {prop.name for prop in dataset.settings.metadata}
    return {key: value for key, value in metadata.items() if key in known}


def find_dataset(client: rg.Argilla, config: CurationConfig) -> rg.Dataset | None:
    workspace = find_workspace(client, config)
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
        add_headings_property(client, dataset)
        return dataset
    workspace = find_workspace(client, config)
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
        metadata=record_metadata(record["metadata"], dataset),
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
