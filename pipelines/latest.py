"""The artifacts a follow-up pipeline (finetune, curate push, compare) starts from: the named outputs of the
newest pipeline run that produced them, not the newest artifact versions of those names.

Why: with content-hashed artifacts a run over documents seen before is served from ZenML's cache, and its
steps hand on the *older* artifact versions. "The newest `training_triplets` version" would then be the
pairs of whatever other corpus was generated in between; the newest run that produced the name (cached
steps included) is the one the user just ran, and its `chunks` belong to the same documents.
"""

from __future__ import annotations

from typing import Any

from zenml.client import Client

_MAX_RUNS = 200  # how far back to look before falling back to the newest versions by name


def latest_run_outputs(*names: str, client: Client | None = None) -> list[Any]:
    """The artifact versions named `names`, all from the newest pipeline run whose steps (run or cached)
    output or read every one of them (outputs first).

    Args:
        names: output names, e.g. ``"training_triplets", "chunks"``.
        client: a ZenML client (default: ``Client()``).

    Returns:
        One artifact version per name, in order. Without any such run: the newest version of each name
        (``Client.get_artifact_version``, which raises ``KeyError`` when there is none).

    Example::

        triplets, chunks = latest_run_outputs("training_triplets", "chunks")
    """
    client = client or Client()
    wanted = set(names)
    page, seen = 1, 0
    while seen < _MAX_RUNS:
        runs = client.list_pipeline_runs(sort_by="desc:created", page=page, size=20)
        for run in runs.items:
            seen += 1
            found = _outputs(run, wanted)
            if len(found) == len(wanted):
                return [found[name] for name in names]
        if page >= runs.total_pages:
            break
        page += 1
    return [client.get_artifact_version(name) for name in names]


def _outputs(run: Any, wanted: set[str]) -> dict[str, Any]:
    """The run's artifact versions by artifact name: what its steps output, then what they read (a
    `finetune` run reads `chunks` and outputs `test`, and `compare` needs both of that one run)."""
    found: dict[str, Any] = {}
    steps = list(run.steps.values())
    for side in ("outputs", "inputs"):
        for step in steps:
            for versions in getattr(step, side).values():
                for version in versions if isinstance(versions, list) else [versions]:
                    name = getattr(version, "name", None)
                    if name in wanted:
                        found.setdefault(name, version)
    return found
