"""`generation.engine: ray`: the pipeline of `embedtune.generation.distilabel_pipeline` run by distilabel's
`RayPipeline` on a Ray cluster, the generation step in `generation.ray.replicas` copies (Ray actors), each
with its own LLM client or its own local model.

The runner sends only the rows not yet in the run's journal, and journals every answer with its token
counts afterwards, exactly as in pipeline mode: a re-run resumes and the accounting is the same.

- Cluster: `generation.ray.address`, else `$RAY_ADDRESS`, else a local cluster started for the run (and
  stopped after it). A cluster this process was already connected to is used and left connected.
- Resources: `num_cpus` / `num_gpus` are what each replica reserves; Ray places replicas where they fit.
  distilabel gives a `vllm` replica a placement group of `tensor_parallel_size` GPUs instead.
- llama.cpp: each replica loads the GGUF itself (Ray workers are fresh processes, not forks, so its
  OpenMP threads are safe there), from the same path on every node; with `num_cpus` set it uses that
  many threads instead of all the driver's cores.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger

if TYPE_CHECKING:
    from embedtune.config import RayOptions

RAY_EXTRA = "ray"
INSTALL_HINT = f"pip install 'embedtune[{RAY_EXTRA}]'"
LOCAL = "local"  # ray.init(address="local"): start a new cluster on this machine


def require_ray() -> None:
    """Fail with one line naming the extra to install when `ray` cannot be imported.

    Raises:
        EmbedtuneError: ray is not installed.
    """
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise EmbedtuneError(
            f"generation.engine: ray needs the ray package, which is not installed ({error}); "
            f"install the extra: {INSTALL_HINT} (or `make install EXTRAS=...,{RAY_EXTRA}`)"
        ) from None


def ray_address(options: RayOptions) -> str:
    """The cluster to connect to.

    Args:
        options: `generation.ray`.

    Returns:
        `options.address`, else `$RAY_ADDRESS`, else "local" (Ray starts a cluster on this machine).
    """
    return options.address or os.environ.get("RAY_ADDRESS") or LOCAL


def replica_resources(options: RayOptions) -> Any:
    """distilabel's `StepResources` for the generation step: `replicas`, and `num_cpus` / `num_gpus` each.

    distilabel declares cpus and gpus as whole numbers, but hands them to Ray as they are, and Ray takes
    fractions (two replicas sharing a GPU: `num_gpus: 0.5`), so the values are set without its check (a
    fraction then only draws a pydantic serializer warning when distilabel writes the pipeline's signature).

    Args:
        options: `generation.ray`.

    Returns:
        A `distilabel.steps.StepResources`.
    """
    from distilabel.steps import StepResources

    def amount(value: float | None) -> float | int | None:  # whole numbers as int: what distilabel declares
        return int(value) if value is not None and float(value).is_integer() else value

    return StepResources.model_construct(
        replicas=options.replicas, cpus=amount(options.num_cpus), gpus=amount(options.num_gpus), memory=None,
        resources=None,
    )


def fit_llm_to_replica(llm: Any, options: RayOptions) -> None:
    """Give a llama.cpp LLM as many threads as a replica reserves CPUs (when `num_cpus` is set), instead of
    every core of the submitting machine; other LLMs are left as they are.

    Args:
        llm: the distilabel LLM, not yet loaded (each replica loads its own copy).
        options: `generation.ray`.
    """
    extra = getattr(llm, "extra_kwargs", None)
    if options.num_cpus and isinstance(extra, dict) and "n_threads" in extra:
        threads = max(1, int(options.num_cpus))
        llm.extra_kwargs = {**extra, "n_threads": threads, "n_threads_batch": threads}


def to_ray(pipeline: Any, options: RayOptions) -> tuple[Any, bool]:
    """`pipeline` (a distilabel `Pipeline`, steps added) as a `RayPipeline` on the configured cluster.

    Args:
        pipeline: the local pipeline; its steps' resources are already set (`replica_resources`).
        options: `generation.ray`.

    Returns:
        (the `RayPipeline`, whether the caller must `ray.shutdown()` after the run: True when this process
        was not connected to Ray before, so the connection, and a local cluster started for the run, end
        with it).

    Raises:
        EmbedtuneError: ray is not installed.
    """
    require_ray()
    import ray

    if ray.is_initialized():  # distilabel then uses the existing connection as it is
        logger.info("generation on Ray: using this process's existing Ray connection")
        return pipeline.ray(), False
    address = ray_address(options)
    if address == LOCAL:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from a throwaway cluster
    logger.info("generation on Ray: %d replicas on %s (cpus %s, gpus %s each)", options.replicas,
                "a local cluster started for this run" if address == LOCAL else address,
                options.num_cpus, options.num_gpus)
    return pipeline.ray(ray_init_kwargs={"address": address}), True


def shutdown() -> None:
    """Disconnect from Ray (and stop a local cluster started for the run); best effort."""
    try:
        import ray

        ray.shutdown()
    except Exception as error:  # noqa: BLE001 - the answers are already journalled
        logger.debug("ray.shutdown failed: %s", error)
